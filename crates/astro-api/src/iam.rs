//! The IAM API calls about API tokens (`/iam/v1beta1`): list, get, create, update, rotate and
//! delete, named as in `iam-v1beta1.yaml`.
//!
//! A token's value appears only in the answer of a create or a rotate, as an [`ApiToken`],
//! which never prints. Roles are strings as the spec has them (custom roles exist); the token
//! and entity type keep values this client does not know.

use std::fmt;

use reqwest::Method;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use time::OffsetDateTime;

use crate::client::{segment, Api, Call, Client};
use crate::error::{Error, Subject};
use crate::models::{api_enum, SubjectProfile};
use crate::token::ApiToken;

/// How many tokens a list call asks for per page.
const PAGE_SIZE: u32 = 100;

api_enum!(
    /// The scope of an API token, and the kind of entity one of its roles is on.
    TokenType {
        Deployment => "DEPLOYMENT",
        Workspace => "WORKSPACE",
        Organization => "ORGANIZATION",
    }
);

/// `ApiTokenRole`: a role of a token on one entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRole {
    pub entity_id: String,
    pub entity_type: TokenType,
    /// `ORGANIZATION_OWNER`, `WORKSPACE_OPERATOR`, `DEPLOYMENT_ADMIN`, or a custom role.
    pub role: String,
}

/// `ApiToken`: an API token as IAM describes it.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamToken {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub short_token: String,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    pub start_at: String,
    /// When the token stops working; `None` for a token that never expires.
    pub end_at: Option<String>,
    pub expiry_period_in_days: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
    pub created_by: Option<SubjectProfile>,
    pub updated_by: Option<SubjectProfile>,
    pub last_used_at: Option<String>,
    #[serde(default)]
    pub roles: Vec<TokenRole>,
    /// The value: only in the answer of a create or a rotate.
    #[serde(default, deserialize_with = "secret")]
    pub token: Option<ApiToken>,
}

impl IamToken {
    /// `endAt` as a time; `None` when the token never expires or the time does not parse.
    pub fn end_at_time(&self) -> Option<OffsetDateTime> {
        let end_at = self.end_at.as_deref()?;
        OffsetDateTime::parse(end_at, &time::format_description::well_known::Rfc3339).ok()
    }
}

impl fmt::Debug for IamToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamToken")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("token_type", &self.token_type)
            .field("end_at", &self.end_at)
            .field("roles", &self.roles)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// A token value in an answer, straight into the type that never prints it.
fn secret<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<ApiToken>, D::Error> {
    let Some(text) = Option::<String>::deserialize(deserializer)? else {
        return Ok(None);
    };
    ApiToken::new(text)
        .map(Some)
        .map_err(|_| serde::de::Error::custom("the token value is empty or malformed"))
}

/// `CreateApiTokenRequest`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateTokenRequest {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub token_type: TokenType,
    pub role: String,
    /// The Workspace or Deployment the token is scoped to; required unless `ORGANIZATION`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<String>,
    /// From 1 to 3650; `None` makes a token that never expires.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_expiry_period_in_days: Option<u32>,
}

/// `UpdateApiTokenRequest`: a token's name and description.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateTokenRequest {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Filters of a token list; the default lists every token the caller may see.
#[derive(Debug, Clone, Default)]
pub struct TokenFilter {
    pub workspace_id: Option<String>,
    pub deployment_id: Option<String>,
    pub only_organization_tokens: bool,
}

/// `ApiTokensPaginated`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct TokensPage {
    total_count: u32,
    tokens: Vec<IamToken>,
}

impl Client {
    fn tokens_path(&self) -> String {
        format!("/organizations/{}/tokens", segment(self.organization_id()))
    }

    fn token_path(&self, token_id: &str) -> String {
        format!("{}/{}", self.tokens_path(), segment(token_id))
    }

