//! Errors of the API client: what failed, on what, what the server said, and what to check.

use crate::token::TokenError;

/// An answer from the Astro API that was not a success.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What the client was doing, e.g. ``getting Deployment `cl…` ``.
    pub operation: String,
    pub status: u16,
    /// The server's `message`, or the start of the body when it sent no JSON error.
    pub message: String,
    pub request_id: Option<String>,
    /// The organization the request was made in, for hints.
    pub organization_id: String,
    /// The kind of object the request was about, for hints.
    pub subject: Subject,
}

/// The kind of object a request is about. It chooses the hint of a 403 or 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Organization,
    Workspace,
    Deployment,
    Deploy,
    Token,
}

/// Errors of the API client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: Astro answered {} {}{}", .0.operation, .0.status, reason(.0.status),
        message_suffix(&.0.message, .0.request_id.as_deref()))]
    Api(ApiError),

    /// An answer of a Deployment's Airflow REST API that was not a success.
    #[error("{operation}: the Airflow API at `{url}` answered {status} {}{}", reason(*.status),
        message_suffix(.detail, None))]
    Airflow {
        operation: String,
        url: String,
        status: u16,
        /// Airflow's `detail` (or `title`), or the start of the body when it sent no problem.
        detail: String,
    },

    #[error("{operation}: could not reach `{url}` ({attempts} attempts)")]
    Transport {
        operation: String,
        url: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    #[error("{operation}: the answer of `{url}` is not what the API describes")]
    Decode {
        operation: String,
        url: String,
        #[source]
        source: serde_json::Error,
    },

    #[error(transparent)]
    Token(#[from] TokenError),

    #[error("no organization id: it was not given and the API token does not carry an `org_id`")]
    MissingOrganization,

    #[error("the API URL `{url}` is not a usable http(s) URL")]
    InvalidBaseUrl { url: String },

    #[error("building the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

/// A coarse classification of errors, for exit codes and decisions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The token is missing, malformed, expired or refused (401).
    Authentication,
    /// The token may not do this (403).
    Forbidden,
    NotFound,
    /// The server refused the request as invalid (400, 409, 422).
    Refused,
    /// Rate limits, server errors and network failures that outlasted the retries.
    Unavailable,
    /// The client was set up wrongly.
    Configuration,
}

impl Error {
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Api(api) => match api.status {
                401 => ErrorKind::Authentication,
                403 => ErrorKind::Forbidden,
                404 => ErrorKind::NotFound,
                400..=499 if api.status != 429 => ErrorKind::Refused,
                _ => ErrorKind::Unavailable,
            },
            Error::Airflow { status, .. } => match status {
                401 => ErrorKind::Authentication,
                403 => ErrorKind::Forbidden,
                404 => ErrorKind::NotFound,
                400..=499 if *status != 429 => ErrorKind::Refused,
                _ => ErrorKind::Unavailable,
            },
            Error::Transport { .. } | Error::Decode { .. } => ErrorKind::Unavailable,
            Error::Token(_) => ErrorKind::Authentication,
            Error::MissingOrganization | Error::InvalidBaseUrl { .. } | Error::HttpClient(_) => {
                ErrorKind::Configuration
            }
        }
    }

    /// The HTTP status of an API answer, if this error is one.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(api) => Some(api.status),
            Error::Airflow { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// What the user should check, when there is something specific to say.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Api(api) => api_hint(api),
            Error::Airflow { status, .. } => airflow_hint(*status),
            Error::Transport { .. } => Some(
                "check the API URL and the network; the request was retried before giving up"
                    .into(),
            ),
            Error::Token(_) => Some(
                "use an Astro API token (Organization, Workspace or Deployment token) exactly as \
                 Astro showed it when it was created"
                    .into(),
            ),
            Error::MissingOrganization => {
                Some("give the organization id (ASTRO_ORGANIZATION_ID) explicitly".into())
            }
            Error::Decode { .. } => {
                Some("the API URL may point at something other than the Astro API; check it".into())
            }
            Error::InvalidBaseUrl { .. } | Error::HttpClient(_) => None,
        }
    }
}

