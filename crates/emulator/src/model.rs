//! The JSON shapes of Astro's Platform API as the emulator writes and reads them.
//!
//! These types are the emulator's own reading of `api-specs/platform-v1beta1.yaml`; they share
//! nothing with the client in `astro-api`, so that a disagreement between the two shows up in a
//! test. Each response type declares exactly the properties of its schema (optional ones are
//! left out when empty), and each enum holds the spec's values only. Request types refuse
//! unknown fields: Astro would ignore them silently, but here a misspelt field is a client bug
//! worth a clear 400.

use serde::{Deserialize, Serialize};

/// `BasicSubjectProfile`: who created or changed an object.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Subject {
    pub id: String,
    pub subject_type: SubjectType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub full_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_token_name: Option<String>,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum SubjectType {
    User,
    Servicekey,
}

/// `Organization`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Organization {
    pub id: String,
    pub name: String,
    pub billing_email: String,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: Subject,
    pub updated_by: Subject,
    pub is_scim_enabled: bool,
    pub payment_method: String,
    pub product: String,
    pub status: String,
    pub support_plan: String,
}

/// `OrganizationsPaginated`.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct OrganizationsPage {
    pub organizations: Vec<Organization>,
    pub limit: u32,
    pub offset: u32,
    pub total_count: u32,
}

/// `Workspace`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Workspace {
    pub id: String,
    pub name: String,
    pub description: String,
    pub organization_id: String,
    pub organization_name: String,
    pub cicd_enforced_default: bool,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: Subject,
    pub updated_by: Subject,
}

/// `WorkspacesPaginated`.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkspacesPage {
    pub workspaces: Vec<Workspace>,
    pub limit: u32,
    pub offset: u32,
    pub total_count: u32,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum DeploymentStatus {
    Creating,
    Deploying,
    Healthy,
    Unhealthy,
    Unknown,
    Hibernating,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum DeploymentType {
    Dedicated,
    Hybrid,
    Standard,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum Executor {
    Celery,
    Kubernetes,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum SchedulerSize {
    Small,
    Medium,
    Large,
    ExtraLarge,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum CloudProvider {
    Aws,
    Azure,
    Gcp,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AstroMachine {
    A5,
    A10,
    A20,
    A40,
    A60,
    A120,
    A160,
}

impl AstroMachine {
    /// CPU and memory of one worker of this machine type, as Astro Hosted sizes them.
    pub(crate) fn pod_size(self) -> (&'static str, &'static str) {
        match self {
            Self::A5 => ("1", "2Gi"),
            Self::A10 => ("2", "4Gi"),
            Self::A20 => ("4", "8Gi"),
            Self::A40 => ("8", "16Gi"),
            Self::A60 => ("12", "24Gi"),
            Self::A120 => ("24", "48Gi"),
            Self::A160 => ("32", "64Gi"),
        }
    }
}

/// `Deployment`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deployment {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub organization_id: String,
    pub workspace_id: String,
    pub workspace_name: String,
    #[serde(rename = "type")]
    pub kind: DeploymentType,
    pub cloud_provider: CloudProvider,
    pub region: String,
    pub cluster_id: String,
    pub airflow_version: String,
    pub astro_runtime_version: String,
    pub runtime_version: String,
    pub status: DeploymentStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: Subject,
    pub updated_by: Subject,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_emails: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_tarball_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_dag_tarball_version: Option<String>,
    pub default_task_pod_cpu: String,
    pub default_task_pod_memory: String,
    pub resource_quota_cpu: String,
    pub resource_quota_memory: String,
    pub environment_variables: Vec<EnvironmentVariable>,
    pub executor: Executor,
    pub image_repository: String,
    pub image_tag: String,
    pub image_version: String,
    pub is_cicd_enforced: bool,
    pub is_dag_deploy_enabled: bool,
    pub is_development_mode: bool,
    pub is_high_availability: bool,
    pub namespace: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling_spec: Option<ScalingSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling_status: Option<ScalingStatus>,
    pub scheduler_cpu: String,
    pub scheduler_memory: String,
    pub scheduler_replicas: u32,
    pub scheduler_size: SchedulerSize,
    pub web_server_airflow_api_url: String,
    pub web_server_cpu: String,
    pub web_server_ingress_hostname: String,
    pub web_server_memory: String,
    pub web_server_replicas: u32,
    pub web_server_url: String,
    pub worker_queues: Vec<WorkerQueue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_identity: Option<String>,
}

/// `DeploymentEnvironmentVariable`: `value` is left out for secrets.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvironmentVariable {
    pub key: String,
    pub is_secret: bool,
    pub updated_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// `WorkerQueue`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WorkerQueue {
    pub id: String,
    pub name: String,
    pub is_default: bool,
    pub astro_machine: AstroMachine,
    pub max_worker_count: u32,
    pub min_worker_count: u32,
    pub worker_concurrency: u32,
    pub pod_cpu: String,
    pub pod_memory: String,
}

/// `DeploymentScalingSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScalingSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hibernation_spec: Option<HibernationSpec>,
}

/// `DeploymentHibernationSpec`.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HibernationSpec {
    #[serde(rename = "override", default, skip_serializing_if = "Option::is_none")]
    pub override_: Option<HibernationOverride>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedules: Option<Vec<HibernationSchedule>>,
}

/// `DeploymentHibernationOverride`, also the answer of the hibernation-override routes.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HibernationOverride {
    pub is_active: bool,
    pub is_hibernating: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub override_until: Option<String>,
}

