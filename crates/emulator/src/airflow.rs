//! A minimal Airflow 2 stable REST API per Deployment, at the `webServerAirflowApiUrl` the
//! emulator hands out (`/airflow/{last 8 characters of the id}/api/v1`): list, get, create and
//! update of connections, variables and pools, shaped as `api-specs/airflow-v1.yaml` says.
//!
//! Airflow's own rules, as far as these calls go:
//! - lists page with `limit` (at most 100, Airflow's default `maximum_page_limit`, as Airflow
//!   caps it silently) and `offset`, in creation order, and answer `total_entries`;
//! - lists leave out connections' `extra` and variables' `value`; a connection's `password` is
//!   kept but never answered (it is write-only);
//! - POST of an existing connection or pool answers 409; POST of a variable replaces it (Airflow
//!   calls `Variable.set`); PATCH changes only the fields sent (or those of `update_mask`) and
//!   refuses a body whose id differs from the path's;
//! - `default_pool` exists on every Deployment.
//!
//! The token is the emulator's Astro API token; it must be able to reach the Deployment. A
//! Deployment whose Airflow is not up (creating, hibernating, waking up) answers 503, as
//! Astro's ingress does before the web server runs; the spec does not list that status, because
//! it is not Airflow that answers it. Errors are RFC 7807 problems, as Airflow's are.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::header::AUTHORIZATION;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::auth;
use crate::model::DeploymentStatus;
use crate::platform::Query;
use crate::server::App;
use crate::state::{DeploymentRecord, State as EmulatorState, WAKING_UP};

/// Where the emulator serves each Deployment's Airflow API; `{short}` is the end of its id.
pub(crate) const PREFIX: &str = "/airflow/{short}/api/v1";

/// Airflow's default `maximum_page_limit`, and the default `limit`.
const MAX_PAGE: u32 = 100;

/// Where Airflow's problem types point.
const PROBLEM_BASE: &str =
    "https://airflow.apache.org/docs/apache-airflow/2.10.5/stable-rest-api-ref.html#section/Errors";

/// `default_pool`'s slots on a fresh Airflow.
const DEFAULT_POOL_SLOTS: i64 = 128;

/// A Deployment's Airflow objects, kept in the state.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct AirflowObjects {
    pub connections: Vec<crate::AirflowConnection>,
    pub variables: Vec<crate::AirflowVariable>,
    pub pools: Vec<crate::AirflowPool>,
}

impl Default for AirflowObjects {
    /// A fresh Airflow: no connections or variables, and `default_pool`.
    fn default() -> Self {
        Self {
            connections: Vec::new(),
            variables: Vec::new(),
            pools: vec![crate::AirflowPool {
                name: "default_pool".to_owned(),
                slots: DEFAULT_POOL_SLOTS,
                description: Some("Default pool".to_owned()),
                include_deferred: false,
            }],
        }
    }
}

/// An answer in Airflow's RFC 7807 problem shape.
#[derive(Debug)]
pub(crate) struct Problem {
    status: StatusCode,
    title: &'static str,
    kind: &'static str,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        let (title, kind) = match status {
            StatusCode::BAD_REQUEST => ("Bad Request", "BadRequest"),
            StatusCode::UNAUTHORIZED => ("Unauthorized", "Unauthenticated"),
            StatusCode::FORBIDDEN => ("Forbidden", "PermissionDenied"),
            StatusCode::NOT_FOUND => ("Not Found", "NotFound"),
            StatusCode::CONFLICT => ("Conflict", "AlreadyExists"),
            StatusCode::SERVICE_UNAVAILABLE => ("Service Unavailable", "Unknown"),
            _ => ("Internal Server Error", "Unknown"),
        };
        Self {
            status,
            title,
            kind,
            detail: detail.into(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.status.as_u16(), detail = %self.detail, "Airflow refuses");
        (
            self.status,
            Json(problem_body(
                self.status,
                self.title,
                self.kind,
                &self.detail,
            )),
        )
            .into_response()
    }
}

fn problem_body(status: StatusCode, title: &str, kind: &str, detail: &str) -> Value {
    json!({
        "type": format!("{PROBLEM_BASE}/{kind}"),
        "title": title,
        "status": status.as_u16(),
        "detail": detail,
    })
}

/// An answer for a fault injected on an Airflow route.
pub(crate) fn fault_answer(status: u16, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = problem_body(status, "Injected fault", "Unknown", message);
    (status, Json(body)).into_response()
}

