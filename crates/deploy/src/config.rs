//! The project config file, `astro-deploy.yaml` at the repository root: the Astro projects of a
//! repository, and which Deployment each branch of each deploys to.
//!
//! ```yaml
//! version: 1
//! projects:
//!   - name: analytics
//!     root: projects/analytics
//!     targets:
//!       - branch: main
//!         deployment-id: clxyz0000000000000000000
//!       - branch: "release/*"
//!         deployment-name: analytics-staging
//!         workspace-id: clabc0000000000000000000
//!     preview:                      # optional: ephemeral previews per branch
//!       base-deployment-id: clxyz0000000000000000000
//!       development-mode: true
//!       hibernation:
//!         - hibernate-at: "0 19 * * *"
//!           wake-at: "0 7 * * 1-5"
//!       scheduler-size: SMALL
//!       max-workers: 1
//!       environment: { ENVIRONMENT: preview }
//!       copy-connections: true
//!       create-on-deploy: true
//!       ttl: 14d
//! ```
//!
//! Branch patterns: `*` matches any run of characters except `/`, `**` any run including `/`,
//! `?` one character except `/`; anything else matches itself. The first target whose pattern
//! matches a branch wins. Unknown keys are errors, so a misspelled key never silently means
//! "no target".

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::pipeline::Target;

/// The file name looked for at the repository root.
pub const FILE_NAME: &str = "astro-deploy.yaml";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    pub version: u32,
    #[serde(default)]
    pub projects: Vec<ProjectEntry>,
    /// Who may deploy where; see [`crate::policy`].
    #[serde(default)]
    pub policy: crate::policy::PolicyConfig,
}

/// One Astro project of the repository.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProjectEntry {
    pub name: String,
    /// The project folder, relative to the repository root.
    pub root: String,
    #[serde(default)]
    pub targets: Vec<TargetEntry>,
    /// Preview Deployments of this project; see [`crate::preview::settings`].
    pub preview: Option<crate::preview::settings::PreviewConfig>,
}

/// Where a branch of a project deploys.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct TargetEntry {
    /// A pattern over branch names.
    pub branch: String,
    pub deployment_id: Option<String>,
    pub deployment_name: Option<String>,
    pub workspace_id: Option<String>,
}

impl TargetEntry {
    /// The Deployment as the pipeline names it.
    pub fn target(&self) -> Target {
        match (&self.deployment_id, &self.deployment_name) {
            (Some(id), _) => Target::Id(id.clone()),
            (None, name) => Target::Name {
                name: name.clone().unwrap_or_default(),
                workspace_id: self.workspace_id.clone(),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading `{path}`")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{path}` is not a valid project config: {reason}")]
    Invalid { path: String, reason: String },
}

impl ConfigError {
    pub fn hint(&self) -> &'static str {
        match self {
            ConfigError::Read { .. } => "check the path given with --config",
            ConfigError::Invalid { .. } => {
                "see the README's \"Monorepos\" section for the file's keys"
            }
        }
    }
}

impl ProjectConfig {
    /// Reads and checks the config file at `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::parse(&text).map_err(|reason| ConfigError::Invalid {
            path: shown,
            reason,
        })
    }

    /// Parses and checks a config; the error is the reason, for [`ConfigError::Invalid`].
    pub fn parse(text: &str) -> Result<Self, String> {
        let config: ProjectConfig = serde_norway::from_str(text).map_err(|e| e.to_string())?;
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), String> {
        if self.version != 1 {
            return Err(format!(
                "`version: {}` is not supported; use `version: 1`",
                self.version
            ));
        }
        let mut names = std::collections::HashSet::new();
        for project in &self.projects {
            if project.name.trim().is_empty() {
                return Err("a project has an empty `name`".to_owned());
            }
            if !names.insert(project.name.as_str()) {
                return Err(format!("two projects are named `{}`", project.name));
            }
            if project.root.split('/').any(|part| part == "..") {
                return Err(format!(
                    "the root `{}` of project `{}` leaves the repository",
                    project.root, project.name
                ));
            }
            for target in &project.targets {
                check_target(&project.name, target)?;
            }
            if let Some(preview) = &project.preview {
                preview.check().map_err(|reason| {
                    format!("`preview` of project `{}`: {reason}", project.name)
                })?;
            }
        }
        Ok(())
    }

    /// The projects with a target for `branch`, each with the first target that matches.
    pub fn targets_for_branch<'c>(
        &'c self,
        branch: &str,
    ) -> Vec<(&'c ProjectEntry, &'c TargetEntry)> {
        self.projects
            .iter()
            .filter_map(|project| {
                let target = project
                    .targets
                    .iter()
                    .find(|t| branch_matches(&t.branch, branch))?;
                Some((project, target))
            })
            .collect()
    }
}

