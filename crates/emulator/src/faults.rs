//! Injected faults: answer with an error status, answer late, drop the connection, or serve
//! the request but leave a header out of the answer.
//!
//! A fault matches requests by method and by a substring of the path; `times` counts the
//! matching requests it affects, after which it is gone. The first matching fault in the order
//! they were added applies. Faults apply to the Platform routes and the blob routes, not to
//! `/emulator/` itself.

use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::server::{lock, App, Conn};

/// One fault to inject, as `POST /emulator/faults` takes it:
/// `{"method": "POST", "pathContains": "/deploys", "kind": "status", "status": 503, "times": 2}`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Fault {
    /// The HTTP method to match (any when absent), case-insensitive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// A substring of the request path (without query) to match (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path_contains: Option<String>,
    /// What happens to a matching request.
    #[serde(flatten)]
    pub kind: FaultKind,
    /// How many matching requests are affected; 1 when absent.
    #[serde(default = "one")]
    pub times: u32,
}

fn one() -> u32 {
    1
}

/// What a fault does, tagged by `kind`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum FaultKind {
    /// Answers `status` (400 to 599) with an error body in the route's own shape, and a
    /// `Retry-After` header of `retry_after` seconds when given.
    Status {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Waits `latency_ms`, then serves the request normally.
    Latency { latency_ms: u64 },
    /// Closes the connection without answering.
    Drop,
    /// Serves the request normally, then removes `header` from the answer (e.g.
    /// `x-ms-version-id`, which storage without blob versioning does not send).
    OmitHeader { header: String },
}

impl Fault {
    /// A fault of `kind` for the next matching request of any method and path.
    pub fn new(kind: FaultKind) -> Self {
        Self {
            method: None,
            path_contains: None,
            kind,
            times: 1,
        }
    }

    /// Answers `status` with an error body.
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status {
            status,
            retry_after: None,
            message: None,
        })
    }

    /// Answers late by `latency`.
    pub fn latency(latency: Duration) -> Self {
        let latency_ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        Self::new(FaultKind::Latency { latency_ms })
    }

    /// Drops the connection.
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::Drop)
    }

    /// Serves the request but leaves `header` out of the answer.
    pub fn omit_header(header: &str) -> Self {
        Self::new(FaultKind::OmitHeader {
            header: header.to_owned(),
        })
    }

    /// Only for requests of this method.
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_owned());
        self
    }

    /// Only for paths that contain `part`.
    pub fn path_contains(mut self, part: &str) -> Self {
        self.path_contains = Some(part.to_owned());
        self
    }

    /// For this many matching requests.
    pub fn times(mut self, times: u32) -> Self {
        self.times = times;
        self
    }

    /// Adds a `Retry-After` to a status fault.
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let FaultKind::Status { retry_after, .. } = &mut self.kind {
            *retry_after = Some(seconds);
        }
        self
    }

    /// Why this fault cannot be injected, if it cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        match &self.kind {
            FaultKind::Status { status, .. } if !(400..=599).contains(status) => Some(format!(
                "`status` must be between 400 and 599, not {status}"
            )),
            FaultKind::OmitHeader { header }
                if axum::http::HeaderName::from_bytes(header.as_bytes()).is_err() =>
            {
                Some(format!("`header` must be a header name, not `{header}`"))
            }
            _ if self.times == 0 => Some("`times` must be at least 1".to_owned()),
            _ => None,
        }
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        let method_matches = self
            .method
            .as_ref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_matches = self
            .path_contains
            .as_ref()
            .is_none_or(|part| path.contains(part));
        method_matches && path_matches
    }
}

/// Takes one use of the first fault matching a request.
fn take(app: &App, method: &str, path: &str) -> Option<FaultKind> {
    let mut faults = lock(&app.faults);
    let index = faults
        .iter()
        .position(|f| f.times > 0 && f.matches(method, path))?;
    let fault = &mut faults[index];

    fault.times = fault.times.saturating_sub(1);
    let kind = fault.kind.clone();
    if fault.times == 0 {
        faults.remove(index);
    }
    Some(kind)
}

/// What happened to a request on its way through [`apply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Served,
    Faulted,
    Cut,
}

/// Runs a request through the faults; `answer` builds a status fault's response from the status
/// and a message.
pub(crate) async fn apply(
    app: &App,
    request: Request,
    next: Next,
    answer: impl FnOnce(u16, &str) -> Response,
) -> (Response, Outcome) {
    let path = request.uri().path().to_owned();
    let Some(kind) = take(app, request.method().as_str(), &path) else {
        return (next.run(request).await, Outcome::Served);
    };
    tracing::debug!(?kind, %path, "injecting a fault");

    match kind {
        FaultKind::Status {
            status,
            retry_after,
            message,
        } => {
            let message = message.unwrap_or_else(|| format!("injected fault: status {status}"));
            let mut response = answer(status, &message);
            if let Some(seconds) = retry_after {
                response
                    .headers_mut()
                    .insert("retry-after", HeaderValue::from(seconds));
            }
            (response, Outcome::Faulted)
        }
        FaultKind::Latency { latency_ms } => {
            tokio::time::sleep(Duration::from_millis(latency_ms)).await;
            (next.run(request).await, Outcome::Faulted)
        }
        FaultKind::OmitHeader { header } => {
            let mut response = next.run(request).await;
            response.headers_mut().remove(header.as_str());
            (response, Outcome::Faulted)
        }
        FaultKind::Drop => {
            match request.extensions().get::<ConnectInfo<Conn>>() {
                Some(ConnectInfo(conn)) => {
                    tracing::debug!(remote = %conn.remote, "cutting the connection");
                    conn.cut();
                }
                None => tracing::warn!("a drop fault found no connection to cut"),
            }
            (
                StatusCode::INTERNAL_SERVER_ERROR.into_response(),
                Outcome::Cut,
            )
        }
    }
}
