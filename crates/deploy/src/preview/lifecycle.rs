//! The life of a preview: find it, make it (copy the base, override, converge, wait), deploy
//! to it, delete it, and collect the ones nobody needs any more.
//!
//! Every step is safe to re-run. `ensure` finds the branch's preview before it makes one, and
//! after making one it lists again: when two jobs made a preview of the same branch at once,
//! both see the same two Deployments, both keep the older one (by `createdAt`, then id) and
//! the newer one is deleted, so the pair ends with one Deployment whatever the timing.

use std::cmp::Ordering;
use std::time::{Duration, Instant};

use astro_api::models::{
    CreateDeploymentRequest, Deployment, DeploymentStatus, DeploymentType,
    EnvironmentVariableRequest, Executor, HibernationSchedule, HibernationSpecRequest,
    HostedDeploymentRequest, ScalingSpecRequest,
};
use astro_api::platform::DeploymentFilter;
use astro_api::{Client, ErrorKind};
use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use super::host::{Liveness, ReviewHost};
use super::name::{owns_name, preview_name};
use super::record::PreviewRecord;
use super::settings::PreviewOverrides;
use crate::deployment_body::{current_schedules, queue_requests};
use crate::error::DeployError;
use crate::progress::{Event, Progress};

/// A preview as found on Astro.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Preview {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    pub status: String,
    pub web_server_url: String,
    pub airflow_api_url: Option<String>,
    /// The branch, when its name was short enough to record.
    pub branch: Option<String>,
    pub review: Option<u64>,
    #[serde(serialize_with = "rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(skip)]
    pub record: PreviewRecord,
}

impl Preview {
    /// The preview `deployment` is, if it is one of `base_id`'s.
    pub fn of(deployment: &Deployment, base_id: &str) -> Option<Self> {
        let record = PreviewRecord::parse(deployment.description.as_deref()?)?;
        if record.base_id != base_id || deployment.id == base_id {
            return None;
        }
        if !owns_name(&deployment.name, base_id, &record.branch) {
            return None;
        }
        Some(Self {
            id: deployment.id.clone(),
            name: deployment.name.clone(),
            workspace_id: deployment.workspace_id.clone(),
            status: deployment.status.to_string(),
            web_server_url: deployment.web_server_url.clone(),
            airflow_api_url: deployment.web_server_airflow_api_url.clone(),
            branch: record.branch.name().map(str::to_owned),
            review: record.review,
            created_at: record.created_at,
            record,
        })
    }

    /// Age at `now`, never negative.
    pub fn age(&self, now: OffsetDateTime) -> Duration {
        (now - self.created_at).try_into().unwrap_or_default()
    }
}

fn rfc3339<S: serde::Serializer>(time: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    let text = time.format(&Rfc3339).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(&text)
}

/// The previews of `base`, oldest first.
pub async fn list(client: &Client, base: &Deployment) -> Result<Vec<Preview>, DeployError> {
    let filter = DeploymentFilter {
        workspace_ids: vec![base.workspace_id.clone()],
        ..DeploymentFilter::default()
    };
    let deployments = client.list_deployments(&filter).await?;
    let mut previews: Vec<(Preview, Option<String>)> = deployments
        .iter()
        .filter_map(|d| Some((Preview::of(d, &base.id)?, d.created_at.clone())))
        .collect();
    previews.sort_by(older_first);
    Ok(previews.into_iter().map(|(preview, _)| preview).collect())
}

/// Astro's creation time decides which of two twins stays; the record's time is the fallback.
fn older_first(a: &(Preview, Option<String>), b: &(Preview, Option<String>)) -> Ordering {
    let stamp = |(preview, created): &(Preview, Option<String>)| {
        created
            .as_deref()
            .and_then(|text| OffsetDateTime::parse(text, &Rfc3339).ok())
            .unwrap_or(preview.created_at)
    };
    stamp(a).cmp(&stamp(b)).then_with(|| a.0.id.cmp(&b.0.id))
}

/// The previews of `branch`, oldest (the one that stays) first.
async fn previews_of_branch(
    client: &Client,
    base: &Deployment,
    branch: &str,
) -> Result<Vec<Preview>, DeployError> {
    Ok(list(client, base)
        .await?
        .into_iter()
        .filter(|preview| preview.record.branch.is(branch))
        .collect())
}

