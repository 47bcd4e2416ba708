//! How previews of a project are made: the `preview:` section of `astro-deploy.yaml`, and the
//! overrides it applies to the copy of the base Deployment.
//!
//! Previews are cheap by default: development mode on, high availability off, the smallest
//! scheduler. Everything else is copied from the base, so a preview runs what production runs.

use std::collections::BTreeMap;
use std::time::Duration;

use astro_api::models::SchedulerSize;
use serde::{Deserialize, Serialize};

use crate::pipeline::Target;

/// The `preview:` section of a project.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PreviewConfig {
    /// The Deployment previews copy; give this or `base-deployment-name`.
    pub base_deployment_id: Option<String>,
    pub base_deployment_name: Option<String>,
    /// Narrows `base-deployment-name` when names repeat across Workspaces.
    pub workspace_id: Option<String>,
    /// Default: on, so a preview can hibernate.
    pub development_mode: Option<bool>,
    /// When a development-mode preview sleeps (cron, UTC).
    #[serde(default)]
    pub hibernation: Vec<HibernationWindow>,
    /// `SMALL`, `MEDIUM`, `LARGE` or `EXTRA_LARGE`. Default: `SMALL`.
    pub scheduler_size: Option<String>,
    /// The most workers any worker queue of a preview may run.
    pub max_workers: Option<u32>,
    /// Extra environment variables; they win over the base's variables of the same key.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    #[serde(default)]
    pub copy_connections: bool,
    #[serde(default)]
    pub copy_variables: bool,
    #[serde(default)]
    pub copy_pools: bool,
    /// `preview deploy` creates the preview when it does not exist yet. Default: true.
    pub create_on_deploy: Option<bool>,
    /// `gc` deletes previews older than this, whatever their branch: `36h`, `14d`.
    pub ttl: Option<String>,
}

/// One hibernation schedule of a preview.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct HibernationWindow {
    pub hibernate_at: String,
    pub wake_at: String,
    pub description: Option<String>,
}

/// What a preview changes from its base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewOverrides {
    pub development_mode: bool,
    pub high_availability: bool,
    pub scheduler_size: SchedulerSize,
    pub max_workers: Option<u32>,
    pub hibernation: Vec<HibernationWindow>,
    pub environment: BTreeMap<String, String>,
}

impl Default for PreviewOverrides {
    fn default() -> Self {
        Self {
            development_mode: true,
            high_availability: false,
            scheduler_size: SchedulerSize::Small,
            max_workers: None,
            hibernation: Vec::new(),
            environment: BTreeMap::new(),
        }
    }
}

impl PreviewConfig {
    /// Checks what serde cannot: one base, known sizes, a TTL that parses, schedules that
    /// Astro accepts (only development-mode Deployments hibernate).
    pub fn check(&self) -> Result<(), String> {
        if self.base_deployment_id.is_some() && self.base_deployment_name.is_some() {
            return Err("give `base-deployment-id` or `base-deployment-name`, not both".into());
        }
        if let Some(size) = &self.scheduler_size {
            scheduler_size(size)?;
        }
        if let Some(ttl) = &self.ttl {
            parse_ttl(ttl)?;
        }
        if !self.hibernation.is_empty() && self.development_mode == Some(false) {
            return Err("`hibernation` needs `development-mode: true`".into());
        }
        if self.max_workers == Some(0) {
            return Err("`max-workers` must be at least 1".into());
        }
        Ok(())
    }

    /// The base Deployment, when the section names one.
    pub fn base(&self) -> Option<Target> {
        match (&self.base_deployment_id, &self.base_deployment_name) {
            (Some(id), _) => Some(Target::Id(id.clone())),
            (None, Some(name)) => Some(Target::Name {
                name: name.clone(),
                workspace_id: self.workspace_id.clone(),
            }),
            (None, None) => None,
        }
    }

    /// The overrides this section asks for, on top of the cheap defaults.
    pub fn overrides(&self) -> PreviewOverrides {
        let defaults = PreviewOverrides::default();
        PreviewOverrides {
            development_mode: self.development_mode.unwrap_or(defaults.development_mode),
            high_availability: false,
            scheduler_size: self
                .scheduler_size
                .as_deref()
                .and_then(|size| scheduler_size(size).ok())
                .unwrap_or(defaults.scheduler_size),
            max_workers: self.max_workers,
            hibernation: self.hibernation.clone(),
            environment: self.environment.clone(),
        }
    }

    pub fn ttl(&self) -> Option<Duration> {
        self.ttl.as_deref().and_then(|ttl| parse_ttl(ttl).ok())
    }
}

fn scheduler_size(text: &str) -> Result<SchedulerSize, String> {
    match SchedulerSize::from(text.to_ascii_uppercase().as_str()) {
        SchedulerSize::Other(_) => Err(format!(
            "`scheduler-size: {text}` is not a size; use SMALL, MEDIUM, LARGE or EXTRA_LARGE"
        )),
        size => Ok(size),
    }
}

/// A duration as `90m`, `36h` or `14d` (or `30s`, mostly for trying `gc` out).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let invalid = || format!("`{text}` is not a duration; write it as `90m`, `36h` or `14d`");
    let text = text.trim();
    let split = text.len().checked_sub(1).ok_or_else(invalid)?;
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().map_err(|_| invalid())?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(invalid()),
    };
    if number == 0 {
        return Err(invalid());
    }
    Ok(Duration::from_secs(number * seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_in_minutes_hours_and_days() {
        assert_eq!(parse_ttl("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_ttl("36h"), Ok(Duration::from_secs(129_600)));
        assert_eq!(parse_ttl("14d"), Ok(Duration::from_secs(1_209_600)));
        assert_eq!(parse_ttl("30s"), Ok(Duration::from_secs(30)));
        for bad in ["", "d", "14", "14w", "0d", "-1d", "1.5d"] {
            assert!(parse_ttl(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_section_is_checked() {
        let both = PreviewConfig {
            base_deployment_id: Some("a".into()),
            base_deployment_name: Some("b".into()),
            ..PreviewConfig::default()
        };
        assert!(both.check().unwrap_err().contains("not both"));

        let size = PreviewConfig {
            scheduler_size: Some("tiny".into()),
            ..PreviewConfig::default()
        };
        assert!(size.check().unwrap_err().contains("SMALL"));

        let asleep = PreviewConfig {
            development_mode: Some(false),
            hibernation: vec![HibernationWindow {
                hibernate_at: "0 19 * * *".into(),
                wake_at: "0 7 * * *".into(),
                description: None,
            }],
            ..PreviewConfig::default()
        };
        assert!(asleep.check().unwrap_err().contains("development-mode"));
    }

    #[test]
    fn overrides_default_to_cheap() {
        let overrides = PreviewConfig::default().overrides();
        assert!(overrides.development_mode);
        assert!(!overrides.high_availability);
        assert_eq!(overrides.scheduler_size, SchedulerSize::Small);

        let medium = PreviewConfig {
            scheduler_size: Some("medium".into()),
            ..PreviewConfig::default()
        };
        assert_eq!(medium.overrides().scheduler_size, SchedulerSize::Medium);
    }
}
