//! Registry authentication: credentials whose password never prints, the `WWW-Authenticate`
//! challenges registries answer with, and the bearer tokens fetched for them.
//!
//! Registries say what they want on the first 401: `Basic` (send the credentials on every
//! request) or `Bearer realm=..,service=..,scope=..` (trade the credentials at the realm for a
//! short-lived token per scope). The client remembers the scheme, so later requests carry
//! authorization from the start, and caches tokens per scope until shortly before they expire.
//
// Known shortcoming: tokens are fetched with the Docker token spec's GET only; a registry whose
// token service speaks only the OAuth2 POST flow (`grant_type=password`, refresh tokens) is not
// covered. Trying that POST when the GET is refused would cover it.

use std::collections::HashMap;
use std::fmt;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use reqwest::header::HeaderValue;

/// Tokens are renewed this long before they expire, so that none expires in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(10);

/// The token lifetime the token spec assumes when the answer names none.
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60);

/// A password or token. `Debug` never shows it; only [`Secret::expose`] does.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(secret: impl Into<String>) -> Self {
        Self(secret.into())
    }

    /// The secret itself, for the request that needs it and nothing else.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl From<String> for Secret {
    fn from(secret: String) -> Self {
        Self(secret)
    }
}

impl From<&str> for Secret {
    fn from(secret: &str) -> Self {
        Self(secret.to_owned())
    }
}

/// A registry login. Astro's registry takes the user `cli` and an Astro API token as password.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub username: String,
    pub password: Secret,
}

impl Credentials {
    pub fn new(username: impl Into<String>, password: impl Into<Secret>) -> Self {
        Self {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The `Authorization: Basic` value, marked sensitive so that HTTP logs hide it.
    pub(crate) fn basic_header(&self) -> Option<HeaderValue> {
        let pair = format!("{}:{}", self.username, self.password.expose());
        let mut value = HeaderValue::from_str(&format!("Basic {}", BASE64.encode(pair))).ok()?;
        value.set_sensitive(true);
        Some(value)
    }
}

/// What a registry asked for in `WWW-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
        /// The scope the registry said the refused request needs.
        scope: Option<String>,
    },
    /// A scheme this client does not speak, by name.
    Other(String),
}

impl Challenge {
    /// Reads the challenges of all `WWW-Authenticate` values, preferring Bearer, then Basic.
    pub fn from_headers<'a>(values: impl Iterator<Item = &'a str>) -> Option<Challenge> {
        let challenges: Vec<Challenge> = values.flat_map(parse_challenges).collect();
        let bearer = challenges
            .iter()
            .find(|c| matches!(c, Challenge::Bearer { .. }));
        let basic = challenges.iter().find(|c| matches!(c, Challenge::Basic));
        bearer.or(basic).or(challenges.first()).cloned()
    }
}

/// Parses one header value, which may hold several challenges:
/// `Bearer realm="https://a/token",service="a",scope="repository:x:pull,push", Basic realm="b"`.
fn parse_challenges(value: &str) -> Vec<Challenge> {
    let mut challenges = Vec::new();
    let mut current: Option<(String, HashMap<String, String>)> = None;
    let mut rest = value.trim();

    while !rest.is_empty() {
        rest = rest.trim_start_matches([',', ' ', '\t']);
        let token_end = rest
            .find(|c: char| c == '=' || c == ',' || c.is_whitespace())
            .unwrap_or(rest.len());
        let token = &rest[..token_end];
        let after = rest[token_end..].trim_start();

        if let Some(value_text) = after.strip_prefix('=') {
            // `key=value` belongs to the current challenge.
            let (param, remaining) = parse_param_value(value_text.trim_start());
            if let Some((_, params)) = current.as_mut() {
                params.insert(token.to_ascii_lowercase(), param);
            }
            rest = remaining;
        } else if !token.is_empty() {
            // A bare token starts a new challenge.
            if let Some(done) = current.take() {
                challenges.push(challenge_from(done));
            }
            current = Some((token.to_owned(), HashMap::new()));
            rest = after;
        } else {
            break;
        }
    }
    if let Some(done) = current.take() {
        challenges.push(challenge_from(done));
    }
    challenges
}

