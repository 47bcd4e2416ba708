//! The GitHub Actions adapter's API side, through octocrab: one pull request comment per
//! Deployment, updated in place, and a GitHub Deployment with its status for the environment.
//!
//! Both are reports about a deploy that already happened, so a token that may not do them
//! (GitHub answers 403 or 404) is not an error: the calls return
//! [`ApiOutcome::NotPermitted`], which the caller shows as a warning with the `permissions:`
//! the workflow needs. Anything else GitHub refuses is a [`GithubApiError`].
//!
//! octocrab carries the requests (auth, base URL, retries of server errors, timeouts, GitHub's
//! error bodies), through its generic verbs with this module's own small request and response
//! types: the adapter reads two or three fields of each answer, and a typed model that requires
//! thirty would fail the step when GitHub, or an older GitHub Enterprise Server, leaves out one
//! it does not use.
//!
//! The token never appears in an error, a log or `Debug` output: [`GithubToken`] hides it, and
//! every message taken from an answer is redacted before it is kept.
//!
//! Known limit: octocrab retries a 5xx answer at once, also for `POST`s; a create that GitHub
//! applied before failing can then be made twice. For the comment, the next run updates the
//! first of them; a duplicate GitHub Deployment stays. A retry policy that only repeats
//! idempotent requests (a tower layer around octocrab's client) would fix it.

use std::fmt;
use std::time::Duration;

use octocrab::{Octocrab, Page};
use serde::{Deserialize, Serialize};

use crate::github::DeployReport;
use crate::github::ReportStatus;

/// The workflow permission a pull request comment needs.
pub const COMMENT_PERMISSION: &str = "pull-requests: write";
/// The workflow permission a GitHub Deployment needs.
pub const DEPLOYMENT_PERMISSION: &str = "deployments: write";

/// GitHub refuses longer comments (65,536 characters).
const MAX_COMMENT_CHARS: usize = 65_000;
/// GitHub refuses longer deployment status descriptions.
const MAX_STATUS_DESCRIPTION_CHARS: usize = 140;
/// Pages of 100 comments read while looking for the marker.
const MAX_COMMENT_PAGES: usize = 30;

/// A GitHub token. `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct GithubToken(String);

impl GithubToken {
    pub fn new(token: impl Into<String>) -> GithubToken {
        GithubToken(token.into().trim().to_owned())
    }

    /// The secret itself, for the `Authorization` header and `::add-mask::` only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for GithubToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("GithubToken(***)")
    }
}

/// A repository, `owner/name`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repository {
    pub owner: String,
    pub name: String,
}

impl Repository {
    /// Parses `owner/name` as in `GITHUB_REPOSITORY`.
    pub fn parse(text: &str) -> Result<Repository, GithubApiError> {
        let valid = |part: &str| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match text.trim().split_once('/') {
            Some((owner, name)) if valid(owner) && valid(name) => Ok(Repository {
                owner: owner.to_owned(),
                name: name.to_owned(),
            }),
            _ => Err(GithubApiError::Repository(text.to_owned())),
        }
    }
}

impl fmt::Display for Repository {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// The answer of a call that GitHub may refuse for lack of permission.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub enum ApiOutcome<T> {
    Done(T),
    /// GitHub answered 403 or 404: the token may not do this. Show it as a warning.
    NotPermitted(NotPermitted),
}

/// A call the token was not allowed to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotPermitted {
    /// What was refused, after "failed to": ``comment on pull request #12 of `acme/airflow` ``.
    pub action: String,
    pub status: u16,
    /// GitHub's message, with the token redacted.
    pub message: String,
    /// The `permissions:` entry the workflow needs: [`COMMENT_PERMISSION`] or
    /// [`DEPLOYMENT_PERMISSION`].
    pub permission: &'static str,
}

impl NotPermitted {
    /// One line for a `::warning::`.
    pub fn warning(&self) -> String {
        format!(
            "GitHub did not let the token {} ({}: {}); the deploy itself is not affected",
            self.action, self.status, self.message
        )
    }

