//! GitHub Actions events: the webhook payload at `GITHUB_EVENT_PATH`, read into a [`CiEvent`].
//!
//! The commits to compare come from the payload, never from `git diff HEAD~1`: a push gives
//! `before` and `after` (all zeros for a new or deleted ref; `forced` for a rewrite, which the
//! core handles), a pull request its base and head commits. Events whose payload names no commit
//! (`workflow_dispatch`, `schedule`, `create`, `delete`, `release`) use `GITHUB_SHA`, the commit
//! the run checked out.
//!
//! For `pull_request`, `GITHUB_SHA` is a merge commit that GitHub made; the range compares the
//! pull request's own head with its base instead, so that what a pull request changed does not
//! depend on when its checks ran.

use std::path::PathBuf;

use serde_json::Value;

use crate::event::{
    commit_id, is_zero, CiEvent, EventError, PullRequestInfo, PullRequestState, RangeKind, RefType,
    RevisionRange,
};
use crate::CiSystem;

/// Reads GitHub Actions events.
pub struct GithubEvent;

impl GithubEvent {
    /// Reads the event of the running job: `GITHUB_EVENT_NAME` and the payload file at
    /// `GITHUB_EVENT_PATH`, through `env`.
    pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> Result<CiEvent, EventError> {
        let name = required_var(env, "GITHUB_EVENT_NAME", None)?;
        let path = PathBuf::from(required_var(env, "GITHUB_EVENT_PATH", None)?);

        let text = std::fs::read_to_string(&path).map_err(|source| EventError::ReadPayload {
            path: path.clone(),
            source,
        })?;
        let payload: Value = serde_json::from_str(&text)
            .map_err(|source| EventError::ParsePayload { path, source })?;

        Self::from_payload(&name, &payload, env)
    }

    /// Reads the payload of an `event_name` event; `env` supplies `GITHUB_SHA` and `GITHUB_REF`
    /// for the events whose payload names no commit or ref.
    pub fn from_payload(
        event_name: &str,
        payload: &Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<CiEvent, EventError> {
        let event = Payload {
            name: event_name,
            value: payload,
            env,
        };
        match event_name {
            "push" => event.push(),
            "pull_request" | "pull_request_target" => event.pull_request(),
            "merge_group" => event.merge_group(),
            "workflow_dispatch" => event.without_commit(RangeKind::Manual),
            "schedule" => event.without_commit(RangeKind::Scheduled),
            "repository_dispatch" => event.without_commit(RangeKind::Triggered),
            "create" => event.create(),
            "delete" => event.delete(),
            "release" => event.release(),
            _ => Err(EventError::UnsupportedEvent {
                event: event_name.to_owned(),
            }),
        }
    }
}

/// One event's payload, with typed reads that name the missing field.
struct Payload<'a> {
    name: &'a str,
    value: &'a Value,
    env: &'a dyn Fn(&str) -> Option<String>,
}

