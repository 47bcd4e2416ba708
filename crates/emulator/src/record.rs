//! The record of exchanges on the Platform routes and, apart, on the Airflow routes, and the log
//! of blob requests.
//!
//! Every Platform request is recorded with its answer, including refused ones (bad token,
//! missing object) and those an injected fault hit (`fault: true`; a dropped connection is
//! recorded with status 0 and no response body). A conformance test replays the record against
//! the OpenAPI spec; faulted exchanges are the ones it should skip, since their statuses are the
//! test's choice, not the spec's.

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::airflow;
use crate::faults::{self, Outcome};
use crate::platform::{error_body, Query, PREFIX};
use crate::server::{lock, App};

/// The largest JSON body the Platform routes read.
const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// One request to a Platform route (or an Airflow route) and its answer.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Exchange {
    pub method: String,
    /// The path without query, with the `/platform/v1beta1` prefix (Airflow: with
    /// `/airflow/{short}/api/v1`).
    pub path: String,
    /// The spec path template the route matched (without the prefix), e.g.
    /// `/organizations/{organizationId}/deployments` (Airflow: `/connections/{connection_id}`);
    /// `None` for paths the emulator does not serve.
    #[serde(default)]
    pub path_template: Option<String>,
    /// Decoded query pairs, in order.
    pub query: Vec<(String, String)>,
    /// The request body as JSON; a body that is not JSON is kept as a JSON string.
    pub request_body: Option<Value>,
    /// The answered status; 0 when a fault dropped the connection.
    pub status: u16,
    pub response_body: Option<Value>,
    /// Whether an injected fault touched this exchange.
    pub fault: bool,
}

/// One request to the blob endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct BlobRequest {
    pub method: String,
    pub path: String,
    /// The `comp` query parameter (`block`, `blocklist`), if any.
    pub comp: Option<String>,
    /// The answered status; 0 when a fault dropped the connection.
    pub status: u16,
    pub fault: bool,
    /// Blob requests being answered when this one arrived, itself included: the peak over a
    /// log is how many requests a client had in flight at once.
    #[serde(default)]
    pub in_flight: u32,
}

/// Which API a recorded route belongs to: it decides the template prefix, the error shape and
/// the record the exchange goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Api {
    Platform,
    Airflow,
    Iam,
}

impl Api {
    fn prefix(self) -> &'static str {
        match self {
            Api::Platform => PREFIX,
            Api::Airflow => airflow::PREFIX,
            Api::Iam => crate::iam::PREFIX,
        }
    }

    fn answer(self, status: u16, message: &str) -> Response {
        match self {
            Api::Platform | Api::Iam => {
                let status =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, Json(error_body(status, message))).into_response()
            }
            Api::Airflow => airflow::fault_answer(status, message),
        }
    }
}

/// Records the exchange around every Platform route, with faults applied inside.
pub(crate) async fn platform_layer(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response {
    record(app, request, next, Api::Platform).await
}

/// Records the exchange around every Airflow route (see [`crate::airflow`]), with faults
/// applied inside, in a record of its own: it is checked against another spec.
pub(crate) async fn airflow_layer(
    State(app): State<App>,
    request: Request,
    next: Next,
) -> Response {
    record(app, request, next, Api::Airflow).await
}

/// Records the exchange around every IAM route (see [`crate::iam`]), with faults applied
/// inside, in a record of its own: it is checked against the IAM spec.
pub(crate) async fn iam_layer(State(app): State<App>, request: Request, next: Next) -> Response {
    record(app, request, next, Api::Iam).await
}

async fn record(app: App, request: Request, next: Next, api: Api) -> Response {
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();
    let query = Query::parse(request.uri().query()).pairs();
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|matched| matched.as_str().to_owned());
    let path_template = template
        .and_then(|template| template.strip_prefix(api.prefix()).map(str::to_owned))
        .filter(|template| !template.contains("{*"));

    let (parts, body) = request.into_parts();
    let (request, request_body) = match to_bytes(body, BODY_LIMIT).await {
        Ok(bytes) => (
            Request::from_parts(parts, Body::from(bytes.clone())),
            json_or_text(&bytes),
        ),
        Err(_) => {
            let message = format!("the request body is larger than {BODY_LIMIT} bytes");
            let draft = Draft {
                method,
                path,
                path_template,
                query,
                request_body: None,
            };
            let response = api.answer(StatusCode::BAD_REQUEST.as_u16(), &message);
            return finish(&app, api, draft, response, Outcome::Served).await;
        }
    };

    let (response, outcome) = faults::apply(&app, request, next, |status, message| {
        api.answer(status, message)
    })
    .await;
    let draft = Draft {
        method,
        path,
        path_template,
        query,
        request_body,
    };
    finish(&app, api, draft, response, outcome).await
}

/// What is known of an exchange before its answer.
struct Draft {
    method: String,
    path: String,
    path_template: Option<String>,
    query: Vec<(String, String)>,
    request_body: Option<Value>,
}

async fn finish(
    app: &App,
    api: Api,
    draft: Draft,
    response: Response,
    outcome: Outcome,
) -> Response {
    let (parts, body) = response.into_parts();
    let bytes = to_bytes(body, usize::MAX).await.unwrap_or_default();
    let cut = outcome == Outcome::Cut;

    let exchange = Exchange {
        method: draft.method,
        path: draft.path,
        path_template: draft.path_template,
        query: draft.query,
        request_body: draft.request_body,
        status: if cut { 0 } else { parts.status.as_u16() },
        response_body: if cut { None } else { json_or_text(&bytes) },
        fault: outcome != Outcome::Served,
    };
    let record = match api {
        Api::Platform => &app.exchanges,
        Api::Airflow => &app.airflow_exchanges,
        Api::Iam => &app.iam_exchanges,
    };
    lock(record).push(exchange);
    Response::from_parts(parts, Body::from(bytes))
}

fn json_or_text(bytes: &Bytes) -> Option<Value> {
    if bytes.is_empty() {
        return None;
    }
    let text = || Value::String(String::from_utf8_lossy(bytes).into_owned());
    Some(serde_json::from_slice(bytes).unwrap_or_else(|_| text()))
}