/// The routes, with the spec's own parameter names so that a recorded exchange's template is
/// the spec's.
pub(crate) fn routes() -> Router<App> {
    let at = |path: &str| format!("{PREFIX}{path}");
    Router::new()
        .route(
            &at("/connections"),
            get(list_connections).post(create_connection),
        )
        .route(
            &at("/connections/{connection_id}"),
            get(get_connection).patch(update_connection),
        )
        .route(&at("/variables"), get(list_variables).post(create_variable))
        .route(
            &at("/variables/{variable_key}"),
            get(get_variable).patch(update_variable),
        )
        .route(&at("/pools"), get(list_pools).post(create_pool))
        .route(&at("/pools/{pool_name}"), get(get_pool).patch(update_pool))
        .route(&at("/{*rest}"), any(not_served))
        .method_not_allowed_fallback(not_served)
}

async fn not_served(method: Method, uri: Uri) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!(
            "the emulator's Airflow does not serve `{method} {}`",
            uri.path()
        ),
    )
}

/// Checks the token and that the Deployment's Airflow is up; answers its id.
fn admit(
    state: &EmulatorState,
    app: &App,
    headers: &HeaderMap,
    short: &str,
) -> Result<String, Problem> {
    let value = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok());
    let token = value.and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    let token = token.filter(|t| !t.trim().is_empty()).ok_or_else(|| {
        Problem::new(
            StatusCode::UNAUTHORIZED,
            "send `Authorization: Bearer <Astro API token>`",
        )
    })?;
    let caller = auth::verify(&app.keys, token.trim())
        .and_then(|caller| crate::iam::check_live(state, &caller, token.trim()).map(|()| caller))
        .map_err(|message| Problem::new(StatusCode::UNAUTHORIZED, message))?;

    let record = find(state, short).ok_or_else(|| {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!("no Deployment's Airflow is at `{short}`"),
        )
    })?;
    let deployment = &record.deployment;
    let reachable = caller.org_id == deployment.organization_id && caller.may_touch(deployment);
    if !reachable {
        return Err(Problem::new(
            StatusCode::FORBIDDEN,
            format!("this token may not reach Deployment `{}`", deployment.id),
        ));
    }

    if !is_up(record) {
        return Err(Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the Airflow of Deployment `{}` is not up: the Deployment is {:?}",
                deployment.id, deployment.status
            ),
        ));
    }
    Ok(deployment.id.clone())
}

fn find<'s>(state: &'s EmulatorState, short: &str) -> Option<&'s DeploymentRecord> {
    let mut records = state.data.deployments.iter();
    records.find(|record| short.len() == 8 && record.deployment.id.ends_with(short))
}

/// Airflow runs once a Deployment has been created, and not while it sleeps or wakes up.
fn is_up(record: &DeploymentRecord) -> bool {
    let deployment = &record.deployment;
    match deployment.status {
        DeploymentStatus::Creating | DeploymentStatus::Hibernating => false,
        DeploymentStatus::Deploying => deployment.status_reason.as_deref() != Some(WAKING_UP),
        _ => true,
    }
}

/// Runs `read` on a Deployment's objects (a fresh Airflow's when none were stored).
fn read<T>(
    app: &App,
    headers: &HeaderMap,
    short: &str,
    read: impl FnOnce(&AirflowObjects) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let outcome = app.read(|state| {
        Ok(admit(state, app, headers, short).and_then(|id| {
            let fresh = AirflowObjects::default();
            read(state.data.airflow.get(&id).unwrap_or(&fresh))
        }))
    });
    outcome.unwrap_or_else(|error| Err(Problem::new(error.status, error.message)))
}

/// Runs `change` on a copy of a Deployment's objects, and keeps the copy when it succeeds.
fn write<T>(
    app: &App,
    headers: &HeaderMap,
    short: &str,
    change: impl FnOnce(&mut AirflowObjects) -> Result<T, Problem>,
) -> Result<T, Problem> {
    let outcome = app.write(|state| {
        Ok(admit(state, app, headers, short).and_then(|id| {
            let mut objects = state.data.airflow.get(&id).cloned().unwrap_or_default();
            let value = change(&mut objects)?;
            state.data.airflow.insert(id, objects);
            Ok(value)
        }))
    });
    outcome.unwrap_or_else(|error| Err(Problem::new(error.status, error.message)))
}