    /// What to change in the workflow.
    pub fn hint(&self) -> String {
        format!(
            "give the job `permissions:` with `{}` (a job that sets `permissions:` gets only \
             what it lists); pull requests from forks get a read-only token whatever the \
             workflow asks",
            self.permission
        )
    }
}

/// The pull request comment after [`GithubApi::upsert_pr_comment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrComment {
    pub id: u64,
    pub url: String,
    /// `false` when an earlier comment with the marker was updated.
    pub created: bool,
}

/// The state a GitHub Deployment status reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeploymentState {
    InProgress,
    Success,
    Failure,
    /// The environment is gone (a deleted preview).
    Inactive,
}

/// A GitHub Deployment to create for an environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeploymentRequest {
    /// The branch, tag or sha deployed.
    pub git_ref: String,
    pub environment: String,
    pub description: Option<String>,
    /// `true` for previews: GitHub marks the environment as going away.
    pub transient: bool,
    /// `None` leaves GitHub's default (`true` only for an environment named `production`).
    pub production: Option<bool>,
}

/// A status of a GitHub Deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRequest {
    pub state: DeploymentState,
    /// The Airflow UI.
    pub environment_url: Option<String>,
    /// The workflow run.
    pub log_url: Option<String>,
    /// Cut to GitHub's 140 characters.
    pub description: Option<String>,
}

/// A GitHub Deployment and its status, as recorded by [`GithubApi::record_deployment`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedDeployment {
    pub deployment_id: u64,
    pub status_id: u64,
}

impl DeploymentRequest {
    /// The GitHub Deployment for a report: the environment is the Astro Deployment's name.
    /// `None` for a skipped run, which deployed nothing.
    pub fn for_report(
        report: &DeployReport,
        git_ref: &str,
        log_url: Option<&str>,
    ) -> Option<(DeploymentRequest, StatusRequest)> {
        let (state, description) = match &report.status {
            ReportStatus::Deployed(deployed) => (
                DeploymentState::Success,
                format!(
                    "astro-deploy: deploy {} ({})",
                    deployed.deploy_id,
                    crate::github::deploy_kind_name(&deployed.deploy_type)
                ),
            ),
            ReportStatus::Failed { .. } => (
                DeploymentState::Failure,
                "astro-deploy: the deploy failed".to_owned(),
            ),
            ReportStatus::Skipped { .. } | ReportStatus::Deleted => return None,
        };
        let deployment = DeploymentRequest {
            git_ref: git_ref.to_owned(),
            environment: report.deployment_label().to_owned(),
            description: Some(description.clone()),
            transient: report.preview.is_some(),
            // A preview is never production, whatever its name.
            production: report.preview.is_some().then_some(false),
        };
        let status = StatusRequest {
            state,
            environment_url: report.deployment.airflow_url.clone(),
            log_url: log_url.map(str::to_owned),
            description: Some(description),
        };
        Some((deployment, status))
    }
}

/// Why a GitHub API call failed, other than a refused permission.
#[derive(Debug, thiserror::Error)]
pub enum GithubApiError {
    #[error("reading the repository name `{0}` (expected `owner/name`)")]
    Repository(String),
    #[error("setting up the GitHub API client for `{url}`")]
    Client {
        url: String,
        #[source]
        source: GithubCause,
    },
    #[error("{action}")]
    Request {
        action: String,
        #[source]
        source: GithubCause,
    },
}

impl GithubApiError {
    /// What to do about it, when that is known.
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            GithubApiError::Repository(_) => {
                Some("GITHUB_REPOSITORY names the repository as `owner/name`")
            }
            GithubApiError::Client { .. } => Some(
                "GITHUB_API_URL must be an http(s) URL, such as https://api.github.com or \
                 https://HOST/api/v3 for GitHub Enterprise Server",
            ),
            GithubApiError::Request { source, .. } => match source.status {
                Some(401) => Some(
                    "the github-token is invalid or expired; the default `${{ github.token }}` \
                     works for the repository running the workflow",
                ),
                Some(422) => Some("GitHub refused the request's fields; see its message"),
                _ => None,
            },
        }
    }
}

