//! Deployments: list, create, get, update (a full body, not a patch) and delete.
//!
//! Only STANDARD Deployments exist here: DEDICATED and HYBRID ones need clusters the emulator
//! does not model, and creating one is refused with a 400 that says so.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use super::org::check_org;
use super::{check_length, check_required, ok, page, parse_object, sort_by, ApiError, Op, Query};
use crate::auth::Caller;
use crate::clock;
use crate::model::{
    Deploy, DeploymentType, DeploymentsPage, Executor, HibernationOverride, OverrideRequest,
    StandardDeploymentBody,
};
use crate::seed::{self, RUNTIME_RELEASES};
use crate::server::App;
use crate::state::{DeploymentRecord, State as EmulatorState};

const CREATE_REQUIRED: &[&str] = &[
    "astroRuntimeVersion",
    "defaultTaskPodCpu",
    "defaultTaskPodMemory",
    "executor",
    "isCicdEnforced",
    "isDagDeployEnabled",
    "isHighAvailability",
    "name",
    "resourceQuotaCpu",
    "resourceQuotaMemory",
    "schedulerSize",
    "type",
    "workspaceId",
];

const UPDATE_REQUIRED: &[&str] = &[
    "defaultTaskPodCpu",
    "defaultTaskPodMemory",
    "environmentVariables",
    "executor",
    "isCicdEnforced",
    "isDagDeployEnabled",
    "isHighAvailability",
    "name",
    "resourceQuotaCpu",
    "resourceQuotaMemory",
    "schedulerSize",
    "type",
    "workspaceId",
];

/// Fields of the create body that `UpdateStandardDeploymentRequest` does not have.
const CREATE_ONLY: &[&str] = &[
    "astroRuntimeVersion",
    "cloudProvider",
    "clusterId",
    "region",
];

/// Finds a Deployment the caller may touch and gives its index in the state.
pub(super) fn find(
    state: &EmulatorState,
    caller: &Caller,
    op: Op,
    org: &str,
    id: &str,
) -> Result<usize, ApiError> {
    let mut records = state.data.deployments.iter();
    let index = records
        .position(|record| record.deployment.id == id)
        .ok_or_else(|| {
            ApiError::not_found(
                op,
                format!("deployment `{id}` not found in organization `{org}`"),
            )
        })?;

    caller.check_deployment(&state.data.deployments[index].deployment)?;
    Ok(index)
}

pub(super) async fn list(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::ListDeployments, &org))?;
    let query = Query::parse(raw.as_deref());
    let offset = query.count("offset", 0, None)?;
    let limit = query.count("limit", 20, None)?;
    let sorts = query.sorts()?;
    let ids = query.list("deploymentIds");
    let names = query.list("names");
    let workspaces = query.list("workspaceIds");

    let mut deployments = app.read(|state| {
        let records = state
            .data
            .deployments
            .iter()
            .map(|record| &record.deployment);
        let matching = records.filter(|d| {
            caller.may_touch(d)
                && ids.as_ref().is_none_or(|ids| ids.contains(&d.id))
                && names.as_ref().is_none_or(|names| names.contains(&d.name))
                && workspaces
                    .as_ref()
                    .is_none_or(|ids| ids.contains(&d.workspace_id))
        });
        Ok(matching.cloned().collect::<Vec<_>>())
    })?;

    sort_by(&mut deployments, &sorts, |d| {
        [&d.name, &d.created_at, &d.updated_at]
    });
    let (deployments, total_count) = page(deployments, offset, limit);
    Ok(ok(DeploymentsPage {
        deployments,
        limit,
        offset,
        total_count,
    }))
}

pub(super) async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::GetDeployment, &org))?;

    let deployment = app.read(|state| {
        let index = find(state, &caller, Op::GetDeployment, &org, &id)?;
        Ok(state.data.deployments[index].deployment.clone())
    })?;
    Ok(ok(deployment))
}

pub(super) async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::CreateDeployment, &org))?;
    let mut body = standard_body(&body, CREATE_REQUIRED, &[])?;
    check_body(&body)?;
    let runtime = body.astro_runtime_version.clone().unwrap_or_default();
    if seed::airflow_version(&runtime).is_none() {
        let offered: Vec<&str> = RUNTIME_RELEASES
            .iter()
            .map(|(version, ..)| *version)
            .collect();
        return Err(ApiError::bad_request(format!(
            "Astro Runtime `{runtime}` is not offered; pick one of {} (see `deployment-options`)",
            offered.join(", ")
        )));
    }

    let deployment = app.write(|state| {
        let workspace = state
            .workspace(&body.workspace_id)
            .cloned()
            .ok_or_else(|| {
                let id = &body.workspace_id;
                ApiError::bad_request(format!(
                    "workspace `{id}` not found in organization `{org}`"
                ))
            })?;
        caller.check_workspace(&workspace.id)?;

        let now = clock::now();
        let rule = take_override(&mut body);
        let mut record =
            seed::new_deployment(body, &workspace, &state.settings, &caller.subject(), now);
        apply_override(&mut record, rule, now, state)?;

        tracing::debug!(id = %record.deployment.id, "created deployment");
        state.data.deployments.push(record.clone());
        Ok(record.deployment)
    })?;
    Ok(ok(deployment))
}