/// `DeploymentHibernationSchedule`, both in requests and answers.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HibernationSchedule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub hibernate_at_cron: String,
    pub is_enabled: bool,
    pub wake_at_cron: String,
}

/// `DeploymentScalingStatus`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ScalingStatus {
    pub hibernation_status: HibernationStatus,
}

/// `DeploymentHibernationStatus`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct HibernationStatus {
    pub is_hibernating: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `DeploymentsPaginated`.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploymentsPage {
    pub deployments: Vec<Deployment>,
    pub limit: u32,
    pub offset: u32,
    pub total_count: u32,
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum DeployType {
    ImageAndDag,
    ImageOnly,
    DagOnly,
}

impl DeployType {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::ImageAndDag => "IMAGE_AND_DAG",
            Self::ImageOnly => "IMAGE_ONLY",
            Self::DagOnly => "DAG_ONLY",
        }
    }

    pub(crate) fn carries_image(self) -> bool {
        self != Self::DagOnly
    }
}

#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum DeployStatus {
    Initialized,
    Deployed,
    Failed,
}

/// `Deploy`.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Deploy {
    pub id: String,
    pub deployment_id: String,
    #[serde(rename = "type")]
    pub kind: DeployType,
    pub status: DeployStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    pub created_by_subject: Subject,
    pub updated_by_subject: Subject,
    pub image_repository: String,
    pub image_tag: String,
    pub is_dag_deploy_enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dags_upload_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dag_tarball_version: Option<String>,
    pub astro_runtime_version: String,
    pub airflow_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_from_id: Option<String>,
}

/// `DeploysPaginated`.
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct DeploysPage {
    pub deploys: Vec<Deploy>,
    pub limit: u32,
    pub offset: u32,
    pub total_count: u32,
}

/// `CreateStandardDeploymentRequest` and `UpdateStandardDeploymentRequest` in one: the fields
/// that only one of them has are optional here, and each route checks its own required list
/// before decoding.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct StandardDeploymentBody {
    #[serde(rename = "type")]
    pub kind: DeploymentType,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub workspace_id: String,
    #[serde(default)]
    pub astro_runtime_version: Option<String>,
    #[serde(default)]
    pub cloud_provider: Option<CloudProvider>,
    #[serde(default)]
    pub cluster_id: Option<String>,
    #[serde(default)]
    pub region: Option<String>,
    #[serde(default)]
    pub contact_emails: Option<Vec<String>>,
    pub default_task_pod_cpu: String,
    pub default_task_pod_memory: String,
    pub resource_quota_cpu: String,
    pub resource_quota_memory: String,
    #[serde(default)]
    pub environment_variables: Option<Vec<EnvironmentVariableRequest>>,
    pub executor: Executor,
    pub is_cicd_enforced: bool,
    pub is_dag_deploy_enabled: bool,
    #[serde(default)]
    pub is_development_mode: Option<bool>,
    pub is_high_availability: bool,
    #[serde(default)]
    pub scaling_spec: Option<ScalingSpecRequest>,
    pub scheduler_size: SchedulerSize,
    #[serde(default)]
    pub worker_queues: Option<Vec<WorkerQueueRequest>>,
    #[serde(default)]
    pub workload_identity: Option<String>,
}

/// `DeploymentEnvironmentVariableRequest`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct EnvironmentVariableRequest {
    pub key: String,
    pub is_secret: bool,
    #[serde(default)]
    pub value: Option<String>,
}

/// `WorkerQueueRequest`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct WorkerQueueRequest {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    pub is_default: bool,
    pub astro_machine: AstroMachine,
    pub max_worker_count: u32,
    pub min_worker_count: u32,
    pub worker_concurrency: u32,
}

/// `DeploymentScalingSpecRequest`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct ScalingSpecRequest {
    #[serde(default)]
    pub hibernation_spec: Option<HibernationSpecRequest>,
}

/// `DeploymentHibernationSpecRequest`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct HibernationSpecRequest {
    #[serde(rename = "override", default)]
    pub override_: Option<OverrideRequest>,
    #[serde(default)]
    pub schedules: Option<Vec<HibernationSchedule>>,
}

/// `DeploymentHibernationOverrideRequest`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OverrideRequest {
    #[serde(default)]
    pub is_hibernating: Option<bool>,
    #[serde(default)]
    pub override_until: Option<String>,
}

/// `CreateDeployRequest`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct CreateDeployBody {
    #[serde(rename = "type")]
    pub kind: DeployType,
    #[serde(default)]
    pub description: Option<String>,
}

/// `UpdateDeployRequest` and `DeployRollbackRequest`: both carry only a description.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct DescriptionBody {
    #[serde(default)]
    pub description: Option<String>,
}

/// `FinalizeDeployRequest`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct FinalizeBody {
    #[serde(default)]
    pub dag_tarball_version: Option<String>,
}

/// `OverrideDeploymentHibernationBody`.
#[derive(Deserialize, Debug)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct OverrideBody {
    pub is_hibernating: bool,
    #[serde(default)]
    pub override_until: Option<String>,
}
