//! Bearer tokens: minting and checking the emulator's JWTs, and what a token may touch.
//!
//! Tokens are HS256 JWTs signed with a key kept in the state, so tokens stay valid across
//! restarts with the same state file. They carry the claims of real Astro API tokens:
//! `org_id`, `scope`, `permissions` (`organizationId:<id>`, `workspaceId:<id>`,
//! `deploymentId:<id>`), `version`, `isAstronomerGenerated`, `kid`, `apiTokenId`, and the
//! registered `iss`, `sub`, `aud`, `iat`, `exp`, and a `jti` that makes each value unique (so
//! that a rotation in the same second as the mint still gives a new value). A token without
//! `permissions` is a user session token: it may do what an Organization Owner may, except
//! deploy to a Deployment that enforces CI/CD. An API token also has to be one IAM holds, with
//! a value IAM handed out (see [`crate::iam`]). Messages about a bad token never contain the
//! token.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac as _};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::clock;
use crate::model::{Deployment, Subject};
use crate::platform::ApiError;
use crate::seed;
use crate::server::App;
use crate::state::Keys;

/// Base64url without padding when writing; padding tolerated when reading.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

const ISSUER: &str = "https://emulator.astro.local/";
const AUDIENCE: &str = "astronomer-ee";

/// Signs a token for the organization `org_id`; `permissions: None` makes a user session token.
pub(crate) fn mint(
    keys: &Keys,
    org_id: &str,
    subject_id: &str,
    permissions: Option<Vec<String>>,
    expires_in: Duration,
) -> String {
    let now = clock::now().unix_timestamp();
    let expires = now.saturating_add(i64::try_from(expires_in.as_secs()).unwrap_or(i64::MAX));
    let header = json!({ "alg": "HS256", "typ": "JWT", "kid": keys.kid });

    let mut claims = json!({
        "iss": ISSUER,
        "sub": subject_id,
        "aud": [AUDIENCE],
        "iat": now,
        "exp": expires,
        "jti": seed::new_id(),
        "org_id": org_id,
        "kid": keys.kid,
        "version": "1",
    });
    if let (Some(permissions), Some(map)) = (permissions, claims.as_object_mut()) {
        map.insert("scope".to_owned(), json!(["apiToken"]));
        map.insert("permissions".to_owned(), json!(permissions));
        map.insert("apiTokenId".to_owned(), json!(subject_id));
        map.insert("isAstronomerGenerated".to_owned(), json!(false));
    } else if let Some(map) = claims.as_object_mut() {
        map.insert("scope".to_owned(), json!(["openid", "profile", "email"]));
    }

    let signing_input = format!(
        "{}.{}",
        BASE64URL.encode(header.to_string()),
        BASE64URL.encode(claims.to_string())
    );
    let signature = sign(keys, signing_input.as_bytes());
    format!("{signing_input}.{}", BASE64URL.encode(signature))
}

/// An HMAC-SHA256 over `input` keyed with a base64 secret of the state.
pub(crate) fn hmac(secret: &str, input: &[u8]) -> Option<Hmac<Sha256>> {
    let secret = STANDARD.decode(secret).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&secret).ok()?;
    mac.update(input);
    Some(mac)
}

fn sign(keys: &Keys, input: &[u8]) -> Vec<u8> {
    let mac = hmac(&keys.jwt, input);
    mac.map(|mac| mac.finalize().into_bytes().to_vec())
        .unwrap_or_default()
}

/// Who sent a request, as its token says.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub org_id: String,
    /// `None` for a user session token.
    pub permissions: Option<Vec<String>>,
    pub subject_id: String,
}

/// Checks a token: its shape, signature and expiry. The error is a message for a 401.
pub(crate) fn verify(keys: &Keys, token: &str) -> Result<Caller, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts[..] else {
        return Err(format!(
            "the bearer token is not a JWT: expected three base64url parts separated by dots, \
             found {}",
            parts.len()
        ));
    };

    let header = decode_json(header, "header")?;
    let alg = header.get("alg").and_then(Value::as_str).unwrap_or("none");
    if alg != "HS256" {
        return Err(format!(
            "the bearer token is signed with `{alg}`; the emulator accepts only the HS256 tokens \
             it mints (see `apiToken` in `GET /emulator/info`)"
        ));
    }

    let signature = BASE64URL
        .decode(signature)
        .map_err(|_| "the bearer token's signature is not base64url".to_owned())?;
    let mac = hmac(&keys.jwt, format!("{}.{}", parts[0], parts[1]).as_bytes());
    if mac.is_none_or(|mac| mac.verify_slice(&signature).is_err()) {
        return Err(
            "the bearer token's signature does not verify: it was not minted by this \
                    emulator (or by one with another state file)"
                .to_owned(),
        );
    }

    caller(&decode_json(claims, "claims")?)
}

fn decode_json(part: &str, name: &str) -> Result<Value, String> {
    let bytes = BASE64URL
        .decode(part)
        .map_err(|_| format!("the bearer token's {name} is not base64url"))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| format!("the bearer token's {name} is not JSON"))?;

    if !value.is_object() {
        return Err(format!("the bearer token's {name} is not a JSON object"));
    }
    Ok(value)
}

fn caller(claims: &Value) -> Result<Caller, String> {
    let exp = claims.get("exp").and_then(Value::as_i64);
    let exp = exp.ok_or("the bearer token has no numeric `exp` claim")?;
    if exp <= clock::now().unix_timestamp() {
        let at = time::OffsetDateTime::from_unix_timestamp(exp).map(clock::rfc3339);
        let at = at.unwrap_or_else(|_| exp.to_string());
        return Err(format!("the bearer token expired at {at}: mint a new one"));
    }

    let org_id = claims.get("org_id").and_then(Value::as_str);
    let org_id = org_id
        .ok_or("the bearer token has no `org_id` claim")?
        .to_owned();
    let permissions = match claims.get("permissions") {
        None => None,
        Some(list) => Some(strings(list).ok_or(
            "the bearer token's `permissions` claim is not \
                                                a list of strings",
        )?),
    };
    let subject = claims.get("apiTokenId").or_else(|| claims.get("sub"));
    let subject_id = subject
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();

    Ok(Caller {
        org_id,
        permissions,
        subject_id,
    })
}

