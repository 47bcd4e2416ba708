//! Requests and answers of the Astro Platform API, named as in `platform-v1beta1.yaml`.
//!
//! Answers keep enum values this client does not know (`Other`) and ignore unknown fields, so a
//! newer Astro never breaks an older client. Timestamps stay strings: the client passes them on
//! and never computes with them.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Declares a string enum of the API that keeps unknown values.
macro_rules! api_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant,)+
            /// A value this client does not know yet.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)+
                    $name::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)+
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                Ok($name::from(text.as_str()))
            }
        }
    };
}

pub(crate) use api_enum;

api_enum!(
    /// The state of a Deployment.
    DeploymentStatus {
        Creating => "CREATING",
        Deploying => "DEPLOYING",
        Healthy => "HEALTHY",
        Unhealthy => "UNHEALTHY",
        Unknown => "UNKNOWN",
        Hibernating => "HIBERNATING",
    }
);

api_enum!(
    /// Where a Deployment runs.
    DeploymentType { Standard => "STANDARD", Dedicated => "DEDICATED", Hybrid => "HYBRID" }
);

api_enum!(
    /// The Airflow executor of a Deployment.
    Executor { Celery => "CELERY", Kubernetes => "KUBERNETES" }
);

api_enum!(
    /// The scheduler size of a hosted Deployment.
    SchedulerSize {
        Small => "SMALL",
        Medium => "MEDIUM",
        Large => "LARGE",
        ExtraLarge => "EXTRA_LARGE",
    }
);

api_enum!(
    /// What a deploy ships.
    DeployType { ImageAndDag => "IMAGE_AND_DAG", ImageOnly => "IMAGE_ONLY", DagOnly => "DAG_ONLY" }
);

api_enum!(
    /// The state of a deploy.
    DeployStatus { Initialized => "INITIALIZED", Deployed => "DEPLOYED", Failed => "FAILED" }
);

api_enum!(
    /// The cloud a Deployment runs in.
    CloudProvider { Aws => "AWS", Azure => "AZURE", Gcp => "GCP" }
);

api_enum!(
    /// The Astro machine of a worker queue.
    AstroMachine {
        A5 => "A5",
        A10 => "A10",
        A20 => "A20",
        A40 => "A40",
        A60 => "A60",
        A120 => "A120",
        A160 => "A160",
    }
);

/// Who created or changed something.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectProfile {
    pub id: String,
    pub subject_type: Option<String>,
    pub username: Option<String>,
    pub full_name: Option<String>,
    pub api_token_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Organization {
    pub id: String,
    pub name: String,
    pub status: Option<String>,
    pub product: Option<String>,
    pub created_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workspace {
    pub id: String,
    pub name: String,
    pub organization_id: String,
    #[serde(default)]
    pub cicd_enforced_default: bool,
    pub description: Option<String>,
}

/// An Airflow environment on Astro.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub name: String,
    pub organization_id: String,
    pub workspace_id: String,
    pub workspace_name: Option<String>,
    pub description: Option<String>,
    pub status: DeploymentStatus,
    pub status_reason: Option<String>,
    #[serde(rename = "type")]
    pub deployment_type: Option<DeploymentType>,
    pub is_dag_deploy_enabled: bool,
    pub is_cicd_enforced: bool,
    #[serde(default)]
    pub is_development_mode: bool,
    #[serde(default)]
    pub is_high_availability: bool,
    pub astro_runtime_version: String,
    pub airflow_version: Option<String>,
    pub runtime_version: Option<String>,
    pub image_repository: String,
    pub image_tag: String,
    pub image_version: Option<String>,
    pub dag_tarball_version: Option<String>,
    pub desired_dag_tarball_version: Option<String>,
    pub executor: Option<Executor>,
    pub scheduler_size: Option<SchedulerSize>,
    pub cloud_provider: Option<CloudProvider>,
    pub region: Option<String>,
    pub cluster_id: Option<String>,
    pub cluster_name: Option<String>,
    pub web_server_url: String,
    pub web_server_airflow_api_url: Option<String>,
    pub default_task_pod_cpu: Option<String>,
    pub default_task_pod_memory: Option<String>,
    pub resource_quota_cpu: Option<String>,
    pub resource_quota_memory: Option<String>,
    pub workload_identity: Option<String>,
    #[serde(default)]
    pub contact_emails: Vec<String>,
    #[serde(default)]
    pub environment_variables: Vec<EnvironmentVariable>,
    #[serde(default)]
    pub worker_queues: Vec<WorkerQueue>,
    pub scaling_spec: Option<ScalingSpec>,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
}

/// How a development-mode Deployment scales down.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingSpec {
    pub hibernation_spec: Option<HibernationSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HibernationSpec {
    #[serde(default)]
    pub schedules: Vec<HibernationScheduleInfo>,
}

/// A hibernation schedule as a Deployment answers it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HibernationScheduleInfo {
    pub hibernate_at_cron: String,
    pub wake_at_cron: String,
    pub is_enabled: bool,
    pub description: Option<String>,
}