/// A quoted string (with `\` escapes) or a token; returns it and what follows.
fn parse_param_value(text: &str) -> (String, &str) {
    let Some(quoted) = text.strip_prefix('"') else {
        let end = text.find([',', ' ', '\t']).unwrap_or(text.len());
        return (text[..end].to_owned(), &text[end..]);
    };

    let mut value = String::new();
    let mut chars = quoted.char_indices();
    while let Some((index, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, escaped)) = chars.next() {
                    value.push(escaped);
                }
            }
            '"' => return (value, &quoted[index + 1..]),
            _ => value.push(c),
        }
    }
    (value, "")
}

fn challenge_from((scheme, mut params): (String, HashMap<String, String>)) -> Challenge {
    if scheme.eq_ignore_ascii_case("basic") {
        return Challenge::Basic;
    }
    if scheme.eq_ignore_ascii_case("bearer") {
        if let Some(realm) = params.remove("realm") {
            return Challenge::Bearer {
                realm,
                service: params.remove("service"),
                scope: params.remove("scope"),
            };
        }
    }
    Challenge::Other(scheme)
}

/// The repository access a request needs, as token scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Access {
    Pull(String),
    Push(String),
    /// Push to `target`, reading the blob from `from`.
    Mount {
        target: String,
        from: String,
    },
}

impl Access {
    /// The scopes to ask a token for, plus the one the registry named if it is not among them.
    pub fn scopes(&self, challenged: Option<&str>) -> Vec<String> {
        let mut scopes = match self {
            Access::Pull(repository) => vec![format!("repository:{repository}:pull")],
            Access::Push(repository) => vec![format!("repository:{repository}:pull,push")],
            Access::Mount { target, from } => vec![
                format!("repository:{target}:pull,push"),
                format!("repository:{from}:pull"),
            ],
        };
        for scope in challenged
            .unwrap_or("")
            .split(' ')
            .filter(|s| !s.is_empty())
        {
            merge_scope(&mut scopes, scope);
        }
        scopes
    }
}

/// Adds `scope` (`type:name:actions`) to `scopes`: its actions join those of a scope for the
/// same resource, or it is added as it is.
fn merge_scope(scopes: &mut Vec<String>, scope: &str) {
    let Some((resource, actions)) = scope.rsplit_once(':') else {
        return;
    };
    let same_resource = scopes
        .iter_mut()
        .find(|s| s.rsplit_once(':').is_some_and(|(r, _)| r == resource));
    let Some(existing) = same_resource else {
        scopes.push(scope.to_owned());
        return;
    };

    let mut merged: Vec<&str> = existing
        .rsplit_once(':')
        .map_or(Vec::new(), |(_, a)| a.split(',').collect());
    for action in actions.split(',').filter(|a| !a.is_empty()) {
        if !merged.contains(&action) {
            merged.push(action);
        }
    }
    *existing = format!("{resource}:{}", merged.join(","));
}

/// How the registry wants to be authenticated, once it has said so.
#[derive(Debug, Clone)]
pub(crate) enum Scheme {
    /// No 401 seen yet: send nothing.
    Anonymous,
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The scheme and the bearer tokens of one registry.
#[derive(Debug)]
pub(crate) struct AuthState {
    pub scheme: Scheme,
    tokens: HashMap<Vec<String>, CachedToken>,
}

#[derive(Debug)]
struct CachedToken {
    token: Secret,
    renew_at: Instant,
}

impl AuthState {
    pub fn new() -> Self {
        Self {
            scheme: Scheme::Anonymous,
            tokens: HashMap::new(),
        }
    }

    /// A token for exactly these scopes that has not yet come close to expiring.
    pub fn token(&self, scopes: &[String]) -> Option<Secret> {
        let cached = self.tokens.get(&sorted(scopes))?;
        (Instant::now() < cached.renew_at).then(|| cached.token.clone())
    }

    pub fn store(&mut self, scopes: &[String], token: Secret, lifetime: Option<Duration>) {
        let lifetime = lifetime.unwrap_or(DEFAULT_TOKEN_LIFETIME);
        let renew_at = Instant::now() + lifetime.saturating_sub(EXPIRY_MARGIN);
        self.tokens
            .insert(sorted(scopes), CachedToken { token, renew_at });
    }

