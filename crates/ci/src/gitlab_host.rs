//! The preview garbage collector's questions to GitLab: does a preview's branch still exist, and
//! is its merge request still open. [`GitlabReviewHost`] implements the core's [`ReviewHost`]
//! over [`GitlabApi`].
//!
//! The token needs the `read_api` scope and at least the Reporter role in the project (a project
//! access token does; `CI_JOB_TOKEN` may read neither branches nor merge requests).
//!
//! Only an answer that plainly says "gone" is [`Liveness::Closed`], because a closed answer lets
//! the collector delete a Deployment. A refusal, an outage, a network error, an answer this
//! module does not recognise, and a 404 that does not name the branch are all
//! [`Liveness::Unknown`], which never deletes anything.

use deploy::preview::{Liveness, ReviewHost};
use serde::Deserialize;

use crate::gitlab_api::{GitlabApi, GitlabCause};
use crate::url_path::encode_path_segment;

/// The token scope and role that let the collector read branches and merge requests.
pub const READ_SCOPE: &str = "read_api";

/// What GitLab says when the project is visible but the branch is not there. A project the
/// token cannot see answers `404 Project Not Found` instead.
const BRANCH_NOT_FOUND: &str = "404 Branch Not Found";

/// Answers [`ReviewHost`] questions for the project of its [`GitlabApi`].
#[derive(Debug)]
pub struct GitlabReviewHost {
    api: GitlabApi,
}

/// The field of a merge request the answer depends on.
#[derive(Deserialize)]
struct MergeRequestState {
    state: String,
}

/// The one field of a branch read back, to be sure the answer is a branch.
#[derive(Deserialize)]
struct BranchName {
    name: String,
}

impl GitlabReviewHost {
    /// A host asking about `api`'s project (`CI_PROJECT_ID`), with `api`'s token.
    pub fn new(api: GitlabApi) -> GitlabReviewHost {
        GitlabReviewHost { api }
    }

    pub fn api(&self) -> &GitlabApi {
        &self.api
    }

    fn unknown(&self, subject: &str, cause: &GitlabCause) -> Liveness {
        let project = self.api.project_id();
        let needs = format!("the `{READ_SCOPE}` scope and at least the Reporter role");
        let hint = match cause.status {
            Some(401) => format!("the token is invalid or expired; it needs {needs}"),
            _ => format!("the token needs {needs}"),
        };
        Liveness::Unknown {
            reason: format!(
                "could not ask GitLab about {subject} of project `{project}` ({cause}); {hint}"
            ),
        }
    }
}

impl ReviewHost for GitlabReviewHost {
    async fn branch_state(&self, branch: &str) -> Liveness {
        if branch.is_empty() {
            return Liveness::Unknown {
                reason: "the preview names no branch to ask GitLab about".to_owned(),
            };
        }
        let subject = format!("branch `{branch}`");
        let route = format!("/repository/branches/{}", encode_path_segment(branch));

        match self.api.get_in_project::<BranchName>(&route).await {
            Ok(found) => {
                tracing::debug!(branch, name = found.name, "the branch exists on GitLab");
                Liveness::Alive
            }
            // GitLab answers 404 for a project the token cannot see too, so a 404 is only a
            // deleted branch when GitLab says it is about the branch. Should the message change,
            // branches turn Unknown and previews wait for the age limit: never a guessed delete.
            Err(cause)
                if cause.status == Some(404)
                    && cause.message.trim().eq_ignore_ascii_case(BRANCH_NOT_FOUND) =>
            {
                tracing::debug!(branch, "GitLab has no such branch");
                Liveness::Closed {
                    reason: format!("{subject} deleted"),
                }
            }
            Err(cause) => self.unknown(&subject, &cause),
        }
    }

    async fn review_state(&self, number: u64) -> Liveness {
        let subject = format!("merge request !{number}");
        let route = format!("/merge_requests/{number}");

        // Every failure, a 404 included, is Unknown: GitLab answers 404 both for a merge request
        // that does not exist and for a project the token may not see, and a preview only
        // records a merge request that existed when it was deployed. Closing on a 404 would
        // delete a live preview whenever the token lost access.
        let request = match self.api.get_in_project::<MergeRequestState>(&route).await {
            Ok(request) => request,
            Err(cause) => return self.unknown(&subject, &cause),
        };
        tracing::debug!(
            number,
            state = request.state,
            "GitLab's merge request state"
        );
        match request.state.as_str() {
            // `locked` is a merge request in the middle of being merged: not gone yet.
            "opened" | "locked" => Liveness::Alive,
            "merged" => Liveness::Closed {
                reason: format!("{subject} merged"),
            },
            "closed" => Liveness::Closed {
                reason: format!("{subject} closed"),
            },
            other => Liveness::Unknown {
                reason: format!(
                    "GitLab gave {subject} of project `{}` the state `{other}`, which \
                     astro-deploy does not know",
                    self.api.project_id()
                ),
            },
        }
    }
}
