//! The API token routes: who may reach which token, and the checks of each request.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ApiToken, NewToken, TokenRole, TokenType};
use crate::auth::Caller;
use crate::platform::{check_length, ok, page, parse_body, ApiError, Query};
use crate::server::App;
use crate::state::State as EmulatorState;

/// How far a caller reaches in IAM, and whether it may change what it reaches.
struct Access {
    /// `None`: every token of the organization; `Some(id)`: those of one Workspace.
    workspace: Option<String>,
    may_manage: bool,
}

impl Access {
    /// The organization in the path must exist (404) and be the caller's (403); a Deployment
    /// token may not use IAM at all (403).
    fn of(state: &EmulatorState, caller: &Caller, org: &str) -> Result<Self, ApiError> {
        if state.data.organization.id != org {
            let message = format!("organization `{org}` not found");
            return Err(ApiError::new(StatusCode::NOT_FOUND, message));
        }
        caller.check_org(org)?;

        let Some(permissions) = &caller.permissions else {
            return Ok(Self {
                workspace: None,
                may_manage: true,
            });
        };
        let roles = super::find(state, &caller.subject_id).map_or(&[][..], |r| &r.token.roles);
        let holds = |kind: TokenType, role: &str| {
            roles
                .iter()
                .any(|r| r.entity_type == kind && r.role == role)
        };

        if permissions.contains(&format!("organizationId:{org}")) {
            return Ok(Self {
                workspace: None,
                may_manage: holds(TokenType::Organization, "ORGANIZATION_OWNER"),
            });
        }
        let workspace = permissions
            .iter()
            .find_map(|permission| permission.strip_prefix("workspaceId:"));
        let workspace = workspace.ok_or_else(|| {
            ApiError::forbidden(
                "a Deployment API token's roles grant no IAM permission: use an Organization \
                 or Workspace token to manage API tokens",
            )
        })?;
        Ok(Self {
            workspace: Some(workspace.to_owned()),
            may_manage: holds(TokenType::Workspace, "WORKSPACE_OWNER"),
        })
    }

    /// Whether a token scoped by `roles` lies within the caller's reach.
    fn reaches(&self, state: &EmulatorState, roles: &[TokenRole]) -> bool {
        let Some(workspace) = &self.workspace else {
            return true;
        };
        !roles.is_empty()
            && roles.iter().all(|role| match role.entity_type {
                TokenType::Organization => false,
                TokenType::Workspace => role.entity_id == *workspace,
                TokenType::Deployment => state.data.deployments.iter().any(|r| {
                    r.deployment.id == role.entity_id && r.deployment.workspace_id == *workspace
                }),
            })
    }

    fn check_manage(&self) -> Result<(), ApiError> {
        if self.may_manage {
            return Ok(());
        }
        Err(ApiError::forbidden(
            "this API token may read API tokens but not change them: that needs the \
             `ORGANIZATION_OWNER` role (or `WORKSPACE_OWNER` within its Workspace)",
        ))
    }

    /// The token `id`, if it exists (404) and lies within reach (403).
    fn token<'a>(&self, state: &'a EmulatorState, id: &str) -> Result<&'a ApiToken, ApiError> {
        let record = super::find(state, id).ok_or_else(|| {
            ApiError::new(StatusCode::NOT_FOUND, format!("API token `{id}` not found"))
        })?;
        if self.reaches(state, &record.token.roles) {
            return Ok(&record.token);
        }
        Err(ApiError::forbidden(format!(
            "API token `{id}` lies outside this token's Workspace"
        )))
    }
}

/// `ApiTokensPaginated`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokensPage {
    tokens: Vec<ApiToken>,
    limit: u32,
    offset: u32,
    total_count: u32,
}

