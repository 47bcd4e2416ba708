//! The GitLab CI adapter's API side: one merge request note per Deployment, updated in place.
//!
//! The note reports a deploy that already happened, so a token that may not write it (GitLab
//! answers 401, 403 or 404) is not an error: [`GitlabApi::upsert_mr_note`] returns
//! [`ApiOutcome::NotPermitted`], which the caller shows as a warning naming the token scope and
//! role it needs. Anything else GitLab refuses is a [`GitlabApiError`].
//!
//! The token travels in the `PRIVATE-TOKEN` header only. It never appears in an error, a log or
//! `Debug` output: [`GitlabToken`] hides it, and every message taken from an answer is redacted
//! before it is kept.
//!
//! Known limit: requests are not retried; a 5xx answer fails the note (a warning for the
//! caller). Retrying only the idempotent `GET` and `PUT` with the `backoff` crate's waits would
//! fix it without risking a duplicate `POST`.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};

use crate::url_path::encode_path_segment;

/// The scope a GitLab token needs to write notes.
pub const NOTE_SCOPE: &str = "api";

/// GitLab refuses longer notes (1,000,000 characters).
const MAX_NOTE_CHARS: usize = 900_000;
/// Pages of 100 notes read while looking for the marker.
const MAX_NOTE_PAGES: u32 = 30;
/// How much of an error body is kept in a message.
const MAX_MESSAGE_CHARS: usize = 300;

/// A GitLab token (project, group or personal access token). `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct GitlabToken(String);

impl GitlabToken {
    pub fn new(token: impl Into<String>) -> GitlabToken {
        GitlabToken(token.into().trim().to_owned())
    }

    /// The secret itself, for the `PRIVATE-TOKEN` header only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GitlabToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GitlabToken(***)")
    }
}

/// The answer of a call that GitLab may refuse for lack of permission.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum ApiOutcome<T> {
    Done(T),
    /// GitLab answered 401, 403 or 404: the token may not do this. Show it as a warning.
    NotPermitted(NotPermitted),
}

/// A note call the token was not allowed to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPermitted {
    /// What was refused, after "failed to": ``comment on merge request !12 of project `42` ``.
    pub action: String,
    pub status: u16,
    /// GitLab's message, with the token redacted.
    pub message: String,
}

impl NotPermitted {
    /// One line for the job log.
    pub fn warning(&self) -> String {
        format!(
            "GitLab did not let the token {} ({}: {}); the deploy itself is not affected",
            self.action, self.status, self.message
        )
    }

    /// What to change about the token.
    pub fn hint(&self) -> String {
        format!(
            "set GITLAB_TOKEN to a project access token with the `{NOTE_SCOPE}` scope and at \
             least the Reporter role (Developer where merge requests are restricted); \
             CI_JOB_TOKEN cannot write notes"
        )
    }
}

/// The merge request note after [`GitlabApi::upsert_mr_note`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub id: u64,
    /// `false` when an earlier note with the marker was updated.
    pub created: bool,
}

/// Why a GitLab API call failed, other than a refused permission.
#[derive(Debug, thiserror::Error)]
pub enum GitlabApiError {
    #[error("setting up the GitLab API client for `{url}`")]
    Client {
        url: String,
        #[source]
        source: GitlabCause,
    },
    #[error("{action}")]
    Request {
        action: String,
        #[source]
        source: GitlabCause,
    },
}

impl GitlabApiError {
    /// What to do about it, when that is known.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            GitlabApiError::Client { .. } => Some(
                "CI_API_V4_URL must be an http(s) URL such as https://gitlab.com/api/v4, and \
                 CI_PROJECT_ID the project's id or its URL-encoded path",
            ),
            GitlabApiError::Request { source, .. } => match source.status {
                Some(400 | 422) => Some("GitLab refused the request's fields; see its message"),
                _ => None,
            },
        }
    }
}

/// What GitLab (or the connection to it) said; the token is redacted from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitlabCause {
    /// The HTTP status, when GitLab answered.
    pub status: Option<u16>,
    pub message: String,
}