/// What GitHub (or the connection to it) said; the token is redacted from the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GithubCause {
    /// The HTTP status, when GitHub answered.
    pub status: Option<u16>,
    pub message: String,
}

impl fmt::Display for GithubCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.status {
            Some(status) => write!(f, "GitHub answered {status}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for GithubCause {}

/// A GitHub REST API client for one repository.
pub struct GithubApi {
    octocrab: Octocrab,
    repository: Repository,
    token: GithubToken,
}

impl fmt::Debug for GithubApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GithubApi")
            .field("repository", &self.repository)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct CommentRef {
    id: u64,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    html_url: String,
}

#[derive(Serialize)]
struct CommentBody<'a> {
    body: &'a str,
}

#[derive(Serialize)]
struct CreateDeployment<'a> {
    #[serde(rename = "ref")]
    git_ref: &'a str,
    task: &'a str,
    auto_merge: bool,
    required_contexts: Vec<String>,
    environment: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
    transient_environment: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    production_environment: Option<bool>,
}

#[derive(Serialize)]
struct CreateStatus<'a> {
    state: DeploymentState,
    #[serde(skip_serializing_if = "Option::is_none")]
    environment_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
}

/// GitHub answers a created deployment with the deployment; an auto-merge with a message only.
#[derive(Deserialize)]
struct Created {
    id: Option<u64>,
    #[serde(default)]
    message: Option<String>,
}

impl GithubApi {
    /// A client for `repository` (`owner/name`) at `api_url` (`GITHUB_API_URL`). Must be called
    /// inside a Tokio runtime: octocrab starts its connection task here.
    pub fn new(
        api_url: &str,
        repository: &str,
        token: GithubToken,
    ) -> Result<GithubApi, GithubApiError> {
        let repository = Repository::parse(repository)?;
        let url = api_url.trim().trim_end_matches('/').to_owned();
        let client_error = |message: String| GithubApiError::Client {
            url: url.clone(),
            source: GithubCause {
                status: None,
                message,
            },
        };
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(client_error("not an http(s) URL".to_owned()));
        }