fn api_hint(api: &ApiError) -> Option<String> {
    let org = &api.organization_id;
    let hint = match (api.status, api.subject) {
        (401, _) => "the API token was refused: it may have expired, been rotated or been \
                     deleted; create or rotate one in Astro and update the CI secret"
            .to_owned(),
        (403, Subject::Organization) => format!(
            "the token does not belong to organization `{org}`: check the organization id, or \
             use a token created in that organization"
        ),
        (403, _) => format!(
            "the token may not act on this object: check that it was created in organization \
             `{org}` and that its role reaches it (a Deployment or Workspace token cannot reach \
             other Workspaces)"
        ),
        (404, Subject::Deployment) => format!(
            "check the Deployment id: it must name a Deployment of organization `{org}`; \
             Deployments of other organizations are not visible with this token"
        ),
        (404, Subject::Workspace) => {
            format!("check the Workspace id: it must name a Workspace of organization `{org}`")
        }
        (404, Subject::Organization) => {
            format!("check the organization id `{org}` and that the token was created in it")
        }
        (404, Subject::Deploy) => "the deploy no longer exists; start a new deploy".to_owned(),
        (404, Subject::Token) => format!("check the token id: it must be in `{org}`"),
        (429, _) => "Astro rate-limits each token; the request was retried with backoff. Run \
                     fewer deploys at once with this token"
            .to_owned(),
        (500..=599, _) => "Astro had a problem; the request was retried. Try again later, and \
                           quote the request id if you contact Astronomer support"
            .to_owned(),
        _ => return None,
    };
    Some(hint)
}

fn airflow_hint(status: u16) -> Option<String> {
    let hint = match status {
        401 => {
            "Airflow refused the API token: it may have expired or been rotated; Astro \
                accepts the same Astro API token on a Deployment's Airflow API"
        }
        403 => {
            "the token's role does not reach this Deployment's Airflow: use a token of its \
                Workspace or Organization, or a Deployment token of this very Deployment"
        }
        503 => {
            "the Deployment's Airflow is not up (still creating, waking up or \
                hibernating); it was waited for before giving up. Try again once it is HEALTHY"
        }
        500..=599 => "Airflow had a problem; the request was retried. Try again later",
        _ => return None,
    };
    Some(hint.to_owned())
}

fn reason(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}

fn message_suffix(message: &str, request_id: Option<&str>) -> String {
    let mut suffix = String::new();
    if !message.is_empty() {
        suffix.push_str(": ");
        suffix.push_str(message);
    }
    if let Some(id) = request_id {
        suffix.push_str(&format!(" (request id {id})"));
    }
    suffix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16, subject: Subject) -> Error {
        Error::Api(ApiError {
            operation: "getting Deployment `cdep`".into(),
            status,
            message: "Deployment not found".into(),
            request_id: Some("req-1".into()),
            organization_id: "corg".into(),
            subject,
        })
    }

    #[test]
    fn messages_name_the_operation_status_and_request() {
        let err = api(404, Subject::Deployment);
        assert_eq!(
            err.to_string(),
            "getting Deployment `cdep`: Astro answered 404 Not Found: Deployment not found \
             (request id req-1)"
        );
        assert_eq!(err.kind(), ErrorKind::NotFound);
        assert!(err.hint().unwrap().contains("organization `corg`"));
    }

    #[test]
    fn airflow_errors_name_the_url_and_hint_at_startup() {
        let err = Error::Airflow {
            operation: "listing pools".into(),
            url: "https://acme.astronomer.run/d1/api/v1/pools".into(),
            status: 503,
            detail: "Airflow is starting".into(),
        };
        assert_eq!(
            err.to_string(),
            "listing pools: the Airflow API at `https://acme.astronomer.run/d1/api/v1/pools` \
             answered 503 Service Unavailable: Airflow is starting"
        );
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(err.status(), Some(503));
        assert!(err.hint().unwrap().contains("HEALTHY"));
    }

    #[test]
    fn auth_errors_hint_at_the_token() {
        assert!(api(401, Subject::Deployment)
            .hint()
            .unwrap()
            .contains("expired"));
        assert_eq!(
            api(401, Subject::Deployment).kind(),
            ErrorKind::Authentication
        );
        assert!(api(403, Subject::Deployment)
            .hint()
            .unwrap()
            .contains("Workspace"));
        assert_eq!(api(429, Subject::Deploy).kind(), ErrorKind::Unavailable);
        assert_eq!(api(400, Subject::Deploy).kind(), ErrorKind::Refused);
    }
}
