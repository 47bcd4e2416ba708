//! Copying Airflow connections, variables and pools from a base Deployment to a preview,
//! through each one's Airflow REST API.
//!
//! The copy creates what the target lacks and updates what differs; it never deletes, so
//! objects made on the preview survive a re-run, and a re-run over an unchanged base changes
//! nothing. Airflow never answers connection passwords, so a copied connection arrives without
//! one (an update keeps the password the target has): the report names those connections, for
//! the caller to tell the user which secrets to set by other means.

use astro_api::airflow::{airflow_api_base, AirflowClient, AirflowConfig, Pool, Variable};
use astro_api::models::Deployment;
use astro_api::ApiToken;
use serde::Serialize;

use super::lifecycle::Preview;

/// Which kinds of objects to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CopyOptions {
    pub connections: bool,
    pub variables: bool,
    pub pools: bool,
}

impl CopyOptions {
    /// Whether anything is to be copied at all.
    pub fn any(&self) -> bool {
        self.connections || self.variables || self.pools
    }
}

/// Copies from `base` to `preview`, each through the Airflow API address Astro answers for it,
/// with the Astro API token (which Astro's Airflow API takes).
pub async fn copy_from_base(
    base: &Deployment,
    preview: &Preview,
    token: &ApiToken,
    options: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    let client = |address: Option<&str>| -> Result<AirflowClient, astro_api::Error> {
        let base_url = airflow_api_base(address.unwrap_or_default())?;
        AirflowClient::new(AirflowConfig::new(base_url, token.clone()))
    };
    let from =
        client(base.web_server_airflow_api_url.as_deref()).map_err(|source| CopyError::Base {
            kind: "API address",
            source,
        })?;
    let to = client(preview.airflow_api_url.as_deref()).map_err(|source| CopyError::Preview {
        kind: "API address",
        source,
    })?;
    copy_airflow_objects(&from, &to, options).await
}

/// What a copy did to one kind of object.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct KindReport {
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// What a copy did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CopyReport {
    pub connections: KindReport,
    pub variables: KindReport,
    pub pools: KindReport,
    /// Connections created on the target without their password, which Airflow does not
    /// answer; sorted.
    pub connections_without_password: Vec<String>,
}

impl CopyReport {
    /// Whether the copy changed anything on the target.
    pub fn changed_anything(&self) -> bool {
        [self.connections, self.variables, self.pools]
            .iter()
            .any(|kind| kind.created + kind.updated > 0)
    }
}

/// Where a copy failed.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("reading the base Deployment's Airflow {kind}")]
    Base {
        kind: &'static str,
        #[source]
        source: astro_api::Error,
    },

    #[error("copying Airflow {kind} to the preview Deployment")]
    Preview {
        kind: &'static str,
        #[source]
        source: astro_api::Error,
    },
}

impl CopyError {
    /// What the user should check, from the API error underneath.
    pub fn hint(&self) -> Option<String> {
        match self {
            CopyError::Base { source, .. } | CopyError::Preview { source, .. } => source.hint(),
        }
    }
}

/// Copies the chosen kinds from `from` to `to`: creates what is missing, updates what
/// differs, deletes nothing.
pub async fn copy_airflow_objects(
    from: &AirflowClient,
    to: &AirflowClient,
    options: &CopyOptions,
) -> Result<CopyReport, CopyError> {
    let mut report = CopyReport::default();

    if options.connections {
        copy_connections(from, to, &mut report).await?;
    }
    if options.variables {
        report.variables = copy_variables(from, to).await?;
    }
    if options.pools {
        report.pools = copy_pools(from, to).await?;
    }

    report.connections_without_password.sort();
    tracing::debug!(?report, "copied Airflow objects");
    Ok(report)
}