fn strings(list: &Value) -> Option<Vec<String>> {
    let items = list.as_array()?;
    items
        .iter()
        .map(|item| item.as_str().map(str::to_owned))
        .collect()
}

impl FromRequestParts<App> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let header = parts.headers.get(AUTHORIZATION).ok_or_else(|| {
            ApiError::unauthorized(
                "missing `Authorization` header: send `Authorization: Bearer <API token>`",
            )
        })?;

        let value = header.to_str().unwrap_or_default();
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "));
        let token = token.ok_or_else(|| {
            ApiError::unauthorized("the `Authorization` header must read `Bearer <API token>`")
        })?;
        if token.trim().is_empty() {
            return Err(ApiError::unauthorized(
                "the bearer token in `Authorization` is empty",
            ));
        }

        let token = token.trim();
        let caller = verify(&app.keys, token).map_err(ApiError::unauthorized)?;
        app.read(|state| {
            crate::iam::check_live(state, &caller, token).map_err(ApiError::unauthorized)
        })?;
        Ok(caller)
    }
}

impl Caller {
    /// Whether this is an API token (it has a `permissions` claim).
    pub(crate) fn is_api_token(&self) -> bool {
        self.permissions.is_some()
    }

    /// Who this is, for `createdBy` and `updatedBy`.
    pub(crate) fn subject(&self) -> Subject {
        if self.is_api_token() {
            seed::token_subject(&self.subject_id)
        } else {
            seed::user_subject(&self.subject_id)
        }
    }

    /// A token only ever acts in its own organization.
    pub(crate) fn check_org(&self, org: &str) -> Result<(), ApiError> {
        if self.org_id == org {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "this token belongs to organization `{}`, not to organization `{org}`",
            self.org_id
        )))
    }

    fn org_wide(&self) -> bool {
        match &self.permissions {
            None => true,
            Some(_) => self.has("organizationId", &self.org_id),
        }
    }

    fn has(&self, kind: &str, id: &str) -> bool {
        let wanted = format!("{kind}:{id}");
        self.permissions
            .iter()
            .flatten()
            .any(|permission| *permission == wanted)
    }

    pub(crate) fn may_see_workspace(&self, workspace_id: &str) -> bool {
        self.org_wide() || self.has("workspaceId", workspace_id)
    }

    pub(crate) fn may_touch(&self, deployment: &Deployment) -> bool {
        self.may_see_workspace(&deployment.workspace_id) || self.has("deploymentId", &deployment.id)
    }

    pub(crate) fn check_workspace(&self, workspace_id: &str) -> Result<(), ApiError> {
        if self.may_see_workspace(workspace_id) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "this API token's permissions ({}) do not cover workspace `{workspace_id}`",
            self.describe()
        )))
    }

    pub(crate) fn check_deployment(&self, deployment: &Deployment) -> Result<(), ApiError> {
        if self.may_touch(deployment) {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "this API token's permissions ({}) do not cover deployment `{}` in workspace `{}`",
            self.describe(),
            deployment.id,
            deployment.workspace_id
        )))
    }

    /// Deploys to a Deployment that enforces CI/CD need an API token.
    pub(crate) fn check_cicd(&self, deployment: &Deployment) -> Result<(), ApiError> {
        if !deployment.is_cicd_enforced || self.is_api_token() {
            return Ok(());
        }
        Err(ApiError::forbidden(format!(
            "deployment `{}` enforces CI/CD (`isCicdEnforced`): deploys need an API token \
             (Organization, Workspace or Deployment), not a user session token",
            deployment.id
        )))
    }

    fn describe(&self) -> String {
        let permissions = self.permissions.iter().flatten();
        let listed: Vec<String> = permissions
            .map(|permission| format!("`{permission}`"))
            .collect();
        if listed.is_empty() {
            "none".to_owned()
        } else {
            listed.join(", ")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> Keys {
        Keys {
            kid: "test".to_owned(),
            jwt: seed::new_secret(),
            sas: seed::new_secret(),
        }
    }

    #[test]
    fn minted_tokens_verify_and_carry_their_permissions() {
        let keys = keys();
        let permissions = Some(vec!["workspaceId:cws".to_owned()]);
        let token = mint(
            &keys,
            "corg",
            "ctoken",
            permissions.clone(),
            Duration::from_secs(60),
        );

        let caller = verify(&keys, &token).expect("a valid token");

        assert_eq!(caller.org_id, "corg");
        assert_eq!(caller.permissions, permissions);
        assert_eq!(caller.subject_id, "ctoken");
    }

    #[test]
    fn bad_tokens_are_refused_without_echoing_them() {
        let keys = keys();
        let other = mint(
            &self::keys(),
            "corg",
            "cuser",
            None,
            Duration::from_secs(60),
        );
        let expired = mint(&keys, "corg", "cuser", None, Duration::ZERO);

        for (token, expected) in [
            ("abc", "three base64url parts"),
            ("a.b.c", "header is not"),
            (other.as_str(), "signature does not verify"),
            (expired.as_str(), "expired at"),
        ] {
            let message = verify(&keys, token).expect_err("a refused token");
            assert!(message.contains(expected), "{message}");
            assert!(!message.contains(token), "{message}");
        }
    }
}
