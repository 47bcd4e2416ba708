//! Astro's IAM API (`/iam/v1beta1`), the API token part: list, get, create, update, rotate and
//! delete tokens, each with its roles, shaped as `api-specs/iam-v1beta1.yaml` says.
//!
//! IAM is the truth about which API tokens exist. An API token authorizes (on every route of
//! the emulator) only while IAM has a token with its `apiTokenId` and the token's value is one
//! IAM handed out for it: a deleted token, and the value a rotation replaced, answer 401. IAM
//! keeps a SHA-256 of each value, never the value, so a token is shown once: in the answer to
//! the create or rotate that made it. The seeded Organization token is an IAM token like any
//! other, and so is every token [`crate::RunningEmulator::mint_token`] makes.
//!
//! Who may use IAM, as on Astro: a user session, or an Organization token, reaches every token
//! of the organization; a Workspace token reaches the Workspace and Deployment tokens of its
//! Workspace. Reading needs no particular role; creating, changing, rotating and deleting need
//! `ORGANIZATION_OWNER` (or a user session) or, within a Workspace, `WORKSPACE_OWNER`. A
//! Deployment token's roles grant no IAM permission: every IAM route answers it 403.
//!
//! Each restart with a state file mints a new value for the seeded token (for
//! `GET /emulator/info`) and keeps the old ones valid, so their hashes pile up until the token
//! is rotated; keeping only the newest few would bound that, at the price of older values.

mod tokens;

use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use time::OffsetDateTime;

use crate::auth::{self, Caller};
use crate::clock;
use crate::model::Subject;
use crate::platform::{router_of, serve, Served, Verb};
use crate::server::App;
use crate::state::State;

/// Where Astro serves the IAM API.
pub(crate) const PREFIX: &str = "/iam/v1beta1";

const TOKENS: &str = "/organizations/{organizationId}/tokens";
const TOKEN: &str = "/organizations/{organizationId}/tokens/{tokenId}";
const ROTATE: &str = "/organizations/{organizationId}/tokens/{tokenId}/rotate";

/// Every served IAM operation, with its path template exactly as the spec writes it. The
/// router ([`routes`]) and the list the spec checks read ([`operations`]) are both made from
/// this one table, so that a route cannot be served without being checked.
fn table() -> Vec<Served> {
    use Verb::{Delete, Get, Post};

    vec![
        serve(Get, TOKENS, tokens::list),
        serve(Post, TOKENS, tokens::create),
        serve(Get, TOKEN, tokens::get),
        serve(Post, TOKEN, tokens::update),
        serve(Delete, TOKEN, tokens::delete),
        serve(Post, ROTATE, tokens::rotate),
    ]
}

/// `(method, path template)` of every served IAM operation.
pub(crate) fn operations() -> &'static [(&'static str, &'static str)] {
    static OPERATIONS: OnceLock<Vec<(&'static str, &'static str)>> = OnceLock::new();
    OPERATIONS.get_or_init(|| {
        table()
            .iter()
            .map(|served| (served.verb.name(), served.template))
            .collect()
    })
}

/// How long a token made without `tokenExpiryPeriodInDays` lasts: the spec says it never
/// expires, but a JWT needs an `exp`, so it gets one a century away and no `endAt`.
const NEVER: Duration = Duration::from_secs(100 * 365 * 24 * 60 * 60);

/// The routes, under the spec's own parameter names, so that a recorded exchange's matched
/// route is the spec's path template.
pub(crate) fn routes() -> Router<App> {
    router_of(PREFIX, table())
}

/// The IAM part of the state.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub(crate) struct IamData {
    /// In creation order.
    #[serde(default)]
    pub tokens: Vec<TokenRecord>,
}

/// An API token as answered, plus what IAM keeps to itself.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenRecord {
    pub token: ApiToken,
    /// SHA-256 (hex) of each value that authorizes as this token.
    pub value_hashes: Vec<String>,
}

/// `ApiToken`. `token` (the value) is only ever set on the copy answered by a create or a
/// rotate, never on the stored one.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ApiToken {
    pub id: String,
    pub name: String,
    pub description: String,
    pub short_token: String,
    #[serde(rename = "type")]
    pub kind: TokenType,
    pub start_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_period_in_days: Option<u32>,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: Subject,
    pub updated_by: Subject,
    pub roles: Vec<TokenRole>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// `ApiTokenRole`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct TokenRole {
    pub entity_id: String,
    pub entity_type: TokenType,
    pub role: String,
}

/// The scope of a token, and the kind of entity a role is on.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub(crate) enum TokenType {
    Deployment,
    Workspace,
    Organization,
}