/// `limit` and `offset` as Airflow reads them.
fn paging(raw: Option<&str>) -> Result<(usize, usize), Problem> {
    let query = Query::parse(raw);
    let number = |key: &str, default: i64| -> Result<i64, Problem> {
        match query.single(key) {
            None => Ok(default),
            Some(text) => text.parse().map_err(|_| {
                Problem::new(
                    StatusCode::BAD_REQUEST,
                    format!("`{key}` must be an integer"),
                )
            }),
        }
    };
    let limit = number("limit", i64::from(MAX_PAGE))?;
    let offset = number("offset", 0)?;
    if limit < 1 {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "Page limit must be a positive integer",
        ));
    }
    if offset < 0 {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            "`offset` must not be negative",
        ));
    }
    let limit = limit.min(i64::from(MAX_PAGE));
    Ok((
        usize::try_from(limit).unwrap_or(0),
        usize::try_from(offset).unwrap_or(usize::MAX),
    ))
}

fn page<T: Clone>(items: &[T], (limit, offset): (usize, usize)) -> (Vec<T>, usize) {
    let page = items.iter().skip(offset).take(limit).cloned().collect();
    (page, items.len())
}

/// A JSON object body whose fields are all among `known` and include `required`.
fn parse_body(
    bytes: &[u8],
    known: &[&str],
    required: &[&str],
) -> Result<Map<String, Value>, Problem> {
    let bad = |detail: String| Problem::new(StatusCode::BAD_REQUEST, detail);
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|error| bad(format!("the request body is not JSON: {error}")))?;
    let Value::Object(object) = value else {
        return Err(bad("the request body must be a JSON object".to_owned()));
    };

    // Marshmallow, behind Airflow's API, refuses unknown fields and read-only ones alike.
    if let Some(unknown) = object.keys().find(|key| !known.contains(&key.as_str())) {
        return Err(bad(format!("{{'{unknown}': ['Unknown field.']}}")));
    }
    if let Some(missing) = required
        .iter()
        .find(|field| object.get(**field).is_none_or(Value::is_null))
    {
        return Err(bad(format!(
            "{{'{missing}': ['Missing data for required field.']}}"
        )));
    }
    Ok(object)
}

/// The fields a PATCH changes: those of `update_mask`, or every field sent.
fn masked(
    raw: Option<&str>,
    body: Map<String, Value>,
    known: &[&str],
) -> Result<Map<String, Value>, Problem> {
    let Some(mask) = Query::parse(raw).list("update_mask") else {
        return Ok(body);
    };
    if let Some(unknown) = mask.iter().find(|field| !known.contains(&field.as_str())) {
        return Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("'{unknown}' is unknown or cannot be updated."),
        ));
    }
    Ok(body
        .into_iter()
        .filter(|(key, _)| mask.contains(key))
        .collect())
}

fn text(value: &Value, field: &str) -> Result<Option<String>, Problem> {
    match value {
        Value::Null => Ok(None),
        Value::String(text) => Ok(Some(text.clone())),
        _ => Err(Problem::new(
            StatusCode::BAD_REQUEST,
            format!("{{'{field}': ['Not a valid string.']}}"),
        )),
    }
}

fn integer(value: &Value, field: &str) -> Result<Option<i64>, Problem> {
    match value {
        Value::Null => Ok(None),
        _ => value.as_i64().map(Some).ok_or_else(|| {
            Problem::new(
                StatusCode::BAD_REQUEST,
                format!("{{'{field}': ['Not a valid integer.']}}"),
            )
        }),
    }
}

fn required_text(object: &Map<String, Value>, field: &str) -> Result<String, Problem> {
    let value = object.get(field).unwrap_or(&Value::Null);
    text(value, field)?.ok_or_else(|| {
        Problem::new(
            StatusCode::BAD_REQUEST,
            format!("{{'{field}': ['Field may not be null.']}}"),
        )
    })
}

fn not_found(kind: &str, id: &str) -> Problem {
    Problem::new(
        StatusCode::NOT_FOUND,
        format!("The {kind} with `{id}` was not found"),
    )
}

fn mismatch(field: &str) -> Problem {
    Problem::new(
        StatusCode::BAD_REQUEST,
        format!("The {field} cannot be updated."),
    )
}

// Connections.

const CONNECTION_FIELDS: &[&str] = &[
    "connection_id",
    "conn_type",
    "description",
    "host",
    "login",
    "schema",
    "port",
    "password",
    "extra",
];

fn connection_summary(connection: &crate::AirflowConnection) -> Value {
    json!({
        "connection_id": connection.connection_id,
        "conn_type": connection.conn_type,
        "description": connection.description,
        "host": connection.host,
        "login": connection.login,
        "schema": connection.schema,
        "port": connection.port,
    })
}

/// A connection as a GET answers it: with `extra`, never with the password.
fn connection_answer(connection: &crate::AirflowConnection) -> Value {
    let mut answer = connection_summary(connection);
    answer["extra"] = json!(connection.extra);
    answer
}