/// The preview of `branch`, if there is one.
pub async fn find(
    client: &Client,
    base: &Deployment,
    branch: &str,
) -> Result<Option<Preview>, DeployError> {
    Ok(previews_of_branch(client, base, branch)
        .await?
        .into_iter()
        .next())
}

/// What a preview is made for and how.
#[derive(Debug, Clone)]
pub struct CreateOptions {
    pub branch: String,
    pub review: Option<u64>,
    pub overrides: PreviewOverrides,
    /// How long to wait for a new preview to come up.
    pub ready_timeout: Duration,
    pub max_poll_interval: Duration,
    pub now: OffsetDateTime,
}

/// The preview of a branch after [`ensure`].
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Ensured {
    pub preview: Preview,
    /// False when the preview was already there.
    pub created: bool,
    /// Twins made by concurrent jobs and deleted so that one preview stays.
    pub twins_deleted: Vec<String>,
    /// Secret environment variables of the base that were not copied: their values cannot be
    /// read back from Astro.
    pub secrets_not_copied: Vec<String>,
}

/// Finds the branch's preview or makes it, and waits until it is up.
pub async fn ensure(
    client: &Client,
    base: &Deployment,
    options: &CreateOptions,
    progress: &dyn Progress,
) -> Result<Ensured, DeployError> {
    if let Some(preview) = find(client, base, &options.branch).await? {
        progress.event(Event::PreviewFound {
            id: preview.id.clone(),
            name: preview.name.clone(),
        });
        let preview = wait_ready(client, preview, options, progress).await?;
        return Ok(Ensured {
            preview,
            created: false,
            twins_deleted: Vec::new(),
            secrets_not_copied: Vec::new(),
        });
    }

    let name = preview_name(&base.id, &base.name, &options.branch);
    let record = PreviewRecord::new(&base.id, &options.branch, options.review, options.now);
    let description = record.description(&base.name);
    let (request, secrets_not_copied) =
        preview_request(base, &name, &description, &options.overrides)?;
    let created = client.create_deployment(&request).await?;
    progress.event(Event::PreviewCreated {
        id: created.id.clone(),
        name: created.name.clone(),
    });

    // Another job may have made the same preview meanwhile: keep the oldest, drop the rest.
    let mut twins = previews_of_branch(client, base, &options.branch).await?;
    if twins.is_empty() {
        return Err(DeployError::Internal(
            "a preview just created is missing from the Deployment list",
        ));
    }
    let keep = twins.remove(0);
    let mut twins_deleted = Vec::new();
    for twin in twins {
        delete_if_present(client, &twin.id).await?;
        progress.event(Event::PreviewDeleted {
            id: twin.id.clone(),
            name: twin.name.clone(),
            reason: format!("a twin of `{}` made by a concurrent job", keep.id),
        });
        twins_deleted.push(twin.id);
    }
    if keep.id != created.id && !twins_deleted.contains(&created.id) {
        // The list did not show ours yet (a lagging read): ours is still the newer twin.
        delete_if_present(client, &created.id).await?;
        twins_deleted.push(created.id.clone());
    }

    let preview = wait_ready(client, keep, options, progress).await?;
    Ok(Ensured {
        preview,
        created: !twins_deleted.contains(&created.id),
        twins_deleted,
        secrets_not_copied,
    })
}

