//! Errors of the registry client: what failed, on which registry and repository, what the
//! registry said (HTTP status and the `code`/`message` of its JSON error body), and what to
//! check. Credentials never appear in them: they travel only in request headers, and registry
//! messages are scrubbed of the password before they are kept.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::digest::{Digest, DigestError};
use crate::reference::ReferenceError;

/// One entry of a registry's error body: `{"errors":[{"code":"BLOB_UNKNOWN","message":".."}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ErrorDetail {
    pub code: String,
    #[serde(default)]
    pub message: String,
}

/// A registry answer that was not what the operation needed.
#[derive(Debug, Clone)]
pub struct RegistryError {
    /// What the client was doing: ``uploading blob `sha256:…` ``.
    pub operation: String,
    pub registry: String,
    pub repository: String,
    pub status: u16,
    /// The registry's `errors`, empty when its body had none.
    pub errors: Vec<ErrorDetail>,
    /// The start of a body that was not a registry error (a proxy's HTML page, say).
    pub body: Option<String>,
    /// The registry's `Retry-After`, for 429 and 503 answers.
    pub retry_after: Option<Duration>,
}

impl RegistryError {
    /// Whether the registry named this error code (`BLOB_UNKNOWN`, `DIGEST_INVALID`, ...).
    pub fn has_code(&self, code: &str) -> bool {
        self.errors.iter().any(|e| e.code == code)
    }
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} in `{}/{}`: the registry answered {}",
            self.operation,
            self.registry,
            self.repository,
            status_text(self.status)
        )?;
        for (index, error) in self.errors.iter().enumerate() {
            let separator = if index == 0 { ": " } else { "; " };
            write!(f, "{separator}{}", error.code)?;
            if !error.message.is_empty() {
                write!(f, " ({})", error.message)?;
            }
        }
        if let Some(body) = self.body.as_deref().filter(|_| self.errors.is_empty()) {
            write!(f, ": {body}")?;
        }
        Ok(())
    }
}

