//! Full create and update bodies from a Deployment's current configuration.
//!
//! Astro's Deployment update takes a whole description, not a patch: a field left out is a
//! field reset. So a change of one setting (turning CI/CD enforcement on, say) sends everything
//! the Deployment has now, with that one setting changed. Secret environment variables go
//! without their value, which Astro reads as "keep the stored value".

use astro_api::models::{
    AstroMachine, Deployment, DeploymentType, EnvironmentVariableRequest, HibernationSchedule,
    HibernationSpecRequest, HostedDeploymentRequest, ScalingSpecRequest, UpdateDeploymentRequest,
    WorkerQueueRequest,
};

use crate::error::DeployError;

/// The Deployment's hibernation schedules, as a request carries them; `None` when it has none.
pub fn current_schedules(deployment: &Deployment) -> Option<Vec<HibernationSchedule>> {
    let spec = deployment
        .scaling_spec
        .as_ref()?
        .hibernation_spec
        .as_ref()?;
    if spec.schedules.is_empty() {
        return None;
    }
    let schedules = spec
        .schedules
        .iter()
        .map(|s| HibernationSchedule {
            hibernate_at_cron: s.hibernate_at_cron.clone(),
            wake_at_cron: s.wake_at_cron.clone(),
            is_enabled: s.is_enabled,
            description: s.description.clone(),
        })
        .collect();
    Some(schedules)
}

/// The Deployment's worker queues as requests: with their ids for an update of the same
/// Deployment, without for a copy; `max_workers` caps every queue.
pub fn queue_requests(
    deployment: &Deployment,
    max_workers: Option<u32>,
    keep_ids: bool,
) -> Vec<WorkerQueueRequest> {
    deployment
        .worker_queues
        .iter()
        .map(|queue| {
            let max = match max_workers {
                Some(cap) => queue.max_worker_count.min(i64::from(cap)),
                None => queue.max_worker_count,
            };
            WorkerQueueRequest {
                id: keep_ids.then(|| queue.id.clone()),
                name: queue.name.clone(),
                is_default: queue.is_default,
                astro_machine: AstroMachine::from(queue.astro_machine.as_deref().unwrap_or("A5")),
                min_worker_count: queue.min_worker_count.min(max),
                max_worker_count: max,
                worker_concurrency: queue.worker_concurrency,
            }
        })
        .collect()
}

/// The update that leaves `deployment` as it is but for what `change` sets.
pub fn update_request(
    deployment: &Deployment,
    change: impl FnOnce(&mut HostedDeploymentRequest),
) -> Result<UpdateDeploymentRequest, DeployError> {
    let unsupported = |reason: String| DeployError::UpdateUnsupported {
        deployment: deployment.name.clone(),
        reason,
    };
    let required = |value: &Option<String>, field: &str| {
        value
            .clone()
            .ok_or_else(|| unsupported(format!("Astro did not answer its `{field}`")))
    };
    let executor = deployment
        .executor
        .clone()
        .ok_or_else(|| unsupported("Astro did not answer its executor".to_owned()))?;

    let environment = deployment
        .environment_variables
        .iter()
        .map(|variable| EnvironmentVariableRequest {
            key: variable.key.clone(),
            is_secret: variable.is_secret,
            value: match variable.is_secret {
                true => None,
                false => variable.value.clone(),
            },
        })
        .collect();
    let worker_queues =
        (!deployment.worker_queues.is_empty()).then(|| queue_requests(deployment, None, true));

    let mut body = HostedDeploymentRequest {
        name: deployment.name.clone(),
        workspace_id: deployment.workspace_id.clone(),
        description: deployment.description.clone(),
        astro_runtime_version: None,
        cluster_id: None,
        cloud_provider: None,
        region: None,
        executor,
        is_cicd_enforced: deployment.is_cicd_enforced,
        is_dag_deploy_enabled: deployment.is_dag_deploy_enabled,
        is_high_availability: deployment.is_high_availability,
        is_development_mode: Some(deployment.is_development_mode),
        scheduler_size: deployment
            .scheduler_size
            .clone()
            .ok_or_else(|| unsupported("Astro did not answer its scheduler size".to_owned()))?,
        default_task_pod_cpu: required(&deployment.default_task_pod_cpu, "defaultTaskPodCpu")?,
        default_task_pod_memory: required(
            &deployment.default_task_pod_memory,
            "defaultTaskPodMemory",
        )?,
        resource_quota_cpu: required(&deployment.resource_quota_cpu, "resourceQuotaCpu")?,
        resource_quota_memory: required(&deployment.resource_quota_memory, "resourceQuotaMemory")?,
        contact_emails: Some(deployment.contact_emails.clone()),
        environment_variables: Some(environment),
        worker_queues,
        workload_identity: deployment.workload_identity.clone(),
        scaling_spec: current_schedules(deployment).map(|schedules| ScalingSpecRequest {
            hibernation_spec: Some(HibernationSpecRequest {
                schedules: Some(schedules),
            }),
        }),
    };
    change(&mut body);

    match deployment.deployment_type.clone() {
        Some(DeploymentType::Standard) => Ok(UpdateDeploymentRequest::Standard(body)),
        Some(DeploymentType::Dedicated) => Ok(UpdateDeploymentRequest::Dedicated(body)),
        Some(DeploymentType::Hybrid) => Err(unsupported(
            "it is a Hybrid Deployment, whose scheduler units and node pools this tool does not \
             carry over"
                .to_owned(),
        )),
        Some(DeploymentType::Other(other)) => Err(unsupported(format!(
            "its type `{other}` is unknown to this tool"
        ))),
        None => Err(unsupported(
            "Astro did not say what type of Deployment it is".to_owned(),
        )),
    }
}