async fn copy_connections(
    from: &AirflowClient,
    to: &AirflowClient,
    report: &mut CopyReport,
) -> Result<(), CopyError> {
    let read = |source| CopyError::Base {
        kind: "connections",
        source,
    };
    let write = |source| CopyError::Preview {
        kind: "connections",
        source,
    };

    // Lists leave `extra` out, so each connection is read on its own, on both sides.
    let existing = to.list_connections().await.map_err(write)?;
    for summary in from.list_connections().await.map_err(read)? {
        let id = &summary.connection_id;
        let wanted = from.get_connection(id).await.map_err(read)?;

        if !existing.iter().any(|c| &c.connection_id == id) {
            to.create_connection(&wanted, None).await.map_err(write)?;
            report.connections.created += 1;
            report.connections_without_password.push(id.clone());
            continue;
        }
        let current = to.get_connection(id).await.map_err(write)?;
        if current == wanted {
            report.connections.unchanged += 1;
        } else {
            // Sent without a password, the update keeps the one the target has.
            to.update_connection(&wanted, None).await.map_err(write)?;
            report.connections.updated += 1;
        }
    }
    Ok(())
}

async fn copy_variables(from: &AirflowClient, to: &AirflowClient) -> Result<KindReport, CopyError> {
    let read = |source| CopyError::Base {
        kind: "variables",
        source,
    };
    let write = |source| CopyError::Preview {
        kind: "variables",
        source,
    };
    let mut report = KindReport::default();

    // Lists leave values out, so each variable is read on its own, on both sides.
    let existing = to.list_variables().await.map_err(write)?;
    for summary in from.list_variables().await.map_err(read)? {
        let wanted: Variable = from.get_variable(&summary.key).await.map_err(read)?;

        if !existing.iter().any(|v| v.key == summary.key) {
            to.create_variable(&wanted).await.map_err(write)?;
            report.created += 1;
            continue;
        }
        let current = to.get_variable(&summary.key).await.map_err(write)?;
        if current == wanted {
            report.unchanged += 1;
        } else {
            to.update_variable(&wanted).await.map_err(write)?;
            report.updated += 1;
        }
    }
    Ok(report)
}

async fn copy_pools(from: &AirflowClient, to: &AirflowClient) -> Result<KindReport, CopyError> {
    let read = |source| CopyError::Base {
        kind: "pools",
        source,
    };
    let write = |source| CopyError::Preview {
        kind: "pools",
        source,
    };
    let mut report = KindReport::default();

    let existing = to.list_pools().await.map_err(write)?;
    for source in from.list_pools().await.map_err(read)? {
        let wanted = settings(&source);
        match existing.iter().find(|p| p.name == source.name) {
            None => {
                to.create_pool(&wanted).await.map_err(write)?;
                report.created += 1;
            }
            Some(current) if settings(current) == wanted => report.unchanged += 1,
            Some(_) => {
                to.update_pool(&wanted).await.map_err(write)?;
                report.updated += 1;
            }
        }
    }
    Ok(report)
}

/// What of a pool is copied: its settings, not the slot counts of the tasks running in it.
/// `include_deferred` only when the base answers it (Airflow before 2.7 has none).
fn settings(pool: &Pool) -> Pool {
    let mut copy = Pool::new(pool.name.clone(), pool.slots, pool.description.clone());
    copy.include_deferred = pool.include_deferred;
    copy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_settings_ignore_running_counts() {
        let mut busy = Pool::new("etl", 4, Some("ETL".into()));
        busy.open_slots = Some(1);
        busy.running_slots = Some(3);
        let idle = Pool::new("etl", 4, Some("ETL".into()));
        assert_eq!(settings(&busy), settings(&idle));
        assert_ne!(
            settings(&busy),
            settings(&Pool::new("etl", 5, Some("ETL".into())))
        );
    }

    #[test]
    fn a_report_of_only_unchanged_objects_changed_nothing() {
        let mut report = CopyReport::default();
        report.pools.unchanged = 3;
        assert!(!report.changed_anything());
        report.variables.updated = 1;
        assert!(report.changed_anything());
    }
}