fn apply_connection(
    connection: &mut crate::AirflowConnection,
    fields: &Map<String, Value>,
) -> Result<(), Problem> {
    for (field, value) in fields {
        match field.as_str() {
            "connection_id" => connection.connection_id = required_text(fields, field)?,
            "conn_type" => connection.conn_type = required_text(fields, field)?,
            "description" => connection.description = text(value, field)?,
            "host" => connection.host = text(value, field)?,
            "login" => connection.login = text(value, field)?,
            "schema" => connection.schema = text(value, field)?,
            "port" => connection.port = integer(value, field)?,
            "password" => connection.password = text(value, field)?,
            _ => connection.extra = text(value, field)?,
        }
    }
    Ok(())
}

async fn list_connections(
    State(app): State<App>,
    Path(short): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let paging = paging(query.as_deref())?;
    read(&app, &headers, &short, |objects| {
        let (page, total) = page(&objects.connections, paging);
        let items: Vec<Value> = page.iter().map(connection_summary).collect();
        Ok(Json(json!({ "connections": items, "total_entries": total })).into_response())
    })
}

async fn get_connection(
    State(app): State<App>,
    Path((short, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    read(&app, &headers, &short, |objects| {
        let mut all = objects.connections.iter();
        let found = all
            .find(|c| c.connection_id == id)
            .ok_or_else(|| not_found("Connection", &id))?;
        Ok(Json(connection_answer(found)).into_response())
    })
}

async fn create_connection(
    State(app): State<App>,
    Path(short): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = parse_body(&body, CONNECTION_FIELDS, &["connection_id", "conn_type"])?;
    write(&app, &headers, &short, |objects| {
        let id = required_text(&fields, "connection_id")?;
        if objects.connections.iter().any(|c| c.connection_id == id) {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!("Connection already exist. ID: {id}"),
            ));
        }
        let mut connection = crate::AirflowConnection::new(&id, "");
        apply_connection(&mut connection, &fields)?;
        let answer = connection_answer(&connection);
        objects.connections.push(connection);
        Ok(Json(answer).into_response())
    })
}