        let octocrab = Octocrab::builder()
            .base_uri(url.as_str())
            .map_err(|e| client_error(redact(&describe(&e), &token)))?
            .personal_token(token.expose().to_owned())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(30)))
            .build()
            .map_err(|e| client_error(redact(&describe(&e), &token)))?;
        Ok(GithubApi {
            octocrab,
            repository,
            token,
        })
    }

    pub fn repository(&self) -> &Repository {
        &self.repository
    }

    /// Creates the pull request's comment for this marker, or updates the first comment that
    /// starts with it, so that each Deployment has one comment however often the workflow runs.
    /// `marker` is [`crate::github::comment_marker`]; a `body` that does not start with it gets
    /// it in front, so that the next run finds the comment.
    pub async fn upsert_pr_comment(
        &self,
        pull_request: u64,
        marker: &str,
        body: &str,
    ) -> Result<ApiOutcome<PrComment>, GithubApiError> {
        let repo = &self.repository;
        let action = format!("comment on pull request #{pull_request} of `{repo}`");
        let body = match body.trim_start().starts_with(marker) {
            true => fit_comment(body),
            false => fit_comment(&format!("{marker}\n{body}")),
        };

        let existing = match self.find_comment(pull_request, marker).await {
            Ok(found) => found,
            Err(error) => return self.refused(action, COMMENT_PERMISSION, error),
        };

        let answer: Result<CommentRef, _> = match existing {
            Some(id) => {
                let route = format!("/repos/{repo}/issues/comments/{id}");
                tracing::debug!(comment = id, "updating the pull request comment");
                self.octocrab
                    .patch(route, Some(&CommentBody { body: &body }))
                    .await
            }
            None => {
                let route = format!("/repos/{repo}/issues/{pull_request}/comments");
                tracing::debug!("creating the pull request comment");
                self.octocrab
                    .post(route, Some(&CommentBody { body: &body }))
                    .await
            }
        };
        match answer {
            Ok(comment) => Ok(ApiOutcome::Done(PrComment {
                id: comment.id,
                url: comment.html_url,
                created: existing.is_none(),
            })),
            Err(error) => self.refused(action, COMMENT_PERMISSION, error),
        }
    }

    async fn find_comment(
        &self,
        pull_request: u64,
        marker: &str,
    ) -> Result<Option<u64>, octocrab::Error> {
        let route = format!("/repos/{}/issues/{pull_request}/comments", self.repository);
        let mut page: Page<CommentRef> = self
            .octocrab
            .get(route, Some(&[("per_page", "100")]))
            .await?;
        for _ in 0..MAX_COMMENT_PAGES {
            let found = page.items.iter().find(|c| {
                c.body
                    .as_deref()
                    .is_some_and(|b| b.trim_start().starts_with(marker))
            });
            if let Some(comment) = found {
                return Ok(Some(comment.id));
            }
            match self.octocrab.get_page::<CommentRef>(&page.next).await? {
                Some(next) => page = next,
                None => return Ok(None),
            }
        }
        tracing::debug!("no marker in the first {MAX_COMMENT_PAGES} pages of comments");
        Ok(None)
    }

    /// Creates a GitHub Deployment (no auto-merge, no required status checks).
    pub async fn create_deployment(
        &self,
        request: &DeploymentRequest,
    ) -> Result<ApiOutcome<u64>, GithubApiError> {
        let repo = &self.repository;
        let action = format!(
            "create a GitHub Deployment of `{}` for the environment `{}` in `{repo}`",
            request.git_ref, request.environment
        );
        let body = CreateDeployment {
            git_ref: &request.git_ref,
            task: "deploy",
            auto_merge: false,
            required_contexts: Vec::new(),
            environment: &request.environment,
            description: request.description.as_deref(),
            transient_environment: request.transient,
            production_environment: request.production,
        };
        let route = format!("/repos/{repo}/deployments");
        let created: Created = match self.octocrab.post(route, Some(&body)).await {
            Ok(created) => created,
            Err(error) => return self.refused(action, DEPLOYMENT_PERMISSION, error),
        };
        match created.id {
            Some(id) => Ok(ApiOutcome::Done(id)),
            None => Err(GithubApiError::Request {
                action,
                source: GithubCause {
                    status: None,
                    message: format!(
                        "GitHub created no deployment: {}",
                        self.redact(created.message.as_deref().unwrap_or("no message"))
                    ),
                },
            }),
        }
    }

    /// Adds a status to a GitHub Deployment.
    pub async fn create_deployment_status(
        &self,
        deployment_id: u64,
        status: &StatusRequest,
    ) -> Result<ApiOutcome<u64>, GithubApiError> {
        let repo = &self.repository;
        let action = format!("set the status of GitHub Deployment {deployment_id} in `{repo}`");
        let body = CreateStatus {
            state: status.state,
            environment_url: status.environment_url.as_deref(),
            log_url: status.log_url.as_deref(),
            description: status
                .description
                .as_deref()
                .map(|d| cut(d, MAX_STATUS_DESCRIPTION_CHARS)),
        };
        let route = format!("/repos/{repo}/deployments/{deployment_id}/statuses");
        match self.octocrab.post::<_, Created>(route, Some(&body)).await {
            Ok(Created { id: Some(id), .. }) => Ok(ApiOutcome::Done(id)),
            Ok(Created { id: None, .. }) => Err(GithubApiError::Request {
                action,
                source: GithubCause {
                    status: None,
                    message: "GitHub's answer has no status `id`".to_owned(),
                },
            }),
            Err(error) => self.refused(action, DEPLOYMENT_PERMISSION, error),
        }
    }

    /// Creates the GitHub Deployment and gives it its status.
    pub async fn record_deployment(
        &self,
        deployment: &DeploymentRequest,
        status: &StatusRequest,
    ) -> Result<ApiOutcome<RecordedDeployment>, GithubApiError> {
        let deployment_id = match self.create_deployment(deployment).await? {
            ApiOutcome::Done(id) => id,
            ApiOutcome::NotPermitted(refused) => return Ok(ApiOutcome::NotPermitted(refused)),
        };
        Ok(
            match self.create_deployment_status(deployment_id, status).await? {
                ApiOutcome::Done(status_id) => ApiOutcome::Done(RecordedDeployment {
                    deployment_id,
                    status_id,
                }),
                ApiOutcome::NotPermitted(refused) => ApiOutcome::NotPermitted(refused),
            },
        )
    }

    /// Marks the GitHub Deployments of `environment` inactive, newest first (one page of 30),
    /// and gives how many were marked: the environment of a deleted preview then shows as gone.
    pub async fn deactivate_environment(
        &self,
        environment: &str,
    ) -> Result<ApiOutcome<usize>, GithubApiError> {
        let repo = &self.repository;
        let action = format!("list the GitHub Deployments of `{environment}` in `{repo}`");
        let route = format!(
            "/repos/{repo}/deployments?environment={}",
            crate::url_path::encode_path_segment(environment)
        );
        let listed: Vec<Created> = match self.octocrab.get(route, None::<&()>).await {
            Ok(listed) => listed,
            Err(error) => return self.refused(action, DEPLOYMENT_PERMISSION, error),
        };

        let status = StatusRequest {
            state: DeploymentState::Inactive,
            environment_url: None,
            log_url: None,
            description: Some("astro-deploy: the preview was deleted".to_owned()),
        };
        let mut marked = 0;
        for deployment in listed {
            let Some(id) = deployment.id else { continue };
            match self.create_deployment_status(id, &status).await? {
                ApiOutcome::Done(_) => marked += 1,
                ApiOutcome::NotPermitted(refused) => return Ok(ApiOutcome::NotPermitted(refused)),
            }
        }
        Ok(ApiOutcome::Done(marked))
    }

    /// Reads `GET /repos/{owner}/{repo}{route}` into `T`, for questions rather than reports
    /// (the review host): the caller decides what each status means, so every failure comes
    /// back as the redacted [`GithubCause`]. `route` must be percent-encoded already.
    pub(crate) async fn get_in_repo<T>(&self, route: &str) -> Result<T, GithubCause>
    where
        T: serde::de::DeserializeOwned,
    {
        let route = format!("/repos/{}{route}", self.repository);
        self.octocrab
            .get(route, None::<&()>)
            .await
            .map_err(|error| self.cause(&error))
    }

    /// A 403 or 404 is a refused permission; anything else an error. Both redacted.
    fn refused<T>(
        &self,
        action: String,
        permission: &'static str,
        error: octocrab::Error,
    ) -> Result<ApiOutcome<T>, GithubApiError> {
        let cause = self.cause(&error);
        match cause.status {
            Some(403 | 404) => Ok(ApiOutcome::NotPermitted(NotPermitted {
                action,
                status: cause.status.unwrap_or_default(),
                message: cause.message,
                permission,
            })),
            _ => Err(GithubApiError::Request {
                action,
                source: cause,
            }),
        }
    }

    fn cause(&self, error: &octocrab::Error) -> GithubCause {
        match error {
            octocrab::Error::GitHub { source, .. } => {
                let mut message = source.message.clone();
                if let Some(errors) = source.errors.as_ref().filter(|e| !e.is_empty()) {
                    let details: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
                    message.push_str(&format!(" ({})", details.join(", ")));
                }
                GithubCause {
                    status: Some(source.status_code.as_u16()),
                    message: self.redact(&message),
                }
            }
            other => GithubCause {
                status: None,
                message: self.redact(&describe(other)),
            },
        }
    }

    fn redact(&self, text: &str) -> String {
        redact(text, &self.token)
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

fn redact(text: &str, token: &GithubToken) -> String {
    let secret = token.expose();
    match secret.len() >= 4 {
        true => text.replace(secret, "***"),
        false => text.to_owned(),
    }
}

fn cut(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((at, _)) => {
            let mut short: String = text[..at].chars().take(max_chars - 1).collect();
            short.push('…');
            short
        }
        None => text.to_owned(),
    }
}

fn fit_comment(body: &str) -> String {
    match body.char_indices().nth(MAX_COMMENT_CHARS) {
        Some((at, _)) => format!("{}\n\n… (cut: GitHub limits comments in size)", &body[..at]),
        None => body.to_owned(),
    }
}