impl Payload<'_> {
    fn push(&self) -> Result<CiEvent, EventError> {
        let (ref_name, ref_type) = split_ref(self.text("ref")?);
        let before = self.sha("before")?;
        let after = self.sha("after")?;
        let deleted = self.flag("deleted") || is_zero(&after);

        let range = match (deleted, ref_type) {
            (true, _) => None,
            (false, RefType::Tag) => Some(range(None, &after, RangeKind::Tag)),
            (false, RefType::Branch) if self.flag("created") || is_zero(&before) => {
                Some(range(None, &after, RangeKind::NewBranch))
            }
            (false, RefType::Branch) => Some(range(Some(&before), &after, RangeKind::Push)),
        };

        Ok(CiEvent {
            head_sha: if deleted { before } else { after },
            range,
            deleted,
            ..self.base_event(ref_name, ref_type)
        })
    }

    fn pull_request(&self) -> Result<CiEvent, EventError> {
        let head_sha = self.sha("pull_request.head.sha")?;
        let base_sha = self.sha("pull_request.base.sha")?;
        let head_ref = self.text("pull_request.head.ref")?.to_owned();
        let info = PullRequestInfo {
            number: self.number()?,
            base_ref: self.text("pull_request.base.ref")?.to_owned(),
            head_ref: head_ref.clone(),
            from_fork: self.comes_from_fork()?,
            state: self.state(),
        };

        Ok(CiEvent {
            range: Some(range(Some(&base_sha), &head_sha, RangeKind::PullRequest)),
            head_sha,
            pull_request: Some(info),
            ..self.base_event(head_ref, RefType::Branch)
        })
    }

    /// A merge queue's temporary branch, compared with the branch it merges into.
    fn merge_group(&self) -> Result<CiEvent, EventError> {
        let head_sha = self.sha("merge_group.head_sha")?;
        let base_sha = self.sha("merge_group.base_sha")?;
        let (ref_name, _) = split_ref(self.text("merge_group.head_ref")?);

        Ok(CiEvent {
            range: Some(range(Some(&base_sha), &head_sha, RangeKind::PullRequest)),
            head_sha,
            ..self.base_event(ref_name, RefType::Branch)
        })
    }

    /// An event that names no commit: the run's `GITHUB_SHA`, with nothing to compare.
    fn without_commit(&self, kind: RangeKind) -> Result<CiEvent, EventError> {
        let head_sha = self.env_sha()?;
        let full_ref = match self.optional_text("ref") {
            Some(full_ref) => full_ref.to_owned(),
            None => required_var(self.env, "GITHUB_REF", Some(self.no_ref()))?,
        };
        let (ref_name, ref_type) = split_ref(&full_ref);
        let kind = match ref_type {
            RefType::Tag => RangeKind::Tag,
            RefType::Branch => kind,
        };

        Ok(CiEvent {
            range: Some(range(None, &head_sha, kind)),
            head_sha,
            ..self.base_event(ref_name, ref_type)
        })
    }

    fn create(&self) -> Result<CiEvent, EventError> {
        let ref_type = self.ref_type()?;
        let head_sha = self.env_sha()?;
        let kind = match ref_type {
            RefType::Branch => RangeKind::NewBranch,
            RefType::Tag => RangeKind::Tag,
        };

        Ok(CiEvent {
            range: Some(range(None, &head_sha, kind)),
            head_sha,
            ..self.base_event(self.text("ref")?.to_owned(), ref_type)
        })
    }

    fn delete(&self) -> Result<CiEvent, EventError> {
        let ref_type = self.ref_type()?;

        Ok(CiEvent {
            head_sha: self.env_sha()?,
            deleted: true,
            ..self.base_event(self.text("ref")?.to_owned(), ref_type)
        })
    }

    /// A release is deployed whole, like its tag; a deleted one deploys nothing.
    fn release(&self) -> Result<CiEvent, EventError> {
        let tag = self.text("release.tag_name")?.to_owned();
        let head_sha = self.env_sha()?;
        let deleted = self.optional_text("action") == Some("deleted");

        Ok(CiEvent {
            range: (!deleted).then(|| range(None, &head_sha, RangeKind::Tag)),
            head_sha,
            deleted,
            ..self.base_event(tag, RefType::Tag)
        })
    }

    /// The fields every event fills the same way; the rest say "nothing".
    fn base_event(&self, ref_name: String, ref_type: RefType) -> CiEvent {
        CiEvent {
            system: CiSystem::GitHubActions,
            event_name: self.name.to_owned(),
            ref_name,
            ref_type,
            head_sha: String::new(),
            range: None,
            pull_request: None,
            deleted: false,
            default_branch: self.default_branch(),
        }
    }

    fn default_branch(&self) -> Option<String> {
        self.optional_text("repository.default_branch")
            .or_else(|| self.optional_text("master_branch"))
            .map(str::to_owned)
    }

    fn number(&self) -> Result<u64, EventError> {
        let number = self
            .get("number")
            .or_else(|| self.get("pull_request.number"));
        number
            .and_then(Value::as_u64)
            .ok_or_else(|| self.missing("number"))
    }

    /// A deleted fork leaves `head.repo` null: counted as a fork, since its origin is unknown.
    fn comes_from_fork(&self) -> Result<bool, EventError> {
        let base = self.text("pull_request.base.repo.full_name")?;
        let head = self.optional_text("pull_request.head.repo.full_name");
        Ok(head != Some(base))
    }

    fn state(&self) -> PullRequestState {
        match (
            self.flag("pull_request.merged"),
            self.optional_text("pull_request.state"),
        ) {
            (true, _) => PullRequestState::Merged,
            (false, Some("closed")) => PullRequestState::Closed,
            (false, _) => PullRequestState::Open,
        }
    }

    fn ref_type(&self) -> Result<RefType, EventError> {
        match self.text("ref_type")? {
            "tag" => Ok(RefType::Tag),
            _ => Ok(RefType::Branch),
        }
    }

    fn env_sha(&self) -> Result<String, EventError> {
        let sha = required_var(self.env, "GITHUB_SHA", Some(self.no_commit()))?;
        commit_id(self.name, "GITHUB_SHA", &sha)
    }

    fn no_commit(&self) -> String {
        format!("the `{}` event names no commit", self.name)
    }

    fn no_ref(&self) -> String {
        format!("the `{}` event names no ref", self.name)
    }

    fn sha(&self, field: &str) -> Result<String, EventError> {
        commit_id(self.name, field, self.text(field)?)
    }

    fn text(&self, field: &str) -> Result<&str, EventError> {
        self.optional_text(field).ok_or_else(|| self.missing(field))
    }

    fn optional_text(&self, field: &str) -> Option<&str> {
        self.get(field).and_then(Value::as_str)
    }

    fn flag(&self, field: &str) -> bool {
        self.get(field).and_then(Value::as_bool).unwrap_or(false)
    }

    /// The value at a dotted path such as `pull_request.head.sha`.
    fn get(&self, field: &str) -> Option<&Value> {
        field
            .split('.')
            .try_fold(self.value, |value, key| value.get(key))
    }

    fn missing(&self, field: &str) -> EventError {
        EventError::MissingField {
            event: self.name.to_owned(),
            field: field.to_owned(),
        }
    }
}

/// `refs/heads/main` is the branch `main`, `refs/tags/v1` the tag `v1`; a bare name a branch.
fn split_ref(full_ref: &str) -> (String, RefType) {
    if let Some(tag) = full_ref.strip_prefix("refs/tags/") {
        return (tag.to_owned(), RefType::Tag);
    }
    let branch = full_ref.strip_prefix("refs/heads/").unwrap_or(full_ref);
    (branch.to_owned(), RefType::Branch)
}

fn range(base: Option<&str>, head: &str, kind: RangeKind) -> RevisionRange {
    RevisionRange {
        base: base.map(str::to_owned),
        head: head.to_owned(),
        kind,
    }
}

fn required_var(
    env: &dyn Fn(&str) -> Option<String>,
    name: &str,
    why: Option<String>,
) -> Result<String, EventError> {
    match env(name).filter(|value| !value.is_empty()) {
        Some(value) => Ok(value),
        None => Err(EventError::MissingVariable {
            name: name.to_owned(),
            why,
        }),
    }
}