impl Deployment {
    /// Whether the Deployment runs the bundle it was last given.
    pub fn dag_bundle_rolled_out(&self) -> bool {
        match &self.desired_dag_tarball_version {
            Some(desired) => self.dag_tarball_version.as_ref() == Some(desired),
            None => true,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentVariable {
    pub key: String,
    pub is_secret: bool,
    /// Absent for secrets.
    pub value: Option<String>,
    pub updated_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerQueue {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub astro_machine: Option<String>,
    pub node_pool_id: Option<String>,
    pub min_worker_count: i64,
    pub max_worker_count: i64,
    pub worker_concurrency: i64,
    pub pod_cpu: Option<String>,
    pub pod_memory: Option<String>,
}

/// One page of a list answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Page<T> {
    pub limit: u32,
    pub offset: u32,
    pub total_count: u32,
    #[serde(alias = "deployments", alias = "deploys", alias = "workspaces")]
    #[serde(alias = "organizations")]
    pub items: Vec<T>,
}

/// One deploy of code or image to a Deployment.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Deploy {
    pub id: String,
    pub deployment_id: String,
    #[serde(rename = "type")]
    pub deploy_type: DeployType,
    pub status: DeployStatus,
    pub image_repository: String,
    pub image_tag: String,
    pub is_dag_deploy_enabled: bool,
    /// An Azure Blob SAS URL; present when DAG deploys are enabled.
    pub dags_upload_url: Option<String>,
    pub dag_tarball_version: Option<String>,
    pub description: Option<String>,
    pub rollback_from_id: Option<String>,
    pub astro_runtime_version: Option<String>,
    pub airflow_version: Option<String>,
    pub created_at: String,
    pub updated_at: Option<String>,
    pub created_by_subject: Option<SubjectProfile>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateDeployRequest {
    #[serde(rename = "type")]
    pub deploy_type: DeployType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// The body of a finalize call. `dag_tarball_version` is left out for image deploys to a
/// Deployment without DAG deploys, and empty for image deploys to one with DAG deploys.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeDeployRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dag_tarball_version: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateDeployRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackDeployRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HibernationOverrideRequest {
    pub is_hibernating: bool,
    /// RFC 3339; without it the override lasts until removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub override_until: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HibernationOverride {
    pub is_active: Option<bool>,
    pub is_hibernating: Option<bool>,
    pub override_until: Option<String>,
}

/// What may be chosen when creating or updating Deployments.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentOptions {
    pub runtime_releases: Vec<RuntimeRelease>,
    #[serde(default)]
    pub executors: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuntimeRelease {
    pub version: String,
    pub airflow_version: String,
    pub channel: String,
    pub release_date: String,
}

/// An environment variable to set; a secret sent without a value keeps its stored value.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentVariableRequest {
    pub key: String,
    pub is_secret: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkerQueueRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub is_default: bool,
    pub astro_machine: AstroMachine,
    pub min_worker_count: i64,
    pub max_worker_count: i64,
    pub worker_concurrency: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HybridWorkerQueueRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub name: String,
    pub is_default: bool,
    pub node_pool_id: String,
    pub min_worker_count: i64,
    pub max_worker_count: i64,
    pub worker_concurrency: i64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HibernationSchedule {
    pub hibernate_at_cron: String,
    pub wake_at_cron: String,
    pub is_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScalingSpecRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hibernation_spec: Option<HibernationSpecRequest>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HibernationSpecRequest {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedules: Option<Vec<HibernationSchedule>>,
}

/// The scheduler of a Hybrid Deployment.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceSpecRequest {
    pub au: i64,
    pub replicas: i64,
}

/// The body of a Deployment create, discriminated by `type` as the API's `oneOf` is.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CreateDeploymentRequest {
    Standard(HostedDeploymentRequest),
    Dedicated(HostedDeploymentRequest),
    Hybrid(HybridDeploymentRequest),
}

/// The body of a Deployment update: a full description, not a patch.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum UpdateDeploymentRequest {
    Standard(HostedDeploymentRequest),
    Dedicated(HostedDeploymentRequest),
    Hybrid(HybridDeploymentRequest),
}

/// The fields of a Standard or Dedicated Deployment. On update, `astro_runtime_version`,
/// `cloud_provider` and `region` must be `None`: the API does not take them there.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostedDeploymentRequest {
    pub name: String,
    pub workspace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub astro_runtime_version: Option<String>,
    /// Dedicated Deployments only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    /// Standard Deployments only, on create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_provider: Option<CloudProvider>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    pub executor: Executor,
    pub is_cicd_enforced: bool,
    pub is_dag_deploy_enabled: bool,
    pub is_high_availability: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_development_mode: Option<bool>,
    pub scheduler_size: SchedulerSize,
    pub default_task_pod_cpu: String,
    pub default_task_pod_memory: String,
    pub resource_quota_cpu: String,
    pub resource_quota_memory: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_emails: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<EnvironmentVariableRequest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_queues: Option<Vec<WorkerQueueRequest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scaling_spec: Option<ScalingSpecRequest>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HybridDeploymentRequest {
    pub name: String,
    pub workspace_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Create only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub astro_runtime_version: Option<String>,
    /// Create only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_id: Option<String>,
    pub executor: Executor,
    pub is_cicd_enforced: bool,
    pub is_dag_deploy_enabled: bool,
    pub scheduler: InstanceSpecRequest,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_pod_node_pool_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_emails: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<EnvironmentVariableRequest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_queues: Option<Vec<HybridWorkerQueueRequest>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_enum_values_and_fields_are_kept_or_ignored() {
        let deploy: Deploy = serde_json::from_value(serde_json::json!({
            "id": "cdeploy", "deploymentId": "cdep", "type": "BUNDLE", "status": "QUEUED",
            "imageRepository": "r", "imageTag": "t", "isDagDeployEnabled": true,
            "createdAt": "2026-01-01T00:00:00Z", "somethingNew": {"a": 1}
        }))
        .unwrap();

        assert_eq!(deploy.deploy_type, DeployType::Other("BUNDLE".into()));
        assert_eq!(deploy.status.to_string(), "QUEUED");
    }

    #[test]
    fn deployment_requests_carry_their_type() {
        let body = CreateDeployRequest {
            deploy_type: DeployType::DagOnly,
            description: None,
        };
        assert_eq!(
            serde_json::to_value(body).unwrap(),
            serde_json::json!({"type": "DAG_ONLY"})
        );
    }
}