async fn delete_if_present(client: &Client, id: &str) -> Result<(), DeployError> {
    match client.delete_deployment(id).await {
        Ok(()) => Ok(()),
        Err(error) if error.kind() == ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Polls the preview until Astro says it is up (healthy, or asleep on its schedule).
async fn wait_ready(
    client: &Client,
    mut preview: Preview,
    options: &CreateOptions,
    progress: &dyn Progress,
) -> Result<Preview, DeployError> {
    let started = Instant::now();
    let mut pause = Duration::from_millis(250);
    loop {
        let deployment = client.get_deployment(&preview.id).await?;
        preview.status = deployment.status.to_string();
        preview.web_server_url = deployment.web_server_url.clone();
        preview.airflow_api_url = deployment.web_server_airflow_api_url.clone();
        match deployment.status {
            DeploymentStatus::Healthy | DeploymentStatus::Hibernating => return Ok(preview),
            _ => {}
        }

        progress.event(Event::Waiting {
            status: deployment.status.clone(),
            rolled_out: false,
        });
        let waited = started.elapsed();
        if waited >= options.ready_timeout {
            return Err(DeployError::PreviewNotReady {
                name: preview.name,
                status: preview.status,
                waited,
            });
        }
        tokio::time::sleep(pause.min(options.ready_timeout - waited)).await;
        pause = (pause * 2).min(options.max_poll_interval);
    }
}

/// The create body of a preview: the base's configuration, its name and description
/// replaced, the overrides applied. Also gives the secret variables that could not be copied.
pub fn preview_request(
    base: &Deployment,
    name: &str,
    description: &str,
    overrides: &PreviewOverrides,
) -> Result<(CreateDeploymentRequest, Vec<String>), DeployError> {
    let unsupported = |reason: &str| DeployError::PreviewUnsupported {
        base: base.name.clone(),
        reason: reason.to_owned(),
    };
    let required = |value: &Option<String>, field: &str| {
        value
            .clone()
            .ok_or_else(|| unsupported(&format!("Astro did not answer its `{field}`")))
    };

    let kind = base
        .deployment_type
        .clone()
        .ok_or_else(|| unsupported("Astro did not say what type of Deployment it is"))?;
    let executor = base
        .executor
        .clone()
        .ok_or_else(|| unsupported("Astro did not answer its executor"))?;

    let mut secrets_not_copied = Vec::new();
    let mut environment: Vec<EnvironmentVariableRequest> = Vec::new();
    for variable in &base.environment_variables {
        if overrides.environment.contains_key(&variable.key) {
            continue;
        }
        match (&variable.value, variable.is_secret) {
            (Some(value), false) => environment.push(EnvironmentVariableRequest {
                key: variable.key.clone(),
                is_secret: false,
                value: Some(value.clone()),
            }),
            _ => secrets_not_copied.push(variable.key.clone()),
        }
    }
    for (key, value) in &overrides.environment {
        environment.push(EnvironmentVariableRequest {
            key: key.clone(),
            is_secret: false,
            value: Some(value.clone()),
        });
    }

    let worker_queues = match executor {
        Executor::Celery if !base.worker_queues.is_empty() => {
            Some(queue_requests(base, overrides.max_workers, false))
        }
        _ => None,
    };

    let schedules = match overrides.development_mode {
        false => None,
        true if !overrides.hibernation.is_empty() => Some(
            overrides
                .hibernation
                .iter()
                .map(|window| HibernationSchedule {
                    hibernate_at_cron: window.hibernate_at.clone(),
                    wake_at_cron: window.wake_at.clone(),
                    is_enabled: true,
                    description: window.description.clone(),
                })
                .collect::<Vec<_>>(),
        ),
        true => current_schedules(base),
    };

    let hosted = HostedDeploymentRequest {
        name: name.to_owned(),
        workspace_id: base.workspace_id.clone(),
        description: Some(description.to_owned()),
        astro_runtime_version: Some(base.astro_runtime_version.clone()),
        cluster_id: None,
        cloud_provider: None,
        region: None,
        executor,
        is_cicd_enforced: base.is_cicd_enforced,
        is_dag_deploy_enabled: base.is_dag_deploy_enabled,
        is_high_availability: overrides.high_availability,
        is_development_mode: Some(overrides.development_mode),
        scheduler_size: overrides.scheduler_size.clone(),
        default_task_pod_cpu: required(&base.default_task_pod_cpu, "defaultTaskPodCpu")?,
        default_task_pod_memory: required(&base.default_task_pod_memory, "defaultTaskPodMemory")?,
        resource_quota_cpu: required(&base.resource_quota_cpu, "resourceQuotaCpu")?,
        resource_quota_memory: required(&base.resource_quota_memory, "resourceQuotaMemory")?,
        contact_emails: (!base.contact_emails.is_empty()).then(|| base.contact_emails.clone()),
        environment_variables: Some(environment),
        worker_queues,
        workload_identity: base.workload_identity.clone(),
        scaling_spec: schedules.map(|schedules| ScalingSpecRequest {
            hibernation_spec: Some(HibernationSpecRequest {
                schedules: Some(schedules),
            }),
        }),
    };

    let request = match kind {
        DeploymentType::Standard => CreateDeploymentRequest::Standard(HostedDeploymentRequest {
            cloud_provider: base.cloud_provider.clone(),
            region: base.region.clone(),
            ..hosted
        }),
        DeploymentType::Dedicated => CreateDeploymentRequest::Dedicated(HostedDeploymentRequest {
            cluster_id: Some(required(&base.cluster_id, "clusterId")?),
            ..hosted
        }),
        DeploymentType::Hybrid => {
            return Err(unsupported(
                "it is a Hybrid Deployment, whose node pools and scheduler units this tool does \
                 not copy",
            ))
        }
        DeploymentType::Other(other) => {
            return Err(unsupported(&format!(
                "its type `{other}` is unknown to this tool"
            )))
        }
    };
    Ok((request, secrets_not_copied))
}

/// Which previews `delete` removes.
#[derive(Debug, Clone)]
pub enum Selector {
    Branch(String),
    /// A pull request (GitHub) or merge request (GitLab) number.
    Review(u64),
    Name(String),
}

/// Deletes the previews `selector` picks and gives them; none is not an error, so deleting
/// what is already gone succeeds. A Deployment picked by name that is not a preview of `base`
/// is refused, never deleted.
pub async fn delete(
    client: &Client,
    base: &Deployment,
    selector: &Selector,
    progress: &dyn Progress,
) -> Result<Vec<Preview>, DeployError> {
    let previews = list(client, base).await?;
    let picked: Vec<Preview> = previews
        .into_iter()
        .filter(|preview| match selector {
            Selector::Branch(branch) => preview.record.branch.is(branch),
            Selector::Review(number) => preview.review == Some(*number),
            Selector::Name(name) => &preview.name == name,
        })
        .collect();

    if let (Selector::Name(name), true) = (selector, picked.is_empty()) {
        let filter = DeploymentFilter {
            workspace_ids: vec![base.workspace_id.clone()],
            names: vec![name.clone()],
            ..DeploymentFilter::default()
        };
        let foreign = client.list_deployments(&filter).await?;
        if foreign.iter().any(|d| &d.name == name) {
            return Err(DeployError::NotAPreview {
                name: name.clone(),
                base: base.name.clone(),
            });
        }
    }

    for preview in &picked {
        delete_if_present(client, &preview.id).await?;
        progress.event(Event::PreviewDeleted {
            id: preview.id.clone(),
            name: preview.name.clone(),
            reason: "asked to".to_owned(),
        });
    }
    Ok(picked)
}

/// What `gc` does with a preview, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Verdict {
    Keep { reason: String },
    Delete { reason: String },
}

/// One preview `gc` looked at.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GcEntry {
    pub preview: Preview,
    pub verdict: Verdict,
    /// True once deleted; false on a dry run or a kept preview.
    pub deleted: bool,
}