pub(super) async fn list(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let query = Query::parse(raw.as_deref());
    let offset = query.count("offset", 0, None)?;
    let limit = query.count("limit", 20, Some(1000))?;
    let sorts = sorts(&query)?;
    let only_org = match query.single("includeOnlyOrganizationTokens") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`includeOnlyOrganizationTokens` must be `true` or `false`, not `{other}`"
            )))
        }
    };
    let on = |kind: TokenType, key: &str| {
        let id = query.single(key).map(str::to_owned);
        move |token: &ApiToken| {
            id.as_ref().is_none_or(|id| {
                let mut roles = token.roles.iter();
                roles.any(|role| role.entity_type == kind && role.entity_id == *id)
            })
        }
    };
    let (on_workspace, on_deployment) = (
        on(TokenType::Workspace, "workspaceId"),
        on(TokenType::Deployment, "deploymentId"),
    );

    let mut tokens: Vec<ApiToken> = app.read(|state| {
        let access = Access::of(state, &caller, &org)?;
        let tokens = state.data.iam.tokens.iter().map(|record| &record.token);
        let tokens = tokens.filter(|token| {
            access.reaches(state, &token.roles)
                && (!only_org || token.kind == TokenType::Organization)
                && on_workspace(token)
                && on_deployment(token)
        });
        Ok(tokens.cloned().collect())
    })?;

    sort(&mut tokens, &sorts);
    let (tokens, total_count) = page(tokens, offset, limit);
    Ok(ok(TokensPage {
        tokens,
        limit,
        offset,
        total_count,
    }))
}

