//! Astro's Platform API (`/platform/v1beta1`): the routes, their error answers, and the
//! request parsing they share.
//!
//! Each operation knows which status codes the spec lists for it: where the spec lists no
//! 404 (listing deployments, finalizing a deploy, ...), a missing object answers 403, as Astro
//! does for objects a token cannot see. Bodies are parsed by hand rather than with axum's
//! `Json`, whose rejections (415, 422) are codes the spec never lists.

mod deployments;
mod deploys;
mod hibernation;
mod image_check;
mod org;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::OnceLock;

use axum::handler::Handler;
use axum::routing::{any, on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

use crate::server::App;
use crate::EmulatorError;

/// Where Astro serves the Platform API.
pub(crate) const PREFIX: &str = "/platform/v1beta1";

/// The operations the emulator serves, each with its method and spec path template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    GetOrganization,
    GetDeploymentOptions,
    ListDeployments,
    CreateDeployment,
    GetDeployment,
    UpdateDeployment,
    DeleteDeployment,
    ListDeploys,
    CreateDeploy,
    GetDeploy,
    UpdateDeploy,
    FinalizeDeploy,
    DeployRollback,
    UpdateHibernationOverride,
    DeleteHibernationOverride,
    ListWorkspaces,
    GetWorkspace,
}

/// How one operation is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verb {
    Get,
    Post,
    Delete,
}

impl Verb {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Delete => "DELETE",
        }
    }

    fn filter(self) -> MethodFilter {
        match self {
            Verb::Get => MethodFilter::GET,
            Verb::Post => MethodFilter::POST,
            Verb::Delete => MethodFilter::DELETE,
        }
    }
}

/// One served operation: how it is called, its spec path template, and what answers it.
pub(crate) struct Served {
    pub(crate) verb: Verb,
    pub(crate) template: &'static str,
    pub(crate) route: MethodRouter<App>,
}

pub(crate) fn serve<H, T>(verb: Verb, template: &'static str, handler: H) -> Served
where
    H: Handler<T, App>,
    T: 'static,
{
    Served {
        verb,
        template,
        route: on(verb.filter(), handler),
    }
}

/// Every served operation, with the path templates exactly as the spec writes them (without
/// the prefix). Both the router ([`routes`]) and the list the spec checks read
/// ([`operations`]) are made from this one table, so that a route cannot be served without
/// being checked against the spec.
fn table() -> Vec<Served> {
    use Verb::{Delete, Get, Post};

    const ORG: &str = "/organizations/{organizationId}";
    const DEPLOYMENTS: &str = "/organizations/{organizationId}/deployments";
    const DEPLOYMENT: &str = "/organizations/{organizationId}/deployments/{deploymentId}";
    const DEPLOYS: &str = "/organizations/{organizationId}/deployments/{deploymentId}/deploys";
    const DEPLOY: &str =
        "/organizations/{organizationId}/deployments/{deploymentId}/deploys/{deployId}";
    const FINALIZE: &str =
        "/organizations/{organizationId}/deployments/{deploymentId}/deploys/{deployId}/finalize";
    const ROLLBACK: &str =
        "/organizations/{organizationId}/deployments/{deploymentId}/deploys/{deployId}/rollback";
    const OVERRIDE: &str =
        "/organizations/{organizationId}/deployments/{deploymentId}/hibernation-override";

    vec![
        serve(Get, "/organizations", org::list_organizations),
        serve(Get, ORG, org::get_organization),
        serve(
            Get,
            "/organizations/{organizationId}/deployment-options",
            org::deployment_options,
        ),
        serve(Get, DEPLOYMENTS, deployments::list),
        serve(Post, DEPLOYMENTS, deployments::create),
        serve(Get, DEPLOYMENT, deployments::get),
        serve(Post, DEPLOYMENT, deployments::update),
        serve(Delete, DEPLOYMENT, deployments::delete),
        serve(Get, DEPLOYS, deploys::list),
        serve(Post, DEPLOYS, deploys::create),
        serve(Get, DEPLOY, deploys::get),
        serve(Post, DEPLOY, deploys::update),
        serve(Post, FINALIZE, deploys::finalize),
        serve(Post, ROLLBACK, deploys::rollback),
        serve(Post, OVERRIDE, hibernation::set),
        serve(Delete, OVERRIDE, hibernation::remove),
        serve(
            Get,
            "/organizations/{organizationId}/workspaces",
            org::list_workspaces,
        ),
        serve(
            Get,
            "/organizations/{organizationId}/workspaces/{workspaceId}",
            org::get_workspace,
        ),
    ]
}

/// `(method, path template)` of every served operation, as the spec writes them.
pub(crate) fn operations() -> &'static [(&'static str, &'static str)] {
    static OPERATIONS: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        table()
            .iter()
            .map(|served| (served.verb.name(), served.template))
            .collect()
    })
}