#[derive(Debug, Clone)]
pub struct GcOptions {
    /// Delete previews older than this, whatever their branch.
    pub ttl: Option<Duration>,
    pub now: OffsetDateTime,
    pub dry_run: bool,
}

/// Deletes the previews of `base` that no branch or review needs any more, or that outlived
/// the TTL. A preview whose branch and review the host cannot vouch for either way is kept.
pub async fn gc(
    client: &Client,
    base: &Deployment,
    host: &impl ReviewHost,
    options: &GcOptions,
    progress: &dyn Progress,
) -> Result<Vec<GcEntry>, DeployError> {
    let previews = list(client, base).await?;
    let mut entries = Vec::with_capacity(previews.len());
    let mut seen_branches: Vec<&PreviewRecord> = Vec::new();

    for preview in &previews {
        // The list is oldest first, so a later preview of a branch already seen is a twin
        // that a job stopped before it could delete it.
        let twin_of = seen_branches
            .iter()
            .find(|record| record.branch == preview.record.branch)
            .is_some();
        seen_branches.push(&preview.record);

        let verdict = match twin_of {
            true => Verdict::Delete {
                reason: "a second preview of the same branch (left by an interrupted job)".into(),
            },
            false => verdict(preview, host, options).await,
        };
        let deleted = match (&verdict, options.dry_run) {
            (Verdict::Delete { reason }, false) => {
                delete_if_present(client, &preview.id).await?;
                progress.event(Event::PreviewDeleted {
                    id: preview.id.clone(),
                    name: preview.name.clone(),
                    reason: reason.clone(),
                });
                true
            }
            _ => false,
        };
        entries.push(GcEntry {
            preview: preview.clone(),
            verdict,
            deleted,
        });
    }
    Ok(entries)
}