impl TokenType {
    fn parse(text: &str) -> Option<Self> {
        match text {
            "DEPLOYMENT" => Some(Self::Deployment),
            "WORKSPACE" => Some(Self::Workspace),
            "ORGANIZATION" => Some(Self::Organization),
            _ => None,
        }
    }

    /// The roles a token of this scope may hold.
    fn roles(self) -> &'static [&'static str] {
        match self {
            Self::Organization => &[
                "ORGANIZATION_OWNER",
                "ORGANIZATION_BILLING_ADMIN",
                "ORGANIZATION_MEMBER",
            ],
            Self::Workspace => &[
                "WORKSPACE_OWNER",
                "WORKSPACE_OPERATOR",
                "WORKSPACE_AUTHOR",
                "WORKSPACE_MEMBER",
                "WORKSPACE_ACCESSOR",
            ],
            Self::Deployment => &["DEPLOYMENT_ADMIN"],
        }
    }

    /// The `permissions` claim entry of a role on `entity_id`.
    fn permission(self, entity_id: &str) -> String {
        let kind = match self {
            Self::Organization => "organizationId",
            Self::Workspace => "workspaceId",
            Self::Deployment => "deploymentId",
        };
        format!("{kind}:{entity_id}")
    }
}

/// What a new token is: everything but the ids, times and value IAM gives it.
pub(crate) struct NewToken {
    pub name: String,
    pub description: String,
    pub kind: TokenType,
    pub roles: Vec<TokenRole>,
    pub expiry_period_in_days: Option<u32>,
}

/// SHA-256 of a token value, in hex.
fn hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The `shortToken` of a value: the start of its hash, which names the token without giving
/// any of it away (a JWT's first characters are the same for every token).
fn short_token(value: &str) -> String {
    hash(value)[..8].to_owned()
}

/// Refuses a verified API token that IAM does not hold (deleted, or never made) or whose value
/// a rotation replaced. User session tokens are not IAM's. The message is for a 401.
pub(crate) fn check_live(state: &State, caller: &Caller, value: &str) -> Result<(), String> {
    if !caller.is_api_token() {
        return Ok(());
    }
    let id = &caller.subject_id;
    let record = find(state, id).ok_or_else(|| {
        format!("API token `{id}` does not exist (it was deleted, or never made by IAM)")
    })?;

    if record.value_hashes.contains(&hash(value)) {
        return Ok(());
    }
    Err(format!(
        "API token `{id}` was rotated: this value no longer authorizes; use the value the \
         rotation answered"
    ))
}

pub(crate) fn find<'a>(state: &'a State, id: &str) -> Option<&'a TokenRecord> {
    let mut tokens = state.data.iam.tokens.iter();
    tokens.find(|record| record.token.id == id)
}

fn find_mut<'a>(state: &'a mut State, id: &str) -> Option<&'a mut TokenRecord> {
    let mut tokens = state.data.iam.tokens.iter_mut();
    tokens.find(|record| record.token.id == id)
}

/// Mints a value for token `id` with these roles, lasting `days` (or [`NEVER`]); answers the
/// value, the `endAt`, and the `startAt` (now).
fn mint_value(
    state: &State,
    id: &str,
    roles: &[TokenRole],
    lifetime: Option<Duration>,
) -> (String, Option<String>, String) {
    let now = clock::now();
    let permissions = roles
        .iter()
        .map(|role| role.entity_type.permission(&role.entity_id))
        .collect();
    let org = &state.data.organization.id;
    let value = auth::mint(
        &state.data.keys,
        org,
        id,
        Some(permissions),
        lifetime.unwrap_or(NEVER),
    );

    let end_at = lifetime.map(|lifetime| clock::rfc3339(now + lifetime));
    (value, end_at, clock::rfc3339(now))
}

fn days(days: u32) -> Duration {
    Duration::from_secs(u64::from(days) * 24 * 60 * 60)
}

/// Adds a token to IAM and answers it, value included.
pub(crate) fn create(state: &mut State, new: NewToken, by: &Subject) -> ApiToken {
    let id = crate::seed::new_id();
    let lifetime = new.expiry_period_in_days.map(days);
    let (value, end_at, start_at) = mint_value(state, &id, &new.roles, lifetime);

    let token = ApiToken {
        id,
        name: new.name,
        description: new.description,
        short_token: short_token(&value),
        kind: new.kind,
        start_at: start_at.clone(),
        end_at,
        expiry_period_in_days: new.expiry_period_in_days,
        created_at: start_at.clone(),
        updated_at: start_at,
        created_by: by.clone(),
        updated_by: by.clone(),
        roles: new.roles,
        token: None,
    };
    state.data.iam.tokens.push(TokenRecord {
        token: token.clone(),
        value_hashes: vec![hash(&value)],
    });
    ApiToken {
        token: Some(value),
        ..token
    }
}

