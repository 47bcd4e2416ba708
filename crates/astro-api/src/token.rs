//! API tokens: a secret that never prints, and the claims it carries.
//!
//! Astro API tokens are JWTs. Their claims are read without verifying the signature: the server
//! does that. The claims tell the organization (`org_id`), what the token may touch
//! (`permissions`), its id (`apiTokenId`) and its expiry (`exp`). A JWT without `permissions`
//! is a user session token, not an API token.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::Deserialize;
use time::OffsetDateTime;

/// A bearer token. `Debug` and `Display` never show it; only [`ApiToken::expose`] does.
#[derive(Clone)]
pub struct ApiToken(String);

impl ApiToken {
    /// Wraps a token after trimming the whitespace that copy and paste tends to add.
    pub fn new(secret: impl Into<String>) -> Result<Self, TokenError> {
        let secret = secret.into().trim().to_owned();
        if secret.is_empty() {
            return Err(TokenError::Empty);
        }
        if secret.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::Malformed(
                "it contains whitespace or control characters",
            ));
        }
        Ok(Self(secret))
    }

    /// The secret itself, for the `Authorization` header and registry logins only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Decodes the JWT claims without checking the signature.
    pub fn claims(&self) -> Result<TokenClaims, TokenError> {
        let mut parts = self.0.split('.');
        let (Some(_header), Some(payload), Some(_signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("a JWT has three dot-separated parts"));
        };

        let json = URL_SAFE_NO_PAD
            .decode(payload.trim_end_matches('='))
            .map_err(|_| TokenError::Malformed("its payload is not base64url"))?;
        serde_json::from_slice(&json).map_err(|_| TokenError::Malformed("its claims are not JSON"))
    }
}

impl fmt::Debug for ApiToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiToken(<redacted>)")
    }
}

/// The claims of an Astro token that this project uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenClaims {
    #[serde(rename = "org_id")]
    pub organization_id: Option<String>,
    pub permissions: Option<Vec<String>>,
    #[serde(rename = "apiTokenId")]
    pub api_token_id: Option<String>,
    #[serde(rename = "exp")]
    pub expires_at_unix: Option<i64>,
    #[serde(rename = "iat")]
    pub issued_at_unix: Option<i64>,
}

/// What kind of principal a token stands for, as far as its claims tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    Organization(String),
    Workspace(String),
    Deployment(String),
    /// An API token whose permissions name no scope this client knows.
    ApiOther,
    /// A person's session token: no `permissions` claim. CI/CD enforcement refuses it.
    UserSession,
}

impl TokenClaims {
    pub fn kind(&self) -> TokenKind {
        let Some(permissions) = &self.permissions else {
            return TokenKind::UserSession;
        };

        let scoped = |prefix: &str| {
            permissions
                .iter()
                .find_map(|p| p.strip_prefix(prefix).map(str::to_owned))
        };
        if let Some(id) = scoped("organizationId:") {
            TokenKind::Organization(id)
        } else if let Some(id) = scoped("workspaceId:") {
            TokenKind::Workspace(id)
        } else if let Some(id) = scoped("deploymentId:") {
            TokenKind::Deployment(id)
        } else {
            TokenKind::ApiOther
        }
    }

    pub fn expires_at(&self) -> Option<OffsetDateTime> {
        OffsetDateTime::from_unix_timestamp(self.expires_at_unix?).ok()
    }

    pub fn is_expired(&self, now: OffsetDateTime) -> bool {
        self.expires_at().is_some_and(|at| at <= now)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the API token is empty")]
    Empty,
    #[error("the API token is not a valid Astro token: {0}")]
    Malformed(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(claims: &str) -> String {
        format!(
            "eyJhbGciOiJIUzI1NiJ9.{}.c2ln",
            URL_SAFE_NO_PAD.encode(claims)
        )
    }

    #[test]
    fn debug_and_errors_never_show_the_secret() {
        let token = ApiToken::new(jwt(r#"{"org_id":"o"}"#)).unwrap();
        assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");

        let err = ApiToken::new("not a token").unwrap_err();
        assert!(!err.to_string().contains("not a token"));
    }

    #[test]
    fn reads_the_claims_astro_tokens_carry() {
        let token = ApiToken::new(jwt(
            r#"{"org_id":"corg","permissions":["workspaceId:cws"],"apiTokenId":"ct","exp":10}"#,
        ))
        .unwrap();
        let claims = token.claims().unwrap();

        assert_eq!(claims.organization_id.as_deref(), Some("corg"));
        assert_eq!(claims.kind(), TokenKind::Workspace("cws".into()));
        assert!(claims.is_expired(OffsetDateTime::from_unix_timestamp(10).unwrap()));
        assert!(!claims.is_expired(OffsetDateTime::from_unix_timestamp(9).unwrap()));
    }

    #[test]
    fn a_token_without_permissions_is_a_user_session() {
        let claims = ApiToken::new(jwt(r#"{"org_id":"o"}"#))
            .unwrap()
            .claims()
            .unwrap();
        assert_eq!(claims.kind(), TokenKind::UserSession);
    }

    #[test]
    fn malformed_tokens_are_refused_with_a_reason() {
        for bad in ["abc", "a.b", "a.b.c.d", "a.!!!.c"] {
            let err = ApiToken::new(bad).unwrap().claims().unwrap_err();
            assert!(matches!(err, TokenError::Malformed(_)), "{bad}: {err}");
        }
        assert!(matches!(ApiToken::new("  \n"), Err(TokenError::Empty)));
    }
}