/// Errors of the registry client.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Registry(Box<RegistryError>),

    #[error(
        "{operation} in `{registry}/{repository}`: the registry could not be reached \
             ({attempts} attempts)"
    )]
    Transport {
        operation: String,
        registry: String,
        repository: String,
        attempts: u32,
        #[source]
        source: reqwest::Error,
    },

    #[error(
        "{operation} in `{registry}/{repository}`: the registry's answer is not usable: \
             {reason}"
    )]
    Protocol {
        operation: String,
        registry: String,
        repository: String,
        reason: String,
    },

    #[error("getting a token for `{registry}` from `{realm}`: the token service answered \
             {}{}", status_text(*.status), message_suffix(.message))]
    TokenRefused {
        registry: String,
        realm: String,
        status: u16,
        message: String,
    },

    #[error("getting a token for `{registry}` from `{realm}`: {reason}")]
    TokenUnusable {
        registry: String,
        realm: String,
        reason: String,
    },

    #[error(
        "authenticating to `{registry}`: it sends credentials to `{realm}` over plain \
             http, and they only go over https"
    )]
    InsecureRealm { registry: String, realm: String },

    #[error(
        "authenticating to `{registry}`: it asks for `{scheme}` authentication, which this \
             client does not speak"
    )]
    UnsupportedAuth { registry: String, scheme: String },

    #[error("{operation}: the content hashes to `{actual}`, not to `{expected}`")]
    DigestMismatch {
        operation: String,
        expected: Digest,
        actual: Digest,
    },

    #[error("{operation}: `{path}` holds {actual} bytes, not the {expected} its descriptor says")]
    SizeMismatch {
        operation: String,
        path: PathBuf,
        expected: u64,
        actual: u64,
    },

    #[error("reading manifest `{digest}` as {wanted}: it is `{media_type}`")]
    ManifestKind {
        digest: Digest,
        media_type: String,
        wanted: &'static str,
    },

    #[error("{operation}: the answer is larger than the {limit} bytes allowed")]
    TooLarge { operation: String, limit: u64 },

    #[error("checking `{digest}`: only sha256 digests can be verified")]
    UnsupportedDigest { digest: Digest },

    #[error(transparent)]
    InvalidReference(#[from] ReferenceError),

    #[error(transparent)]
    InvalidDigest(#[from] DigestError),

    #[error("`{host}` is not a valid registry host: {reason}")]
    InvalidHost { host: String, reason: &'static str },

    #[error("{action} `{}`", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("decoding {what}")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },

    #[error("reading the OCI image layout `{}`: {reason}", .dir.display())]
    Layout { dir: PathBuf, reason: String },

    #[error("pushing `{target}`: the client talks to `{registry}`, another registry")]
    WrongRegistry { target: String, registry: String },

    #[error(
        "pushing layer `{digest}` to `{target}`: it is not there, cannot be mounted, and \
             has no local file to upload"
    )]
    LayerUnavailable { digest: Digest, target: String },

    #[error("building the HTTP client")]
    HttpClient(#[source] reqwest::Error),
}

impl Error {
    /// The registry's HTTP status, when the error is a registry or token service answer.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Registry(error) => Some(error.status),
            Error::TokenRefused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The registry's answer, when the error is one.
    pub fn registry_error(&self) -> Option<&RegistryError> {
        match self {
            Error::Registry(error) => Some(error),
            _ => None,
        }
    }

    /// What the user should check, when there is something specific to say.
    pub fn hint(&self) -> Option<String> {
        let hint = match self {
            Error::Registry(error) => return registry_hint(error),
            Error::TokenRefused { status: 401, .. } | Error::TokenRefused { status: 403, .. } => {
                CREDENTIALS_HINT.to_owned()
            }
            Error::Transport { registry, .. } => format!(
                "check the registry host `{registry}` and the network (the request was retried); \
                 a registry without TLS needs plain http turned on"
            ),
            Error::InsecureRealm { .. } => "the registry's token service must use https; check \
                                            the registry host"
                .to_owned(),
            Error::DigestMismatch { .. } => "the content changed while it was read, or is \
                                             corrupt; rebuild the image and push again"
                .to_owned(),
            Error::SizeMismatch { .. } => "the file changed after the image was built; rebuild \
                                           the image and push again"
                .to_owned(),
            _ => return None,
        };
        Some(hint)
    }

    /// Whether trying again (the same request, or the same upload from a fresh session) may
    /// succeed: rate limits, server errors, broken connections.
    pub(crate) fn is_retryable(&self) -> bool {
        match self {
            Error::Registry(error) => matches!(error.status, 408 | 429 | 500..=599),
            Error::Transport { .. } => true,
            _ => false,
        }
    }

    pub(crate) fn retry_after(&self) -> Option<Duration> {
        self.registry_error().and_then(|e| e.retry_after)
    }
}

const CREDENTIALS_HINT: &str = "the registry refused the credentials: for Astro, the user is \
     `cli` and the password an Astro API token that may deploy to this Deployment; check that \
     it is given and has not expired or been rotated";

fn registry_hint(error: &RegistryError) -> Option<String> {
    let repository = format!("{}/{}", error.registry, error.repository);
    let hint = if error.has_code("DIGEST_INVALID") {
        "the registry computed another digest than the one sent: the content changed during \
         the upload or is corrupt; rebuild the image and push again"
            .to_owned()
    } else if error.has_code("MANIFEST_BLOB_UNKNOWN") {
        format!(
            "the manifest names a layer or config that `{repository}` does not have; push every \
             blob before the manifest (a blob mounted from another repository may have been \
             deleted meanwhile: push again)"
        )
    } else {
        match error.status {
            401 => CREDENTIALS_HINT.to_owned(),
            403 => format!(
                "the credentials may not do this in `{repository}`: check that the API token's \
                 role reaches the Deployment this image is for"
            ),
            404 if error.has_code("BLOB_UNKNOWN") => {
                format!("the blob is not in `{repository}`; check the digest and the repository")
            }
            404 if error.has_code("MANIFEST_UNKNOWN") => {
                format!("no image with this tag or digest is in `{repository}`")
            }
            404 => format!(
                "check the repository `{repository}`: it does not exist, or the credentials \
                 cannot see it"
            ),
            429 | 500..=599 => "the registry is busy or failing; the request was retried. Try \
                               again later"
                .to_owned(),
            _ => return None,
        }
    };
    Some(hint)
}

fn status_text(status: u16) -> String {
    let reason = reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("");
    format!("{status} {reason}").trim_end().to_owned()
}

fn message_suffix(message: &str) -> String {
    if message.is_empty() {
        String::new()
    } else {
        format!(": {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(status: u16, errors: &[(&str, &str)]) -> Error {
        Error::Registry(Box::new(RegistryError {
            operation: "uploading blob `sha256:ab`".into(),
            registry: "images.astronomer.cloud".into(),
            repository: "cxyz/dep".into(),
            status,
            errors: errors
                .iter()
                .map(|(code, message)| ErrorDetail {
                    code: (*code).into(),
                    message: (*message).into(),
                })
                .collect(),
            body: None,
            retry_after: None,
        }))
    }

    #[test]
    fn messages_name_operation_registry_status_and_codes() {
        let err = registry(400, &[("DIGEST_INVALID", "provided digest did not match")]);
        assert_eq!(
            err.to_string(),
            "uploading blob `sha256:ab` in `images.astronomer.cloud/cxyz/dep`: the registry \
             answered 400 Bad Request: DIGEST_INVALID (provided digest did not match)"
        );
        assert!(err.hint().unwrap().contains("rebuild"));
        assert_eq!(err.status(), Some(400));
        assert!(!err.is_retryable());
    }

    #[test]
    fn hints_for_credentials_repositories_and_missing_blobs() {
        assert!(registry(401, &[]).hint().unwrap().contains("`cli`"));
        assert!(registry(403, &[("DENIED", "")])
            .hint()
            .unwrap()
            .contains("role"));
        assert!(registry(404, &[("NAME_UNKNOWN", "")])
            .hint()
            .unwrap()
            .contains("check the repository `images.astronomer.cloud/cxyz/dep`"));
        assert!(registry(400, &[("MANIFEST_BLOB_UNKNOWN", "")])
            .hint()
            .unwrap()
            .contains("before the manifest"));
        assert!(registry(503, &[]).is_retryable());
        assert_eq!(registry(418, &[]).hint(), None);
    }

    #[test]
    fn bodies_without_error_codes_are_quoted() {
        let mut error = RegistryError {
            operation: "getting manifest `t`".into(),
            registry: "r".into(),
            repository: "x".into(),
            status: 502,
            errors: vec![],
            body: Some("<html>bad gateway</html>".into()),
            retry_after: None,
        };
        assert!(error
            .to_string()
            .ends_with("502 Bad Gateway: <html>bad gateway</html>"));
        error.errors.push(ErrorDetail {
            code: "UNKNOWN".into(),
            message: String::new(),
        });
        assert!(error.to_string().ends_with("502 Bad Gateway: UNKNOWN"));
    }
}