/// Gives token `id` a new value and invalidates every older one; answers it, value included.
pub(crate) fn rotate(state: &mut State, id: &str, by: &Subject) -> Option<ApiToken> {
    let record = find(state, id)?;
    let lifetime = record.token.expiry_period_in_days.map(days);
    let (value, end_at, start_at) = mint_value(state, id, &record.token.roles, lifetime);

    let record = find_mut(state, id)?;
    record.value_hashes = vec![hash(&value)];
    let token = &mut record.token;
    token.short_token = short_token(&value);
    token.start_at = start_at.clone();
    token.end_at = end_at;
    token.updated_at = start_at;
    token.updated_by = by.clone();
    Some(ApiToken {
        token: Some(value),
        ..record.token.clone()
    })
}

/// The seeded Organization token: registers it (once) and lets `value`, minted for this run's
/// `GET /emulator/info`, authorize as it until it is rotated or deleted.
pub(crate) fn admit_seeded(state: &mut State, value: &str, lifetime: Duration) {
    let id = state.data.seed.api_token_id.clone();
    let now = clock::now();
    let end_at = Some(clock::rfc3339(now + lifetime));

    if let Some(record) = find_mut(state, &id) {
        record.value_hashes.push(hash(value));
        record.token.end_at = end_at;
        return;
    }
    let org = state.data.organization.id.clone();
    let stamp = clock::rfc3339(now);
    let by = crate::seed::user_subject(&state.data.seed.user_id);
    let token = ApiToken {
        id: id.clone(),
        name: "emulator-api-token".to_owned(),
        description: "The Organization API token seeded by the Astro emulator".to_owned(),
        short_token: short_token(value),
        kind: TokenType::Organization,
        start_at: stamp.clone(),
        end_at,
        expiry_period_in_days: u32::try_from(lifetime.as_secs() / 86_400).ok(),
        created_at: stamp.clone(),
        updated_at: stamp,
        created_by: by.clone(),
        updated_by: by,
        roles: vec![owner_of(TokenType::Organization, &org)],
        token: None,
    };
    state.data.iam.tokens.push(TokenRecord {
        token,
        value_hashes: vec![hash(value)],
    });
}

/// Registers a token minted outside IAM (by a test, with `permissions` of its choice) under
/// the id it carries, with the widest role of each permission.
pub(crate) fn admit_minted(
    state: &mut State,
    id: &str,
    permissions: &[String],
    value: &str,
    expires_at: OffsetDateTime,
) {
    let roles: Vec<TokenRole> = permissions
        .iter()
        .filter_map(|permission| {
            let (kind, entity) = permission.split_once(':')?;
            let kind = match kind {
                "organizationId" => TokenType::Organization,
                "workspaceId" => TokenType::Workspace,
                "deploymentId" => TokenType::Deployment,
                _ => return None,
            };
            Some(owner_of(kind, entity))
        })
        .collect();
    let widest = [
        TokenType::Organization,
        TokenType::Workspace,
        TokenType::Deployment,
    ];
    let kind = widest
        .into_iter()
        .find(|kind| roles.iter().any(|role| role.entity_type == *kind))
        .unwrap_or(TokenType::Deployment);

    let stamp = clock::rfc3339(clock::now());
    let by = crate::seed::user_subject(&state.data.seed.user_id);
    let token = ApiToken {
        id: id.to_owned(),
        name: format!("minted-{}", &id[id.len().saturating_sub(6)..]),
        description: "Minted by a test through the emulator's handle".to_owned(),
        short_token: short_token(value),
        kind,
        start_at: stamp.clone(),
        end_at: Some(clock::rfc3339(expires_at)),
        expiry_period_in_days: None,
        created_at: stamp.clone(),
        updated_at: stamp,
        created_by: by.clone(),
        updated_by: by,
        roles,
        token: None,
    };
    state.data.iam.tokens.push(TokenRecord {
        token,
        value_hashes: vec![hash(value)],
    });
}

/// The widest role on an entity of this kind.
fn owner_of(kind: TokenType, entity_id: &str) -> TokenRole {
    TokenRole {
        entity_id: entity_id.to_owned(),
        entity_type: kind,
        role: kind.roles()[0].to_owned(),
    }
}