    pub fn forget(&mut self, scopes: &[String]) {
        self.tokens.remove(&sorted(scopes));
    }
}

fn sorted(scopes: &[String]) -> Vec<String> {
    let mut scopes = scopes.to_vec();
    scopes.sort();
    scopes
}

/// The answer of a token endpoint (the Docker token spec, and OAuth2's `access_token`).
#[derive(serde::Deserialize)]
pub(crate) struct TokenAnswer {
    token: Option<Secret>,
    access_token: Option<Secret>,
    expires_in: Option<u64>,
}

impl TokenAnswer {
    pub fn into_parts(self) -> Option<(Secret, Option<Duration>)> {
        let token = self
            .token
            .or(self.access_token)
            .filter(|t| !t.0.is_empty())?;
        Some((token, self.expires_in.map(Duration::from_secs)))
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// The `Authorization: Bearer` value for `token`, marked sensitive.
pub(crate) fn bearer_header(token: &Secret) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {}", token.expose())).ok()?;
    value.set_sensitive(true);
    Some(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_bearer_challenges_with_commas_in_quotes() {
        let header = concat!(
            r#"Bearer realm="https://auth.example/token",service="registry.example","#,
            r#"scope="repository:a/b:pull,push""#
        );
        assert_eq!(
            Challenge::from_headers([header].into_iter()),
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into()),
                scope: Some("repository:a/b:pull,push".into()),
            })
        );
    }

    #[test]
    fn prefers_bearer_then_basic_and_names_others() {
        let several = r#"Basic realm="r", Bearer realm="https://t", error="invalid_token""#;
        assert!(matches!(
            Challenge::from_headers([several].into_iter()),
            Some(Challenge::Bearer { realm, service: None, .. }) if realm == "https://t"
        ));
        assert_eq!(
            Challenge::from_headers(["basic realm=\"Registry Realm\""].into_iter()),
            Some(Challenge::Basic)
        );
        assert_eq!(
            Challenge::from_headers(["Negotiate"].into_iter()),
            Some(Challenge::Other("Negotiate".into()))
        );
        assert_eq!(
            Challenge::from_headers(["Bearer realm=unquoted,service=s"].into_iter()),
            Some(Challenge::Bearer {
                realm: "unquoted".into(),
                service: Some("s".into()),
                scope: None
            })
        );
        assert_eq!(Challenge::from_headers([""].into_iter()), None);
        assert_eq!(
            parse_challenges(r#"Bearer realm="a\"b""#),
            vec![Challenge::Bearer {
                realm: "a\"b".into(),
                service: None,
                scope: None
            }]
        );
    }

    #[test]
    fn scopes_cover_pushes_and_mounts() {
        assert_eq!(
            Access::Push("t".into()).scopes(None),
            vec!["repository:t:pull,push"]
        );
        assert_eq!(
            Access::Mount {
                target: "t".into(),
                from: "f".into()
            }
            .scopes(Some("repository:t:pull,push")),
            vec!["repository:t:pull,push", "repository:f:pull"]
        );
        assert_eq!(
            Access::Push("t".into()).scopes(Some("repository:t:pull")),
            vec!["repository:t:pull,push"]
        );
        assert_eq!(
            Access::Pull("t".into()).scopes(Some("repository:t:push registry:catalog:*")),
            vec!["repository:t:pull,push", "registry:catalog:*"]
        );
        assert_eq!(
            Access::Pull("h:5000/t".into()).scopes(Some("repository:h:5000/t:pull")),
            vec!["repository:h:5000/t:pull"]
        );
    }

    #[test]
    fn tokens_are_cached_per_scope_set_until_near_expiry() {
        let mut state = AuthState::new();
        let scopes = vec!["b".to_owned(), "a".to_owned()];
        state.store(&scopes, Secret::new("tok"), Some(Duration::from_secs(300)));
        assert_eq!(
            state
                .token(&["a".to_owned(), "b".to_owned()])
                .unwrap()
                .expose(),
            "tok"
        );
        assert!(state.token(&["a".to_owned()]).is_none());

        state.store(&scopes, Secret::new("short"), Some(Duration::from_secs(5)));
        assert!(state.token(&scopes).is_none(), "within the renewal margin");
    }

    #[test]
    fn secrets_never_show_in_debug() {
        let credentials = Credentials::new("cli", "hunter2-secret");
        let debug = format!("{credentials:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("cli"));
        assert!(credentials.basic_header().unwrap().is_sensitive());

        let answer: TokenAnswer =
            serde_json::from_str(r#"{"access_token":"abc","expires_in":300}"#).unwrap();
        let (token, lifetime) = answer.into_parts().unwrap();
        assert_eq!(format!("{token:?}"), "Secret(<redacted>)");
        assert_eq!(lifetime, Some(Duration::from_secs(300)));
    }
}