pub(super) async fn update(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::UpdateDeployment, &org))?;
    let mut body = standard_body(&body, UPDATE_REQUIRED, CREATE_ONLY)?;
    check_body(&body)?;

    let deployment = app.write(|state| {
        let index = find(state, &caller, Op::UpdateDeployment, &org, &id)?;
        let now = clock::now();
        let rule = take_override(&mut body);
        let mut record = state.data.deployments[index].clone();

        apply_update(&mut record, body, &caller, now)?;
        apply_override(&mut record, rule, now, state)?;
        record.settle_sleep(now, state.settings.rollout_delay);
        state.data.deployments[index] = record.clone();
        Ok(record.deployment)
    })?;
    Ok(ok(deployment))
}

pub(super) async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    app.read(|state| check_org(state, &caller, Op::DeleteDeployment, &org))?;

    app.write(|state| {
        let index = find(state, &caller, Op::DeleteDeployment, &org, &id)?;
        state.data.deployments.remove(index);

        let deploys = std::mem::take(&mut state.data.deploys);
        let (gone, kept): (Vec<Deploy>, _) = deploys
            .into_iter()
            .partition(|deploy| deploy.deployment_id == id);
        state.data.deploys = kept;

        // The bundles of a deleted Deployment go too; a file left behind only costs space.
        for deploy in gone {
            state.data.blobs.remove(&deploy.id);
            if let Err(error) = state.blobs.remove_deploy(&deploy.id) {
                tracing::warn!(%error, deploy = %deploy.id, "removing the bundles of a deploy");
            }
        }
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Parses a create or update body: `type` first (only STANDARD runs here), then the required
/// fields, then fields the operation does not have, then the typed decode.
fn standard_body(
    bytes: &[u8],
    required: &[&str],
    refused: &[&str],
) -> Result<StandardDeploymentBody, ApiError> {
    let value = parse_object(bytes)?;
    match value.get("type") {
        None | Some(Value::Null) => {}
        Some(Value::String(kind)) if kind == "STANDARD" => {}
        Some(Value::String(kind)) if kind == "DEDICATED" || kind == "HYBRID" => {
            return Err(ApiError::bad_request(format!(
                "the emulator only runs STANDARD deployments: `type` `{kind}` is not supported"
            )));
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`type` must be one of `DEDICATED`, `HYBRID`, `STANDARD`, not {other}"
            )));
        }
    }
    check_required(&value, required)?;

    if let Some(field) = refused.iter().find(|field| value.get(**field).is_some()) {
        return Err(ApiError::bad_request(format!(
            "unknown field `{field}`: an update of a STANDARD deployment has no such field"
        )));
    }
    serde_json::from_value(value)
        .map_err(|error| ApiError::bad_request(format!("invalid request body: {error}")))
}

/// Rules on the body alone, before any state is read.
fn check_body(body: &StandardDeploymentBody) -> Result<(), ApiError> {
    if body.kind != DeploymentType::Standard {
        return Err(ApiError::bad_request(
            "the emulator only runs STANDARD deployments",
        ));
    }
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("`name` must not be empty"));
    }
    check_length("name", Some(&body.name), 500)?;
    check_length("description", body.description.as_deref(), 1000)?;

    let mut keys: Vec<&str> = body
        .environment_variables
        .iter()
        .flatten()
        .map(|variable| variable.key.as_str())
        .collect();
    keys.sort_unstable();
    if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(ApiError::bad_request(format!(
            "environment variable `{}` is given twice",
            pair[0]
        )));
    }
    if keys.iter().any(|key| key.trim().is_empty()) {
        return Err(ApiError::bad_request(
            "an environment variable has an empty `key`",
        ));
    }

    if body.executor == Executor::Celery {
        check_queues(body)?;
    }
    check_scaling(body)
}

fn check_queues(body: &StandardDeploymentBody) -> Result<(), ApiError> {
    let Some(queues) = &body.worker_queues else {
        return Ok(());
    };
    if !queues.iter().any(|queue| queue.name == "default") {
        return Err(ApiError::bad_request(
            "`workerQueues` must include a queue named `default`",
        ));
    }

    for queue in queues {
        check_length("workerQueues[].name", Some(&queue.name), 63)?;
        if queue.max_worker_count < 1 || queue.worker_concurrency < 1 {
            return Err(ApiError::bad_request(format!(
                "worker queue `{}` needs `maxWorkerCount` and `workerConcurrency` of at least 1",
                queue.name
            )));
        }
        if queue.min_worker_count > queue.max_worker_count {
            return Err(ApiError::bad_request(format!(
                "worker queue `{}` has `minWorkerCount` above `maxWorkerCount`",
                queue.name
            )));
        }
    }
    let mut names: Vec<&str> = queues.iter().map(|queue| queue.name.as_str()).collect();
    names.sort_unstable();
    match names.windows(2).find(|pair| pair[0] == pair[1]) {
        Some(pair) => Err(ApiError::bad_request(format!(
            "worker queue `{}` is given twice",
            pair[0]
        ))),
        None => Ok(()),
    }
}