impl fmt::Display for GitlabCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "GitLab answered {status}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for GitlabCause {}

/// A GitLab REST API (v4) client for one project.
pub struct GitlabApi {
    http: reqwest::Client,
    api_url: String,
    project_id: String,
    token: GitlabToken,
}

impl fmt::Debug for GitlabApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GitlabApi")
            .field("api_url", &self.api_url)
            .field("project_id", &self.project_id)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct NoteRef {
    id: u64,
    #[serde(default)]
    body: Option<String>,
}

#[derive(Serialize)]
struct NoteBody<'a> {
    body: &'a str,
}

/// A failed exchange, before it is sorted into refused or failed.
struct Failed(GitlabCause);

impl GitlabApi {
    /// A client for `project_id` (`CI_PROJECT_ID`) at `api_url` (`CI_API_V4_URL`).
    pub fn new(
        api_url: &str,
        project_id: &str,
        token: GitlabToken,
    ) -> Result<GitlabApi, GitlabApiError> {
        let url = api_url.trim().trim_end_matches('/').to_owned();
        let client_error = |message: String| GitlabApiError::Client {
            url: url.clone(),
            source: GitlabCause {
                status: None,
                message,
            },
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(client_error("not an http(s) URL".to_owned()));
        }
        let project_id = project_id.trim();
        if project_id.is_empty() {
            return Err(client_error("the project id is empty".to_owned()));
        }

        let mut secret = HeaderValue::from_str(token.expose())
            .map_err(|_| client_error("the token is not a valid header value".to_owned()))?;
        secret.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(HeaderName::from_static("private-token"), secret);
        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(concat!("astro-deploy/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| client_error(redact(&describe(&e), &token)))?;
        Ok(GitlabApi {
            http,
            api_url: url,
            project_id: encode_path_segment(project_id),
            token,
        })
    }

    /// Creates the merge request's note for this marker, or updates the first note that starts
    /// with it, so that each Deployment has one note however often the pipeline runs. `marker`
    /// is [`crate::github::comment_marker`]; a `body` that does not start with it gets it in
    /// front, so that the next run finds the note.
    pub async fn upsert_mr_note(
        &self,
        mr_iid: u64,
        marker: &str,
        body: &str,
    ) -> Result<ApiOutcome<Note>, GitlabApiError> {
        let action = format!(
            "comment on merge request !{mr_iid} of project `{}`",
            self.project_id
        );
        let body = match body.trim_start().starts_with(marker) {
            true => fit_note(body),
            false => fit_note(&format!("{marker}\n{body}")),
        };
        let notes = format!(
            "{}/projects/{}/merge_requests/{mr_iid}/notes",
            self.api_url, self.project_id
        );

        let existing = match self.find_note(&notes, marker).await {
            Ok(found) => found,
            Err(Failed(cause)) => return refused(action, cause),
        };

        let answer = match existing {
            Some(id) => {
                tracing::debug!(note = id, "updating the merge request note");
                let url = format!("{notes}/{id}");
                self.send::<NoteRef>(Method::PUT, &url, Some(&NoteBody { body: &body }))
                    .await
            }
            None => {
                tracing::debug!("creating the merge request note");
                self.send::<NoteRef>(Method::POST, &notes, Some(&NoteBody { body: &body }))
                    .await
            }
        };
        match answer {
            Ok((note, _)) => Ok(ApiOutcome::Done(Note {
                id: note.id,
                created: existing.is_none(),
            })),
            Err(Failed(cause)) => refused(action, cause),
        }
    }

    /// The project as it appears in URLs: an id, or a path encoded as one segment.
    pub fn project_id(&self) -> &str {
        &self.project_id
    }

    /// Reads `GET /projects/:id{route}` into `T`, for questions rather than reports (the review
    /// host): the caller decides what each status means, so every failure comes back as the
    /// redacted [`GitlabCause`]. `route` must be percent-encoded already.
    pub(crate) async fn get_in_project<T>(&self, route: &str) -> Result<T, GitlabCause>
    where
        T: for<'de> Deserialize<'de>,
    {
        let url = format!("{}/projects/{}{route}", self.api_url, self.project_id);
        match self.send::<T>(Method::GET, &url, None).await {
            Ok((value, _)) => Ok(value),
            Err(Failed(cause)) => Err(cause),
        }
    }

    async fn find_note(&self, notes: &str, marker: &str) -> Result<Option<u64>, Failed> {
        let mut page = 1;
        for _ in 0..MAX_NOTE_PAGES {
            let url = format!("{notes}?per_page=100&page={page}");
            let (found, headers) = self.send::<Vec<NoteRef>>(Method::GET, &url, None).await?;
            let note = found.iter().find(|n| {
                n.body
                    .as_deref()
                    .is_some_and(|b| b.trim_start().starts_with(marker))
            });
            if let Some(note) = note {
                return Ok(Some(note.id));
            }
            // GitLab leaves `x-next-page` empty on the last page.
            let next = headers
                .get("x-next-page")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u32>().ok());
            match next {
                Some(next) if next > page => page = next,
                _ => return Ok(None),
            }
        }
        tracing::debug!("no marker in the first {MAX_NOTE_PAGES} pages of notes");
        Ok(None)
    }

    async fn send<T: for<'de> Deserialize<'de>>(
        &self,
        method: Method,
        url: &str,
        body: Option<&NoteBody<'_>>,
    ) -> Result<(T, HeaderMap), Failed> {
        let mut request = self.http.request(method, url);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.failed(None, &e))?;

        let status = response.status();
        let headers = response.headers().clone();
        let text = response
            .text()
            .await
            .map_err(|e| self.failed(Some(status), &e))?;
        if !status.is_success() {
            return Err(Failed(GitlabCause {
                status: Some(status.as_u16()),
                message: self.redact(&error_message(&text)),
            }));
        }
        let value = serde_json::from_str(&text).map_err(|e| {
            Failed(GitlabCause {
                status: Some(status.as_u16()),
                message: format!("reading GitLab's answer: {e}"),
            })
        })?;
        Ok((value, headers))
    }