fn check_target(project: &str, target: &TargetEntry) -> Result<(), String> {
    match (&target.deployment_id, &target.deployment_name) {
        (Some(_), Some(_)) => Err(format!(
            "the target `{}` of project `{project}` gives both `deployment-id` and \
             `deployment-name`; give one",
            target.branch
        )),
        (None, None) => Err(format!(
            "the target `{}` of project `{project}` names no Deployment: add `deployment-id` \
             or `deployment-name`",
            target.branch
        )),
        _ => Ok(()),
    }
}

/// Whether `branch` matches the pattern (see the module docs).
pub fn branch_matches(pattern: &str, branch: &str) -> bool {
    matches_from(pattern.as_bytes(), branch.as_bytes())
}

fn matches_from(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|skip| matches_from(rest, &text[skip..])),
        [b'*', rest @ ..] => {
            let segment = text.iter().position(|&c| c == b'/').unwrap_or(text.len());
            (0..=segment).any(|skip| matches_from(rest, &text[skip..]))
        }
        [b'?', rest @ ..] => {
            matches!(text.first(), Some(&c) if c != b'/') && matches_from(rest, &text[1..])
        }
        [c, rest @ ..] => text.first() == Some(c) && matches_from(rest, &text[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
version: 1
projects:
  - name: analytics
    root: projects/analytics
    targets:
      - branch: main
        deployment-id: clprod
      - branch: "release/*"
        deployment-name: analytics-staging
        workspace-id: clws
  - name: ml
    root: ./projects/ml/
    targets:
      - branch: "**"
        deployment-id: clml
"#;

    #[test]
    fn branches_pick_the_first_matching_target_of_each_project() {
        let config = ProjectConfig::parse(EXAMPLE).unwrap();

        let main: Vec<_> = config.targets_for_branch("main");
        assert_eq!(main.len(), 2);
        assert_eq!(main[0].1.target_id(), Some("clprod"));
        assert_eq!(main[1].1.target_id(), Some("clml"));

        let release = config.targets_for_branch("release/2.1");
        assert_eq!(
            release[0].1.deployment_name.as_deref(),
            Some("analytics-staging")
        );
        assert_eq!(config.targets_for_branch("feature/x").len(), 1);
    }

    #[test]
    fn patterns_follow_the_documented_rules() {
        for (pattern, branch, expected) in [
            ("main", "main", true),
            ("main", "main2", false),
            ("release/*", "release/1.0", true),
            ("release/*", "release/1.0/hotfix", false),
            ("release/**", "release/1.0/hotfix", true),
            ("*", "feature/x", false),
            ("**", "feature/x", true),
            ("v?", "v1", true),
            ("v?", "v10", false),
            ("feat-*-x", "feat-abc-x", true),
        ] {
            assert_eq!(
                branch_matches(pattern, branch),
                expected,
                "{pattern} vs {branch}"
            );
        }
    }

    #[test]
    fn mistakes_are_named() {
        let typo = EXAMPLE.replace("deployment-id: clml", "deploymentid: clml");
        assert!(ProjectConfig::parse(&typo)
            .unwrap_err()
            .contains("unknown field `deploymentid`"));

        let both = EXAMPLE.replace(
            "deployment-id: clml",
            "deployment-id: a\n        deployment-name: b",
        );
        assert!(ProjectConfig::parse(&both)
            .unwrap_err()
            .contains("gives both"));

        let twice = EXAMPLE.replace("name: ml", "name: analytics");
        assert!(ProjectConfig::parse(&twice)
            .unwrap_err()
            .contains("two projects are named"));

        let escape = EXAMPLE.replace("root: projects/analytics", "root: ../elsewhere");
        assert!(ProjectConfig::parse(&escape)
            .unwrap_err()
            .contains("leaves the repository"));

        let version = EXAMPLE.replace("version: 1", "version: 2");
        assert!(ProjectConfig::parse(&version)
            .unwrap_err()
            .contains("use `version: 1`"));
    }

    impl TargetEntry {
        fn target_id(&self) -> Option<&str> {
            self.deployment_id.as_deref()
        }
    }
}
