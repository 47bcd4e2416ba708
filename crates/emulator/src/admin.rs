//! The emulator's own routes under `/emulator/`, which Astro does not have.
//!
//! They need no token: the emulator listens on loopback unless told otherwise. See the crate
//! documentation for the list.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::faults::Fault;
use crate::model::Workspace;
use crate::server::{lock, App, Shared};
use crate::{clock, seed, EmulatorError};

pub(crate) fn routes() -> Router<App> {
    Router::new()
        .route("/emulator/info", get(info))
        .route(
            "/emulator/exchanges",
            get(exchanges).delete(clear_exchanges),
        )
        .route(
            "/emulator/faults",
            get(faults).post(add_fault).delete(clear_faults),
        )
        .route(
            "/emulator/blob-requests",
            get(blob_requests).delete(clear_blob_requests),
        )
        .route(
            "/emulator/deployments/{deploymentId}/hibernate",
            post(hibernate),
        )
        .route("/emulator/deployments/{deploymentId}/wake", post(wake))
        .route("/emulator/workspaces", post(add_workspace))
}

fn refuse(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "message": message.to_string() }))).into_response()
}

/// Anything that is neither Astro's nor the emulator's.
pub(crate) async fn unknown_route(method: Method, uri: Uri) -> Response {
    let message = format!(
        "no route `{method} {}`: the emulator serves `/platform/v1beta1/...`, `/blobs/...` and \
         `/emulator/...`",
        uri.path()
    );
    refuse(StatusCode::NOT_FOUND, message)
}

async fn info(State(app): State<App>) -> Response {
    Json(app.info.clone()).into_response()
}

async fn exchanges(State(app): State<App>) -> Response {
    Json(lock(&app.exchanges).clone()).into_response()
}

async fn clear_exchanges(State(app): State<App>) -> StatusCode {
    lock(&app.exchanges).clear();
    StatusCode::NO_CONTENT
}

async fn faults(State(app): State<App>) -> Response {
    Json(lock(&app.faults).clone()).into_response()
}

async fn add_fault(State(app): State<App>, body: Bytes) -> Response {
    let fault: Fault = match serde_json::from_slice(&body) {
        Ok(fault) => fault,
        Err(error) => return refuse(StatusCode::BAD_REQUEST, format!("invalid fault: {error}")),
    };
    if let Some(problem) = fault.problem() {
        return refuse(StatusCode::BAD_REQUEST, format!("invalid fault: {problem}"));
    }

    lock(&app.faults).push(fault.clone());
    (StatusCode::CREATED, Json(fault)).into_response()
}

async fn clear_faults(State(app): State<App>) -> StatusCode {
    lock(&app.faults).clear();
    StatusCode::NO_CONTENT
}

async fn blob_requests(State(app): State<App>) -> Response {
    Json(lock(&app.blob_requests).clone()).into_response()
}

async fn clear_blob_requests(State(app): State<App>) -> StatusCode {
    lock(&app.blob_requests).clear();
    StatusCode::NO_CONTENT
}

async fn hibernate(State(app): State<App>, Path(id): Path<String>) -> Response {
    schedule_answer(set_schedule(&app, &id, true))
}

async fn wake(State(app): State<App>, Path(id): Path<String>) -> Response {
    schedule_answer(set_schedule(&app, &id, false))
}

fn schedule_answer(result: Result<(), EmulatorError>) -> Response {
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(error @ EmulatorError::UnknownDeployment { .. }) => {
            refuse(StatusCode::NOT_FOUND, error)
        }
        Err(error @ EmulatorError::NotDevelopment { .. }) => refuse(StatusCode::BAD_REQUEST, error),
        Err(error) => refuse(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

/// Lets the (emulated) hibernation schedule put a development Deployment to sleep or wake it.
/// Putting it to sleep ends any override, as a schedule event on Astro would.
pub(crate) fn set_schedule(app: &Shared, id: &str, asleep: bool) -> Result<(), EmulatorError> {
    let mut state = lock(&app.state);
    let now = clock::now();
    state.advance(now);
    let delay = state.settings.rollout_delay;

    let record = state.deployment_mut(id);
    let record = record.ok_or_else(|| EmulatorError::UnknownDeployment { id: id.to_owned() })?;
    if !record.deployment.is_development_mode {
        return Err(EmulatorError::NotDevelopment { id: id.to_owned() });
    }

    record.scheduled_asleep = asleep;
    if asleep {
        record.set_override(None);
    }
    record.settle_sleep(now, delay);
    state.save()
}

/// What `POST /emulator/workspaces` takes: a workspace of the seeded organization, and
/// Deployments to put in it, each like a seeded one (`dagDeploys: true` is `dags-enabled`'s
/// settings, `false` is `dags-disabled`'s). A name may repeat one in another workspace, as on
/// Astro, so that tests can make a Deployment name ambiguous.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewWorkspace {
    name: String,
    #[serde(default)]
    deployments: Vec<NewDeployment>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct NewDeployment {
    name: String,
    #[serde(default)]
    dag_deploys: bool,
}

async fn add_workspace(State(app): State<App>, body: Bytes) -> Response {
    let wanted: NewWorkspace = match serde_json::from_slice(&body) {
        Ok(wanted) => wanted,
        Err(error) => {
            return refuse(
                StatusCode::BAD_REQUEST,
                format!("invalid workspace: {error}"),
            )
        }
    };
    if wanted.name.trim().is_empty() || wanted.deployments.iter().any(|d| d.name.is_empty()) {
        let message = "invalid workspace: names must not be empty";
        return refuse(StatusCode::BAD_REQUEST, message);
    }

    match create_workspace(&app, wanted) {
        Ok(created) => (StatusCode::CREATED, Json(created)).into_response(),
        Err(error) => refuse(StatusCode::INTERNAL_SERVER_ERROR, error),
    }
}

fn create_workspace(
    app: &Shared,
    wanted: NewWorkspace,
) -> Result<serde_json::Value, EmulatorError> {
    let mut state = lock(&app.state);
    let now = clock::now();
    state.advance(now);
    let stamp = clock::rfc3339(now);
    let by = seed::user_subject(&state.data.seed.user_id);

    let workspace = Workspace {
        id: seed::new_id(),
        name: wanted.name,
        description: "A workspace added through the emulator's admin routes".to_owned(),
        organization_id: state.data.organization.id.clone(),
        organization_name: state.data.organization.name.clone(),
        cicd_enforced_default: false,
        created_at: stamp.clone(),
        updated_at: stamp,
        created_by: by.clone(),
        updated_by: by.clone(),
    };
    let mut deployments = Vec::new();
    for wanted in wanted.deployments {
        let record = seed::seeded_deployment(
            &wanted.name,
            wanted.dag_deploys,
            &workspace,
            &state.settings,
            &by,
            now,
        );
        deployments.push(json!({ "id": record.deployment.id, "name": record.deployment.name }));
        state.data.deployments.push(record);
    }

    let created = json!({
        "id": workspace.id,
        "name": workspace.name,
        "deployments": deployments,
    });
    tracing::debug!(id = %workspace.id, "added a workspace");
    state.data.workspaces.push(workspace);
    state.save()?;
    Ok(created)
}
