//! The preview garbage collector's questions to GitHub: does a preview's branch still exist, and
//! is its pull request still open. [`GithubReviewHost`] implements the core's [`ReviewHost`]
//! over [`GithubApi`].
//!
//! The token needs `contents: read` for branches and `pull-requests: read` for pull requests
//! (the workflow's `permissions:`; "Contents" and "Pull requests" read for a fine-grained token).
//!
//! Only an answer that plainly says "gone" is [`Liveness::Closed`], because a closed answer lets
//! the collector delete a Deployment. A refusal, an outage, a network error, an answer this
//! module does not recognise, and a 404 that does not name the branch are all
//! [`Liveness::Unknown`], which never deletes anything.

use deploy::preview::{Liveness, ReviewHost};
use serde::Deserialize;

use crate::github_api::{GithubApi, GithubCause};
use crate::url_path::encode_path_segment;

/// The workflow permission that lets the token see whether a branch exists.
pub const BRANCH_PERMISSION: &str = "contents: read";
/// The workflow permission that lets the token see whether a pull request is open.
pub const REVIEW_PERMISSION: &str = "pull-requests: read";

/// What GitHub says, as the whole message, when the repository is visible but the branch is
/// not there. A 404 for a repository the token cannot see says `Not Found` instead.
const BRANCH_NOT_FOUND: &str = "Branch not found";

/// Answers [`ReviewHost`] questions for the repository of its [`GithubApi`].
#[derive(Debug)]
pub struct GithubReviewHost {
    api: GithubApi,
}

/// The fields of a pull request the answer depends on.
#[derive(Deserialize)]
struct PullState {
    state: String,
    #[serde(default)]
    merged_at: Option<String>,
}

/// The one field of a branch read back, to be sure the answer is a branch.
#[derive(Deserialize)]
struct BranchName {
    name: String,
}

impl GithubReviewHost {
    /// A host asking about `api`'s repository (`GITHUB_REPOSITORY`), with `api`'s token.
    pub fn new(api: GithubApi) -> GithubReviewHost {
        GithubReviewHost { api }
    }

    pub fn api(&self) -> &GithubApi {
        &self.api
    }

    fn unknown(&self, subject: &str, cause: &GithubCause, permission: &str) -> Liveness {
        let repo = self.api.repository();
        let hint = match cause.status {
            Some(401) => format!("the token is invalid or expired; it needs `{permission}`"),
            _ => format!("the token needs `{permission}`"),
        };
        Liveness::Unknown {
            reason: format!("could not ask GitHub about {subject} of `{repo}` ({cause}); {hint}"),
        }
    }
}

impl ReviewHost for GithubReviewHost {
    async fn branch_state(&self, branch: &str) -> Liveness {
        if branch.is_empty() {
            return Liveness::Unknown {
                reason: "the preview names no branch to ask GitHub about".to_owned(),
            };
        }
        let subject = format!("branch `{branch}`");
        let route = format!("/branches/{}", encode_path_segment(branch));

        match self.api.get_in_repo::<BranchName>(&route).await {
            Ok(found) => {
                tracing::debug!(branch, name = found.name, "the branch exists on GitHub");
                Liveness::Alive
            }
            // GitHub hides repositories the token cannot see behind a 404 as well, so a 404 is
            // only a deleted branch when GitHub says it is about the branch. Should GitHub ever
            // reword the message, branches turn Unknown: previews then wait for the age limit
            // instead of being deleted on a guess.
            Err(cause)
                if cause.status == Some(404)
                    && cause.message.trim().eq_ignore_ascii_case(BRANCH_NOT_FOUND) =>
            {
                tracing::debug!(branch, "GitHub has no such branch");
                Liveness::Closed {
                    reason: format!("{subject} deleted"),
                }
            }
            Err(cause) => self.unknown(&subject, &cause, BRANCH_PERMISSION),
        }
    }

    async fn review_state(&self, number: u64) -> Liveness {
        let subject = format!("pull request #{number}");
        let route = format!("/pulls/{number}");

        // Every failure, a 404 included, is Unknown: GitHub answers 404 both for a pull request
        // that does not exist and for one the token may not see, and a preview only records a
        // pull request that existed when it was deployed. Closing on a 404 would delete a live
        // preview whenever the token lost access.
        let pull = match self.api.get_in_repo::<PullState>(&route).await {
            Ok(pull) => pull,
            Err(cause) => return self.unknown(&subject, &cause, REVIEW_PERMISSION),
        };
        tracing::debug!(number, state = pull.state, "GitHub's pull request state");
        match (pull.state.as_str(), pull.merged_at) {
            ("open", _) => Liveness::Alive,
            ("closed", Some(_)) => Liveness::Closed {
                reason: format!("{subject} merged"),
            },
            ("closed", None) => Liveness::Closed {
                reason: format!("{subject} closed"),
            },
            (other, _) => Liveness::Unknown {
                reason: format!(
                    "GitHub gave {subject} of `{}` the state `{other}`, which astro-deploy \
                     does not know",
                    self.api.repository()
                ),
            },
        }
    }
}