async fn verdict(preview: &Preview, host: &impl ReviewHost, options: &GcOptions) -> Verdict {
    if let Some(ttl) = options.ttl {
        let age = preview.age(options.now);
        if age > ttl {
            return Verdict::Delete {
                reason: format!(
                    "older than the TTL ({} > {})",
                    human_age(age),
                    human_age(ttl)
                ),
            };
        }
    }

    let mut unknown = Vec::new();
    if let Some(number) = preview.review {
        match host.review_state(number).await {
            Liveness::Closed { reason } => return Verdict::Delete { reason },
            Liveness::Alive => {
                return Verdict::Keep {
                    reason: format!("review #{number} is open"),
                }
            }
            Liveness::Unknown { reason } => unknown.push(reason),
        }
    }
    if let Some(branch) = preview.record.branch.name() {
        match host.branch_state(branch).await {
            Liveness::Closed { reason } => return Verdict::Delete { reason },
            Liveness::Alive => {
                return Verdict::Keep {
                    reason: format!("branch `{branch}` exists"),
                }
            }
            Liveness::Unknown { reason } => unknown.push(reason),
        }
    }
    Verdict::Keep {
        reason: match unknown.is_empty() {
            true => "nothing says it is unused".to_owned(),
            false => format!("cannot tell whether it is unused: {}", unknown.join("; ")),
        },
    }
}