/// `sorts`: `field:asc` or `field:desc` over the fields the spec lists for tokens.
fn sorts(query: &Query) -> Result<Vec<(String, bool)>, ApiError> {
    const FIELDS: &[&str] = &[
        "name",
        "description",
        "createdAt",
        "updatedAt",
        "tokenStartAt",
    ];
    let mut sorts = Vec::new();
    for sort in query.list("sorts").unwrap_or_default() {
        let parsed = sort
            .split_once(':')
            .filter(|(field, order)| FIELDS.contains(field) && ["asc", "desc"].contains(order));
        let (field, order) = parsed.ok_or_else(|| {
            ApiError::bad_request(format!(
                "`sorts` value `{sort}` is not one of {} followed by `:asc` or `:desc`",
                FIELDS
                    .iter()
                    .map(|f| format!("`{f}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        sorts.push((field.to_owned(), order == "desc"));
    }
    Ok(sorts)
}

fn sort(tokens: &mut [ApiToken], sorts: &[(String, bool)]) {
    for (field, descending) in sorts.iter().rev() {
        let key = |token: &ApiToken| -> String {
            match field.as_str() {
                "name" => token.name.clone(),
                "description" => token.description.clone(),
                "createdAt" => token.created_at.clone(),
                "updatedAt" => token.updated_at.clone(),
                _ => token.start_at.clone(),
            }
        };
        tokens.sort_by(|a, b| {
            let order = key(a).cmp(&key(b));
            if *descending {
                order.reverse()
            } else {
                order
            }
        });
    }
}

pub(super) async fn get(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let token = app.read(|state| {
        let access = Access::of(state, &caller, &org)?;
        Ok(access.token(state, &id)?.clone())
    })?;
    Ok(ok(token))
}

/// `CreateApiTokenRequest`, before its checks.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct CreateBody {
    name: String,
    role: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    entity_id: Option<String>,
    #[serde(default)]
    token_expiry_period_in_days: Option<Value>,
}

pub(super) async fn create(
    State(app): State<App>,
    caller: Caller,
    Path(org): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: CreateBody = parse_body(&body, &["name", "role", "type"])?;
    let kind = TokenType::parse(&body.kind).ok_or_else(|| {
        ApiError::bad_request(format!(
            "`type` must be `DEPLOYMENT`, `WORKSPACE` or `ORGANIZATION`, not `{}`",
            body.kind
        ))
    })?;
    if !kind.roles().contains(&body.role.as_str()) {
        return Err(ApiError::bad_request(format!(
            "`role` `{}` is not a role of a {} token: one of {}",
            body.role,
            body.kind,
            kind.roles().join(", ")
        )));
    }
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("`name` must not be empty"));
    }
    let expiry = expiry(body.token_expiry_period_in_days.as_ref())?;

    let created = app.write(|state| {
        let access = Access::of(state, &caller, &org)?;
        access.check_manage()?;
        let entity_id = entity(state, kind, &org, body.entity_id.as_deref())?;
        let roles = vec![TokenRole {
            entity_id,
            entity_type: kind,
            role: body.role.clone(),
        }];
        if !access.reaches(state, &roles) {
            return Err(ApiError::forbidden(
                "a Workspace token may only create tokens within its own Workspace",
            ));
        }

        let new = NewToken {
            name: body.name.clone(),
            description: body.description.clone().unwrap_or_default(),
            kind,
            roles,
            expiry_period_in_days: expiry,
        };
        Ok(super::create(state, new, &caller.subject()))
    })?;
    Ok(ok(created))
}

/// `tokenExpiryPeriodInDays`: an integer from 1 to 3650, or absent for a token that never
/// expires.
fn expiry(value: Option<&Value>) -> Result<Option<u32>, ApiError> {
    let Some(value) = value.filter(|value| !value.is_null()) else {
        return Ok(None);
    };
    let days = value.as_u64().and_then(|days| u32::try_from(days).ok());
    match days {
        Some(days @ 1..=3650) => Ok(Some(days)),
        _ => Err(ApiError::bad_request(format!(
            "`tokenExpiryPeriodInDays` must be an integer from 1 to 3650, not `{value}`"
        ))),
    }
}

/// The entity a new token's role is on: the organization, or the Workspace or Deployment
/// `entityId` names, which must exist.
fn entity(
    state: &EmulatorState,
    kind: TokenType,
    org: &str,
    entity_id: Option<&str>,
) -> Result<String, ApiError> {
    if kind == TokenType::Organization {
        return Ok(org.to_owned());
    }
    let id = entity_id.filter(|id| !id.is_empty()).ok_or_else(|| {
        ApiError::bad_request("`entityId` is required for a WORKSPACE or DEPLOYMENT token")
    })?;

    let exists = match kind {
        TokenType::Workspace => state.workspace(id).is_some(),
        _ => state.data.deployments.iter().any(|r| r.deployment.id == id),
    };
    if exists {
        return Ok(id.to_owned());
    }
    let what = if kind == TokenType::Workspace {
        "workspace"
    } else {
        "deployment"
    };
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        format!("{what} `{id}` not found"),
    ))
}

/// `UpdateApiTokenRequest`.
#[derive(Deserialize)]
struct UpdateBody {
    name: String,
    #[serde(default)]
    description: Option<String>,
}

pub(super) async fn update(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: UpdateBody = parse_body(&body, &["name"])?;
    if body.name.is_empty() {
        return Err(ApiError::bad_request("`name` must not be empty"));
    }
    check_length("name", Some(&body.name), 256)?;
    check_length("description", body.description.as_deref(), 500)?;

    let updated = app.write(|state| {
        let access = Access::of(state, &caller, &org)?;
        access.token(state, &id)?;
        access.check_manage()?;

        let record = super::find_mut(state, &id).ok_or_else(|| gone(&id))?;
        let token = &mut record.token;
        token.name = body.name.clone();
        if let Some(description) = &body.description {
            token.description = description.clone();
        }
        token.updated_at = crate::clock::rfc3339(crate::clock::now());
        token.updated_by = caller.subject();
        Ok(token.clone())
    })?;
    Ok(ok(updated))
}

pub(super) async fn rotate(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let rotated = app.write(|state| {
        let access = Access::of(state, &caller, &org)?;
        access.token(state, &id)?;
        access.check_manage()?;
        super::rotate(state, &id, &caller.subject()).ok_or_else(|| gone(&id))
    })?;
    Ok(ok(rotated))
}

pub(super) async fn delete(
    State(app): State<App>,
    caller: Caller,
    Path((org, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    app.write(|state| {
        let access = Access::of(state, &caller, &org)?;
        access.token(state, &id)?;
        access.check_manage()?;
        state.data.iam.tokens.retain(|record| record.token.id != id);
        Ok(())
    })?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn gone(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("API token `{id}` not found"))
}