async fn update_connection(
    State(app): State<App>,
    Path((short, id)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = parse_body(&body, CONNECTION_FIELDS, &["connection_id", "conn_type"])?;
    if fields.get("connection_id").and_then(Value::as_str) != Some(id.as_str()) {
        return Err(mismatch("connection_id"));
    }
    let fields = masked(query.as_deref(), fields, CONNECTION_FIELDS)?;
    write(&app, &headers, &short, |objects| {
        let mut all = objects.connections.iter_mut();
        let found = all
            .find(|c| c.connection_id == id)
            .ok_or_else(|| not_found("Connection", &id))?;
        let mut changed = found.clone();
        apply_connection(&mut changed, &fields)?;
        *found = changed;
        Ok(Json(connection_answer(found)).into_response())
    })
}

// Variables.

const VARIABLE_FIELDS: &[&str] = &["key", "value", "description"];

fn variable_answer(variable: &crate::AirflowVariable) -> Value {
    json!({ "key": variable.key, "value": variable.value, "description": variable.description })
}

fn apply_variable(
    variable: &mut crate::AirflowVariable,
    fields: &Map<String, Value>,
) -> Result<(), Problem> {
    for (field, value) in fields {
        match field.as_str() {
            "key" => variable.key = required_text(fields, field)?,
            "value" => variable.value = required_text(fields, field)?,
            _ => variable.description = text(value, field)?,
        }
    }
    Ok(())
}

async fn list_variables(
    State(app): State<App>,
    Path(short): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let paging = paging(query.as_deref())?;
    read(&app, &headers, &short, |objects| {
        let (page, total) = page(&objects.variables, paging);
        let items: Vec<Value> = page
            .iter()
            .map(|v| json!({ "key": v.key, "description": v.description }))
            .collect();
        Ok(Json(json!({ "variables": items, "total_entries": total })).into_response())
    })
}

async fn get_variable(
    State(app): State<App>,
    Path((short, key)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    read(&app, &headers, &short, |objects| {
        let mut all = objects.variables.iter();
        let found = all
            .find(|v| v.key == key)
            .ok_or_else(|| not_found("Variable", &key))?;
        Ok(Json(variable_answer(found)).into_response())
    })
}

async fn create_variable(
    State(app): State<App>,
    Path(short): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = parse_body(&body, VARIABLE_FIELDS, &["key", "value"])?;
    write(&app, &headers, &short, |objects| {
        let mut variable = crate::AirflowVariable::new("", "");
        apply_variable(&mut variable, &fields)?;
        let answer = variable_answer(&variable);
        // Airflow's `Variable.set` replaces a variable of the same key.
        objects.variables.retain(|v| v.key != variable.key);
        objects.variables.push(variable);
        Ok(Json(answer).into_response())
    })
}

async fn update_variable(
    State(app): State<App>,
    Path((short, key)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = parse_body(&body, VARIABLE_FIELDS, &["key", "value"])?;
    if fields.get("key").and_then(Value::as_str) != Some(key.as_str()) {
        return Err(mismatch("key"));
    }
    let fields = masked(query.as_deref(), fields, VARIABLE_FIELDS)?;
    write(&app, &headers, &short, |objects| {
        let mut all = objects.variables.iter_mut();
        let found = all
            .find(|v| v.key == key)
            .ok_or_else(|| not_found("Variable", &key))?;
        let mut changed = found.clone();
        apply_variable(&mut changed, &fields)?;
        *found = changed;
        Ok(Json(variable_answer(found)).into_response())
    })
}

// Pools.

const POOL_FIELDS: &[&str] = &["name", "slots", "description", "include_deferred"];

/// A pool as answered. Nothing runs in the emulator, so every slot is open.
fn pool_answer(pool: &crate::AirflowPool) -> Value {
    json!({
        "name": pool.name,
        "slots": pool.slots,
        "occupied_slots": 0,
        "running_slots": 0,
        "queued_slots": 0,
        "scheduled_slots": 0,
        "deferred_slots": 0,
        "open_slots": pool.slots,
        "description": pool.description,
        "include_deferred": pool.include_deferred,
    })
}

fn apply_pool(pool: &mut crate::AirflowPool, fields: &Map<String, Value>) -> Result<(), Problem> {
    for (field, value) in fields {
        match field.as_str() {
            "name" => pool.name = required_text(fields, field)?,
            "slots" => {
                pool.slots = integer(value, field)?.ok_or_else(|| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "{'slots': ['Field may not be null.']}",
                    )
                })?;
            }
            "description" => pool.description = text(value, field)?,
            _ => {
                pool.include_deferred = value.as_bool().ok_or_else(|| {
                    Problem::new(
                        StatusCode::BAD_REQUEST,
                        "{'include_deferred': ['Not a valid boolean.']}",
                    )
                })?;
            }
        }
    }
    Ok(())
}

async fn list_pools(
    State(app): State<App>,
    Path(short): Path<String>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Response, Problem> {
    let paging = paging(query.as_deref())?;
    read(&app, &headers, &short, |objects| {
        let (page, total) = page(&objects.pools, paging);
        let items: Vec<Value> = page.iter().map(pool_answer).collect();
        Ok(Json(json!({ "pools": items, "total_entries": total })).into_response())
    })
}

async fn get_pool(
    State(app): State<App>,
    Path((short, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    read(&app, &headers, &short, |objects| {
        let mut all = objects.pools.iter();
        let found = all
            .find(|p| p.name == name)
            .ok_or_else(|| not_found("Pool", &name))?;
        Ok(Json(pool_answer(found)).into_response())
    })
}

async fn create_pool(
    State(app): State<App>,
    Path(short): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = parse_body(&body, POOL_FIELDS, &["name", "slots"])?;
    write(&app, &headers, &short, |objects| {
        let name = required_text(&fields, "name")?;
        if objects.pools.iter().any(|p| p.name == name) {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                format!("Pool: {name} already exists"),
            ));
        }
        let mut pool = crate::AirflowPool::new(&name, 0);
        apply_pool(&mut pool, &fields)?;
        let answer = pool_answer(&pool);
        objects.pools.push(pool);
        Ok(Json(answer).into_response())
    })
}

async fn update_pool(
    State(app): State<App>,
    Path((short, name)): Path<(String, String)>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Result<Response, Problem> {
    let fields = parse_body(&body, POOL_FIELDS, &["name", "slots"])?;
    if fields.get("name").and_then(Value::as_str) != Some(name.as_str()) {
        // Airflow renames pools through PATCH, except `default_pool`; the emulator renames none.
        return Err(mismatch("name"));
    }
    let fields = masked(query.as_deref(), fields, POOL_FIELDS)?;
    write(&app, &headers, &short, |objects| {
        let mut all = objects.pools.iter_mut();
        let found = all
            .find(|p| p.name == name)
            .ok_or_else(|| not_found("Pool", &name))?;
        let mut changed = found.clone();
        apply_pool(&mut changed, &fields)?;
        *found = changed;
        Ok(Json(pool_answer(found)).into_response())
    })
}