impl Op {
    /// Whether the spec lists 404 for this operation.
    fn lists_not_found(self) -> bool {
        !matches!(
            self,
            Self::GetDeploymentOptions
                | Self::ListDeployments
                | Self::CreateDeployment
                | Self::FinalizeDeploy
                | Self::ListWorkspaces
        )
    }
}

/// The routes, registered under the spec's own parameter names so that a recorded exchange's
/// matched route is the spec's path template; anything else under the prefix answers 404.
pub(crate) fn routes() -> Router<App> {
    router_of(PREFIX, table())
}

/// The router of `table` under `prefix`: each served operation, and a 404 in the API's error
/// shape for anything else under the prefix. Also the IAM API's.
pub(crate) fn router_of(prefix: &str, table: Vec<Served>) -> Router<App> {
    let mut router = Router::new();
    // Routing one path again adds the method to it (axum refuses the same method twice).
    for served in table {
        router = router.route(&format!("{prefix}{}", served.template), served.route);
    }
    router
        .route(&format!("{prefix}/{{*rest}}"), any(not_served))
        .method_not_allowed_fallback(not_served)
}

async fn not_served(method: axum::http::Method, uri: axum::http::Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("the emulator does not serve `{method} {}`", uri.path()),
    )
}

/// An answer in the spec's `Error` shape.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    pub(crate) fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 404 where the operation lists it, else 403.
    pub(crate) fn not_found(op: Op, message: impl Into<String>) -> Self {
        let status = if op.lists_not_found() {
            StatusCode::NOT_FOUND
        } else {
            StatusCode::FORBIDDEN
        };
        Self::new(status, message)
    }

    pub(crate) fn storage(error: EmulatorError) -> Self {
        tracing::warn!(%error, "the emulator could not save its state");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("emulator storage failed: {error}"),
        )
    }
}

/// The spec's `Error` body.
pub(crate) fn error_body(status: StatusCode, message: &str) -> Value {
    json!({
        "message": message,
        "requestId": crate::seed::new_id(),
        "statusCode": status.as_u16(),
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        tracing::debug!(status = self.status.as_u16(), message = %self.message, "refusing");
        (self.status, Json(error_body(self.status, &self.message))).into_response()
    }
}

/// Parses a JSON object body: names missing `required` fields, then decodes it into `T`.
pub(crate) fn parse_body<T: DeserializeOwned>(
    bytes: &[u8],
    required: &[&str],
) -> Result<T, ApiError> {
    let value = parse_object(bytes)?;
    check_required(&value, required)?;

    serde_json::from_value(value)
        .map_err(|error| ApiError::bad_request(format!("invalid request body: {error}")))
}

/// Parses a body that must be a JSON object.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Value, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "the request body is empty: expected a JSON object",
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        ApiError::bad_request(format!("the request body is not valid JSON: {error}"))
    })?;

    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    Ok(value)
}

