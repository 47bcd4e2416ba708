//! The event that started a CI run, told the same way for every CI system.
//!
//! An adapter ([`crate::github_event`], [`crate::gitlab_event`]) reads its CI's payload or
//! variables into a [`CiEvent`]: the ref and commit being built, the pull or merge request if
//! there is one, and the [`RevisionRange`] that the core's [`deploy::changes::detect`] turns
//! into what to deploy. The adapters decide nothing about deploys; they only say which commits
//! to compare and why there is nothing to compare when there is not.

use std::path::PathBuf;

pub use deploy::changes::{RangeKind, RevisionRange};

use crate::CiSystem;

/// Whether the run is for a branch or a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefType {
    Branch,
    Tag,
}

/// Where a pull or merge request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PullRequestState {
    Open,
    /// Closed without being merged.
    Closed,
    Merged,
}

/// The pull request (GitHub) or merge request (GitLab) of a run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequestInfo {
    pub number: u64,
    /// The branch with the changes.
    pub head_ref: String,
    /// The branch the changes go into.
    pub base_ref: String,
    /// Whether the changes come from another repository (a fork), whose runs get no secrets.
    /// True when the CI does not say where they come from.
    pub from_fork: bool,
    pub state: PullRequestState,
}

/// The event of one CI run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiEvent {
    pub system: CiSystem,
    /// The CI's name for the event: `push`, `pull_request`, `merge_request_event`, `web`, ...
    pub event_name: String,
    /// The branch or tag name, without `refs/heads/` or `refs/tags/`; for a pull or merge
    /// request, its source branch.
    pub ref_name: String,
    pub ref_type: RefType,
    /// The commit the run is about; for a deleted ref, the last commit it pointed at.
    pub head_sha: String,
    /// What to compare; `None` when the ref was deleted.
    pub range: Option<RevisionRange>,
    pub pull_request: Option<PullRequestInfo>,
    /// The branch or tag was deleted: there is nothing to deploy.
    pub deleted: bool,
    pub default_branch: Option<String>,
}

impl CiEvent {
    /// Why this event deploys nothing, when the event alone tells.
    pub fn nothing_to_deploy(&self) -> Option<String> {
        if !self.deleted {
            return None;
        }
        let kind = match self.ref_type {
            RefType::Branch => "branch",
            RefType::Tag => "tag",
        };
        Some(format!(
            "the {kind} `{}` was deleted: nothing to deploy",
            self.ref_name
        ))
    }

    /// Whether the run builds the repository's default branch (not a pull request into it).
    pub fn is_default_branch(&self) -> bool {
        self.ref_type == RefType::Branch
            && self.pull_request.is_none()
            && self.default_branch.as_deref() == Some(self.ref_name.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the `{event}` event has no `{field}`")]
    MissingField { event: String, field: String },

    #[error("`{field}` of the `{event}` event is not a commit id: `{value}`")]
    InvalidSha {
        event: String,
        field: String,
        value: String,
    },

    #[error("`{name}` is not set{}", because(.why))]
    MissingVariable { name: String, why: Option<String> },

    #[error("`{name}` is not a {expected}: `{value}`")]
    InvalidVariable {
        name: String,
        expected: &'static str,
        value: String,
    },

    #[error("the `{event}` event does not say what to deploy")]
    UnsupportedEvent { event: String },

    #[error("reading the event payload `{path}`")]
    ReadPayload {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("parsing the event payload `{path}`")]
    ParsePayload {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

impl EventError {
    pub fn hint(&self) -> Option<&'static str> {
        let hint = match self {
            EventError::MissingField { .. }
            | EventError::InvalidSha { .. }
            | EventError::ReadPayload { .. }
            | EventError::ParsePayload { .. } => {
                "run astro-deploy in the job the event started, where GITHUB_EVENT_PATH names \
                 the event's payload"
            }
            EventError::MissingVariable { .. } | EventError::InvalidVariable { .. } => {
                "run astro-deploy inside a CI job, which sets these variables"
            }
            EventError::UnsupportedEvent { .. } => {
                "run deploys on push, pull_request, workflow_dispatch, schedule, create, delete \
                 or release events"
            }
        };
        Some(hint)
    }
}

fn because(why: &Option<String>) -> String {
    match why {
        Some(why) => format!(" ({why})"),
        None => String::new(),
    }
}

/// The commit id in `value`, checked to be a full SHA-1 or SHA-256 id.
pub(crate) fn commit_id(event: &str, field: &str, value: &str) -> Result<String, EventError> {
    let hex = value.bytes().all(|b| b.is_ascii_hexdigit());
    if !hex || !matches!(value.len(), 40 | 64) {
        return Err(EventError::InvalidSha {
            event: event.to_owned(),
            field: field.to_owned(),
            value: value.to_owned(),
        });
    }
    Ok(value.to_ascii_lowercase())
}

/// Whether a commit id is the all-zero id CIs give for "no commit".
pub(crate) fn is_zero(sha: &str) -> bool {
    !sha.is_empty() && sha.bytes().all(|b| b == b'0')
}
