//! GitLab CI events: a pipeline's `CI_*` variables, read into a [`CiEvent`].
//!
//! `CI_PIPELINE_SOURCE` says why the pipeline runs. A push compares `CI_COMMIT_BEFORE_SHA` with
//! `CI_COMMIT_SHA` (all zeros for a new branch: nothing to compare). A merge request pipeline
//! compares `CI_MERGE_REQUEST_DIFF_BASE_SHA`, the request's merge base with its target, with
//! `CI_COMMIT_SHA`. Tags, and pipelines started by hand, by a schedule, by a trigger or through
//! the API, have nothing to compare and deploy everything.
//!
//! In a merged results pipeline `CI_COMMIT_SHA` is GitLab's merge of the request into its
//! target, so the comparison also lists what the target gained since the diff base: more than
//! the request changed, which errs towards a fuller deploy, never a skipped one.

use crate::event::{
    commit_id, is_zero, CiEvent, EventError, PullRequestInfo, PullRequestState, RangeKind, RefType,
    RevisionRange,
};
use crate::CiSystem;

/// Reads GitLab CI pipelines.
pub struct GitlabEvent;

impl GitlabEvent {
    /// Reads the pipeline's variables through `var` (the process environment in a job).
    pub fn from_env(var: &dyn Fn(&str) -> Option<String>) -> Result<CiEvent, EventError> {
        let vars = Vars { var };
        let source = vars.required("CI_PIPELINE_SOURCE")?;
        let head_sha = vars.sha(&source, "CI_COMMIT_SHA")?;
        let (ref_name, ref_type) = match vars.optional("CI_COMMIT_TAG") {
            Some(tag) => (tag, RefType::Tag),
            None => (vars.required("CI_COMMIT_REF_NAME")?, RefType::Branch),
        };

        let event = CiEvent {
            system: CiSystem::GitLabCi,
            event_name: source.clone(),
            ref_name,
            ref_type,
            head_sha,
            range: None,
            pull_request: None,
            deleted: false,
            default_branch: vars.optional("CI_DEFAULT_BRANCH"),
        };
        match (source.as_str(), ref_type) {
            ("merge_request_event", _) => vars.merge_request(event),
            (_, RefType::Tag) => Ok(without_base(event, RangeKind::Tag)),
            ("push", RefType::Branch) => vars.push(event),
            ("web" | "chat" | "webide", _) => Ok(without_base(event, RangeKind::Manual)),
            ("schedule", _) => Ok(without_base(event, RangeKind::Scheduled)),
            // trigger, api, pipeline, parent_pipeline, and sources GitLab adds later.
            _ => Ok(without_base(event, RangeKind::Triggered)),
        }
    }
}

/// An event with nothing to compare.
fn without_base(event: CiEvent, kind: RangeKind) -> CiEvent {
    CiEvent {
        range: Some(range(None, &event.head_sha, kind)),
        ..event
    }
}

fn range(base: Option<&str>, head: &str, kind: RangeKind) -> RevisionRange {
    RevisionRange {
        base: base.map(str::to_owned),
        head: head.to_owned(),
        kind,
    }
}

/// The pipeline's variables; GitLab sets some of them empty, which counts as unset.
struct Vars<'a> {
    var: &'a dyn Fn(&str) -> Option<String>,
}

impl Vars<'_> {
    fn push(&self, event: CiEvent) -> Result<CiEvent, EventError> {
        let before = match self.optional("CI_COMMIT_BEFORE_SHA") {
            Some(before) => commit_id(&event.event_name, "CI_COMMIT_BEFORE_SHA", &before)?,
            None => return Ok(without_base(event, RangeKind::NewBranch)),
        };
        if is_zero(&before) {
            return Ok(without_base(event, RangeKind::NewBranch));
        }

        Ok(CiEvent {
            range: Some(range(Some(&before), &event.head_sha, RangeKind::Push)),
            ..event
        })
    }

    fn merge_request(&self, event: CiEvent) -> Result<CiEvent, EventError> {
        let base = self.merge_request_base(&event.event_name)?;
        let head_ref = self
            .optional("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME")
            .unwrap_or_else(|| event.ref_name.clone());
        let info = PullRequestInfo {
            number: self.number("CI_MERGE_REQUEST_IID")?,
            head_ref: head_ref.clone(),
            base_ref: self.required("CI_MERGE_REQUEST_TARGET_BRANCH_NAME")?,
            from_fork: self.comes_from_fork(),
            state: PullRequestState::Open,
        };

        let kind = RangeKind::PullRequest;
        Ok(CiEvent {
            range: Some(range(base.as_deref(), &event.head_sha, kind)),
            ref_name: head_ref,
            ref_type: RefType::Branch,
            pull_request: Some(info),
            ..event
        })
    }

    /// The diff base; merged results pipelines also give the target's commit, whose merge
    /// base with the head is the same commit.
    fn merge_request_base(&self, event: &str) -> Result<Option<String>, EventError> {
        for name in [
            "CI_MERGE_REQUEST_DIFF_BASE_SHA",
            "CI_MERGE_REQUEST_TARGET_BRANCH_SHA",
        ] {
            if let Some(sha) = self.optional(name) {
                return commit_id(event, name, &sha).map(Some);
            }
        }
        Ok(None)
    }

    /// Unknown when either project id is missing: counted as a fork, the safer guess.
    fn comes_from_fork(&self) -> bool {
        let source = self.optional("CI_MERGE_REQUEST_SOURCE_PROJECT_ID");
        let target = self.optional("CI_MERGE_REQUEST_PROJECT_ID");
        match (source, target) {
            (Some(source), Some(target)) => source != target,
            _ => true,
        }
    }

    fn number(&self, name: &str) -> Result<u64, EventError> {
        let value = self.required(name)?;
        value.parse().map_err(|_| EventError::InvalidVariable {
            name: name.to_owned(),
            expected: "number",
            value,
        })
    }

    fn sha(&self, event: &str, name: &str) -> Result<String, EventError> {
        commit_id(event, name, &self.required(name)?)
    }

    fn required(&self, name: &str) -> Result<String, EventError> {
        self.optional(name)
            .ok_or_else(|| EventError::MissingVariable {
                name: name.to_owned(),
                why: None,
            })
    }

    fn optional(&self, name: &str) -> Option<String> {
        (self.var)(name).filter(|value| !value.is_empty())
    }
}