/// Refuses a body that lacks (or nulls) any of `required`, naming every missing field.
pub(crate) fn check_required(value: &Value, required: &[&str]) -> Result<(), ApiError> {
    let missing: Vec<String> = required
        .iter()
        .filter(|field| value.get(**field).is_none_or(Value::is_null))
        .map(|field| format!("`{field}`"))
        .collect();

    match missing.len() {
        0 => Ok(()),
        1 => Err(ApiError::bad_request(format!(
            "missing required field {}",
            missing[0]
        ))),
        _ => Err(ApiError::bad_request(format!(
            "missing required fields {}",
            missing.join(", ")
        ))),
    }
}

/// Refuses text longer than the spec's `maxLength`.
pub(crate) fn check_length(field: &str, text: Option<&str>, max: usize) -> Result<(), ApiError> {
    let length = text.map_or(0, |text| text.chars().count());
    if length <= max {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "`{field}` is {length} characters long; at most {max} are allowed"
    )))
}

/// The query string's pairs, decoded, in order.
#[derive(Debug, Default)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub(crate) fn parse(raw: Option<&str>) -> Self {
        let pairs = url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes());
        Self(pairs.into_owned().collect())
    }

    /// Every pair, in order.
    pub(crate) fn pairs(self) -> Vec<(String, String)> {
        self.0
    }

    /// A list parameter, given as repeated keys, as comma-separated values, or both.
    pub(crate) fn list(&self, key: &str) -> Option<Vec<String>> {
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(name, _)| name == key)
            .flat_map(|(_, value)| value.split(','))
            .map(str::trim)
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .collect();
        (!values.is_empty()).then_some(values)
    }

    pub(crate) fn single(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }

    /// A non-negative integer parameter within the spec's bounds.
    pub(crate) fn count(&self, key: &str, default: u32, max: Option<u32>) -> Result<u32, ApiError> {
        let Some(text) = self.single(key) else {
            return Ok(default);
        };
        let value: u32 = text.parse().map_err(|_| {
            ApiError::bad_request(format!(
                "`{key}` must be a non-negative integer, not `{text}`"
            ))
        })?;

        match max {
            Some(max) if value > max => Err(ApiError::bad_request(format!(
                "`{key}` must be at most {max}, not {value}"
            ))),
            _ => Ok(value),
        }
    }

    /// `sorts`: `field:asc` or `field:desc` over `name`, `createdAt`, `updatedAt`.
    pub(crate) fn sorts(&self) -> Result<Vec<(String, bool)>, ApiError> {
        let mut sorts = Vec::new();
        for sort in self.list("sorts").unwrap_or_default() {
            let parsed = sort.split_once(':').filter(|(field, order)| {
                ["name", "createdAt", "updatedAt"].contains(field)
                    && ["asc", "desc"].contains(order)
            });
            let (field, order) = parsed.ok_or_else(|| {
                ApiError::bad_request(format!(
                    "`sorts` value `{sort}` is not one of `name`, `createdAt`, `updatedAt` \
                     followed by `:asc` or `:desc`"
                ))
            })?;
            sorts.push((field.to_owned(), order == "desc"));
        }
        Ok(sorts)
    }
}

/// A page of `items` and the paging numbers the answer repeats.
pub(crate) fn page<T>(items: Vec<T>, offset: u32, limit: u32) -> (Vec<T>, u32) {
    let total = u32::try_from(items.len()).unwrap_or(u32::MAX);
    let page = items
        .into_iter()
        .skip(offset as usize)
        .take(limit as usize)
        .collect();
    (page, total)
}

/// Orders `items` by the `sorts` asked for; the keys are `(name, createdAt, updatedAt)`.
pub(crate) fn sort_by<T>(items: &mut [T], sorts: &[(String, bool)], key: impl Fn(&T) -> [&str; 3]) {
    for (field, descending) in sorts.iter().rev() {
        let index = match field.as_str() {
            "name" => 0,
            "createdAt" => 1,
            _ => 2,
        };
        items.sort_by(|a, b| {
            let order = key(a)[index].cmp(key(b)[index]);
            if *descending {
                order.reverse()
            } else {
                order
            }
        });
    }
}

/// A successful JSON answer.
pub(crate) fn ok<T: serde::Serialize>(value: T) -> Response {
    Json(value).into_response()
}