    fn failed(&self, status: Option<StatusCode>, error: &reqwest::Error) -> Failed {
        Failed(GitlabCause {
            status: status.map(|s| s.as_u16()),
            message: self.redact(&describe(error)),
        })
    }

    fn redact(&self, text: &str) -> String {
        redact(text, &self.token)
    }
}

/// A 401, 403 or 404 is a refused permission; anything else an error.
fn refused<T>(action: String, cause: GitlabCause) -> Result<ApiOutcome<T>, GitlabApiError> {
    match cause.status {
        Some(status @ (401 | 403 | 404)) => Ok(ApiOutcome::NotPermitted(NotPermitted {
            action,
            status,
            message: cause.message,
        })),
        _ => Err(GitlabApiError::Request {
            action,
            source: cause,
        }),
    }
}

/// GitLab's `{"message": ...}` or `{"error": ...}`, or the start of the body.
fn error_message(text: &str) -> String {
    let json: Option<serde_json::Value> = serde_json::from_str(text).ok();
    let field = json.as_ref().and_then(|v| {
        ["message", "error"].iter().find_map(|key| {
            v.get(key)
                .map(|m| m.as_str().map_or(m.to_string(), str::to_owned))
        })
    });
    let message = field.unwrap_or_else(|| text.trim().to_owned());
    match message.is_empty() {
        true => "no message".to_owned(),
        false => message.chars().take(MAX_MESSAGE_CHARS).collect(),
    }
}

/// An error and its causes on one line.
fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let line = cause.to_string();
        if !text.contains(&line) {
            text.push_str(": ");
            text.push_str(&line);
        }
        source = cause.source();
    }
    text
}

fn redact(text: &str, token: &GitlabToken) -> String {
    let secret = token.expose();
    match secret.len() >= 4 {
        true => text.replace(secret, "***"),
        false => text.to_owned(),
    }
}

fn fit_note(body: &str) -> String {
    match body.char_indices().nth(MAX_NOTE_CHARS) {
        Some((at, _)) => format!("{}\n\n… (cut: GitLab limits notes in size)", &body[..at]),
        None => body.to_owned(),
    }
}