fn check_scaling(body: &StandardDeploymentBody) -> Result<(), ApiError> {
    let Some(spec) = body
        .scaling_spec
        .as_ref()
        .and_then(|spec| spec.hibernation_spec.as_ref())
    else {
        return Ok(());
    };
    if body.is_development_mode != Some(true) {
        return Err(ApiError::bad_request(
            "`scalingSpec.hibernationSpec` needs a development deployment \
             (`isDevelopmentMode` true)",
        ));
    }

    let schedules = spec.schedules.as_deref().unwrap_or_default();
    if schedules.len() > 10 {
        return Err(ApiError::bad_request(
            "at most 10 hibernation schedules are allowed",
        ));
    }
    for schedule in schedules {
        check_length(
            "schedules[].description",
            schedule.description.as_deref(),
            200,
        )?;
    }
    Ok(())
}

fn take_override(body: &mut StandardDeploymentBody) -> Option<OverrideRequest> {
    let spec = body.scaling_spec.as_mut()?.hibernation_spec.as_mut()?;
    spec.override_.take()
}

/// Applies `scalingSpec.hibernationSpec.override` from a create or update body.
fn apply_override(
    record: &mut DeploymentRecord,
    rule: Option<OverrideRequest>,
    now: time::OffsetDateTime,
    state: &EmulatorState,
) -> Result<(), ApiError> {
    let Some(is_hibernating) = rule.as_ref().and_then(|rule| rule.is_hibernating) else {
        return Ok(());
    };
    let until = rule.and_then(|rule| rule.override_until);
    let override_until = super::hibernation::check_until(until.as_deref(), now)?;

    record.set_override(Some(HibernationOverride {
        is_active: true,
        is_hibernating,
        override_until,
    }));
    record.settle_sleep(now, state.settings.rollout_delay);
    Ok(())
}

/// Replaces everything an update body carries; what it leaves out is cleared, as on Astro.
fn apply_update(
    record: &mut DeploymentRecord,
    body: StandardDeploymentBody,
    caller: &Caller,
    now: time::OffsetDateTime,
) -> Result<(), ApiError> {
    let current = &record.deployment;
    if body.workspace_id != current.workspace_id {
        return Err(ApiError::bad_request(format!(
            "deployment `{}` belongs to workspace `{}`; moving it to workspace `{}` is not \
             supported",
            current.id, current.workspace_id, body.workspace_id
        )));
    }
    if body.is_development_mode == Some(true) && !current.is_development_mode {
        return Err(ApiError::bad_request(format!(
            "deployment `{}` is not a development deployment; `isDevelopmentMode` cannot be \
             turned on after creation",
            current.id
        )));
    }

    let stamp = clock::rfc3339(now);
    let variables = body.environment_variables.unwrap_or_default();
    let (variables, secrets) = seed::environment(variables, &record.secret_values, &stamp);
    let queues = seed::queues(body.executor, body.worker_queues, &current.worker_queues);
    let development = body
        .is_development_mode
        .unwrap_or(current.is_development_mode);
    let schedules = body
        .scaling_spec
        .and_then(|spec| spec.hibernation_spec?.schedules);
    let kept_override = record.hibernation_override().cloned();

    let deployment = &mut record.deployment;
    deployment.name = body.name;
    deployment.description = body.description;
    deployment.contact_emails = body.contact_emails;
    deployment.default_task_pod_cpu = body.default_task_pod_cpu;
    deployment.default_task_pod_memory = body.default_task_pod_memory;
    deployment.resource_quota_cpu = body.resource_quota_cpu;
    deployment.resource_quota_memory = body.resource_quota_memory;
    deployment.environment_variables = variables;
    deployment.executor = body.executor;
    deployment.is_cicd_enforced = body.is_cicd_enforced;
    deployment.is_dag_deploy_enabled = body.is_dag_deploy_enabled;
    deployment.is_development_mode = development;
    deployment.is_high_availability = body.is_high_availability;
    deployment.scheduler_replicas = if body.is_high_availability { 2 } else { 1 };
    deployment.web_server_replicas = deployment.scheduler_replicas;
    deployment.scheduler_size = body.scheduler_size;
    deployment.worker_queues = queues;
    deployment.workload_identity = body.workload_identity;
    deployment.updated_at = stamp;
    deployment.updated_by = caller.subject();
    seed::set_scheduler(deployment);
    record.secret_values = secrets;

    record.deployment.scaling_spec = None;
    if development {
        record.set_override(kept_override);
        let spec = record
            .deployment
            .scaling_spec
            .get_or_insert_with(Default::default);
        spec.hibernation_spec
            .get_or_insert_with(Default::default)
            .schedules = schedules;
    } else {
        record.scheduled_asleep = false;
    }
    Ok(())
}