/// `3d 4h`, `5h 10m`, `42m`.
fn human_age(age: Duration) -> String {
    let minutes = age.as_secs() / 60;
    let (days, hours, minutes) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h"),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::preview::settings::HibernationWindow;

    fn base(extra: Value) -> Deployment {
        let mut body = json!({
            "id": "clbase", "name": "prod", "organizationId": "clorg", "workspaceId": "clws",
            "status": "HEALTHY", "type": "STANDARD", "isDagDeployEnabled": true,
            "isCicdEnforced": true, "isDevelopmentMode": false, "isHighAvailability": true,
            "astroRuntimeVersion": "12.2.0", "imageRepository": "r", "imageTag": "t",
            "executor": "CELERY", "schedulerSize": "LARGE", "cloudProvider": "GCP",
            "region": "europe-west1", "webServerUrl": "x", "defaultTaskPodCpu": "0.5",
            "defaultTaskPodMemory": "1Gi", "resourceQuotaCpu": "20", "resourceQuotaMemory": "40Gi",
            "contactEmails": ["data@acme.test"],
            "environmentVariables": [
                {"key": "STAGE", "value": "prod", "isSecret": false},
                {"key": "DB_PASSWORD", "isSecret": true},
                {"key": "REGION", "value": "eu", "isSecret": false}
            ],
            "workerQueues": [
                {"id": "q1", "name": "default", "isDefault": true, "astroMachine": "A10",
                 "minWorkerCount": 2, "maxWorkerCount": 10, "workerConcurrency": 16},
                {"id": "q2", "name": "heavy", "isDefault": false, "astroMachine": "A20",
                 "minWorkerCount": 0, "maxWorkerCount": 4, "workerConcurrency": 8}
            ],
            "scalingSpec": {"hibernationSpec": {"schedules": [
                {"hibernateAtCron": "0 22 * * *", "wakeAtCron": "0 6 * * *", "isEnabled": true}
            ]}}
        });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        serde_json::from_value(body).unwrap()
    }

    fn request_json(base: &Deployment, overrides: &PreviewOverrides) -> (Value, Vec<String>) {
        let (request, secrets) = preview_request(base, "p-prod-1", "record", overrides).unwrap();
        (serde_json::to_value(request).unwrap(), secrets)
    }

    #[test]
    fn a_preview_copies_the_base_and_applies_the_cheap_defaults() {
        let (body, secrets) = request_json(&base(json!({})), &PreviewOverrides::default());

        assert_eq!(body["type"], "STANDARD");
        assert_eq!(body["name"], "p-prod-1");
        assert_eq!(body["description"], "record");
        assert_eq!(body["workspaceId"], "clws");
        assert_eq!(body["astroRuntimeVersion"], "12.2.0");
        assert_eq!(body["cloudProvider"], "GCP");
        assert_eq!(body["region"], "europe-west1");
        assert_eq!(body["isCicdEnforced"], true);
        assert_eq!(body["resourceQuotaMemory"], "40Gi");
        assert_eq!(body["contactEmails"], json!(["data@acme.test"]));
        assert_eq!(body["isDevelopmentMode"], true);
        assert_eq!(body["isHighAvailability"], false);
        assert_eq!(body["schedulerSize"], "SMALL");
        assert_eq!(body["workerQueues"][0]["maxWorkerCount"], 10);
        assert_eq!(body["workerQueues"][1]["astroMachine"], "A20");
        assert!(
            body["workerQueues"][0].get("id").is_none(),
            "queue ids are the base's own"
        );
        let schedule = &body["scalingSpec"]["hibernationSpec"]["schedules"][0];
        assert_eq!(schedule["hibernateAtCron"], "0 22 * * *");

        let keys: Vec<&str> = body["environmentVariables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v["key"].as_str().unwrap())
            .collect();
        assert_eq!(keys, ["STAGE", "REGION"]);
        assert_eq!(secrets, ["DB_PASSWORD"]);
    }

    #[test]
    fn overrides_cap_workers_replace_schedules_and_variables() {
        let overrides = PreviewOverrides {
            max_workers: Some(1),
            hibernation: vec![HibernationWindow {
                hibernate_at: "0 19 * * *".into(),
                wake_at: "0 7 * * 1-5".into(),
                description: None,
            }],
            environment: [("STAGE".to_owned(), "preview".to_owned())].into(),
            ..PreviewOverrides::default()
        };
        let (body, _) = request_json(&base(json!({})), &overrides);

        for queue in body["workerQueues"].as_array().unwrap() {
            assert_eq!(queue["maxWorkerCount"], 1, "{queue}");
            assert!(queue["minWorkerCount"].as_i64().unwrap() <= 1, "{queue}");
        }
        let schedules = body["scalingSpec"]["hibernationSpec"]["schedules"]
            .as_array()
            .unwrap();
        assert_eq!(schedules.len(), 1);
        assert_eq!(schedules[0]["wakeAtCron"], "0 7 * * 1-5");
        let stage: Vec<&Value> = body["environmentVariables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|v| v["key"] == "STAGE")
            .collect();
        assert_eq!(stage.len(), 1);
        assert_eq!(stage[0]["value"], "preview");

        let awake = PreviewOverrides {
            development_mode: false,
            ..PreviewOverrides::default()
        };
        let (body, _) = request_json(&base(json!({})), &awake);
        assert!(
            body.get("scalingSpec").is_none(),
            "only development mode hibernates"
        );
    }

    #[test]
    fn dedicated_bases_keep_their_cluster_and_hybrid_ones_are_refused() {
        let dedicated = base(json!({"type": "DEDICATED", "clusterId": "clcluster"}));
        let (body, _) = request_json(&dedicated, &PreviewOverrides::default());
        assert_eq!(body["type"], "DEDICATED");
        assert_eq!(body["clusterId"], "clcluster");
        assert!(body.get("region").is_none());

        let hybrid = base(json!({"type": "HYBRID"}));
        let error = preview_request(&hybrid, "n", "d", &PreviewOverrides::default()).unwrap_err();
        assert!(error.to_string().contains("Hybrid"), "{error}");
        assert_eq!(error.kind(), crate::FailureKind::Refused);
    }
}