    /// Every API token that matches the filter, across pages.
    pub async fn list_tokens(&self, filter: &TokenFilter) -> Result<Vec<IamToken>, Error> {
        let mut tokens = Vec::new();
        loop {
            let mut call = iam_call(Method::GET, self.tokens_path(), "listing API tokens".into());
            if let Some(id) = &filter.workspace_id {
                call = call.query("workspaceId", id);
            }
            if let Some(id) = &filter.deployment_id {
                call = call.query("deploymentId", id);
            }
            if filter.only_organization_tokens {
                call = call.query("includeOnlyOrganizationTokens", true);
            }
            let call = call.query("offset", tokens.len()).query("limit", PAGE_SIZE);

            let page: TokensPage = self.send(call).await?;
            let received = page.tokens.len();
            tokens.extend(page.tokens);
            if received == 0 || tokens.len() >= page.total_count as usize {
                return Ok(tokens);
            }
        }
    }

    pub async fn get_token(&self, token_id: &str) -> Result<IamToken, Error> {
        let operation = format!("getting API token `{token_id}`");
        self.send(iam_call(Method::GET, self.token_path(token_id), operation))
            .await
    }

    /// Creates a token; the answer carries its value, which IAM never shows again.
    pub async fn create_token(&self, request: &CreateTokenRequest) -> Result<IamToken, Error> {
        let operation = format!("creating API token `{}`", request.name);
        let call = iam_call(Method::POST, self.tokens_path(), operation).body(request);
        self.send(call).await
    }

    pub async fn update_token(
        &self,
        token_id: &str,
        request: &UpdateTokenRequest,
    ) -> Result<IamToken, Error> {
        let operation = format!("updating API token `{token_id}`");
        let call = iam_call(Method::POST, self.token_path(token_id), operation).body(request);
        self.send(call.idempotent()).await
    }

    /// Gives a token a new value and invalidates the old one. Not retried: a repeated rotate
    /// would invalidate the value the first one answered.
    pub async fn rotate_token(&self, token_id: &str) -> Result<IamToken, Error> {
        let operation = format!("rotating API token `{token_id}`");
        let path = format!("{}/rotate", self.token_path(token_id));
        self.send(iam_call(Method::POST, path, operation)).await
    }

    pub async fn delete_token(&self, token_id: &str) -> Result<(), Error> {
        let operation = format!("deleting API token `{token_id}`");
        let call = iam_call(Method::DELETE, self.token_path(token_id), operation);
        self.send_without_answer(call).await
    }
}

fn iam_call(method: Method, path: String, operation: String) -> Call {
    let mut call = Call::new(method, path, operation, Subject::Token);
    call.api = Api::Iam;
    call
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_answer_keeps_unknown_types_and_hides_its_value() {
        let answer = serde_json::json!({
            "id": "ctok", "name": "ci", "description": "", "shortToken": "ab12cd34",
            "type": "TEAM", "startAt": "2026-01-01T00:00:00Z", "endAt": "2026-02-01T00:00:00Z",
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
            "roles": [{ "entityId": "cws", "entityType": "WORKSPACE", "role": "CUSTOM_ROLE" }],
            "token": "secret-value",
        });

        let token: IamToken = serde_json::from_value(answer).expect("a token answer");

        assert_eq!(token.token_type, TokenType::Other("TEAM".into()));
        assert_eq!(token.roles[0].entity_type, TokenType::Workspace);
        assert_eq!(token.roles[0].role, "CUSTOM_ROLE");
        assert_eq!(
            token.end_at_time().map(|at| at.unix_timestamp()),
            Some(1_769_904_000)
        );
        let value = token.token.as_ref().expect("a value");
        assert_eq!(value.expose(), "secret-value");
        assert!(!format!("{token:?}").contains("secret-value"));
    }

    #[test]
    fn a_create_body_leaves_out_what_is_not_set() {
        let request = CreateTokenRequest {
            name: "ci".into(),
            description: None,
            token_type: TokenType::Organization,
            role: "ORGANIZATION_MEMBER".into(),
            entity_id: None,
            token_expiry_period_in_days: Some(30),
        };

        let body = serde_json::to_value(&request).expect("a body");

        assert_eq!(
            body,
            serde_json::json!({
                "name": "ci", "type": "ORGANIZATION", "role": "ORGANIZATION_MEMBER",
                "tokenExpiryPeriodInDays": 30,
            })
        );
    }
}
