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
use serde_json::json;

use crate::faults::Fault;
use crate::server::{lock, App, Shared};
use crate::{clock, EmulatorError};

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
