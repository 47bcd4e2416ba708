//! What a preview's branch and review look like on the code host (GitHub or GitLab).
//!
//! The garbage collector asks this before it deletes anything. The core does not know which
//! host it talks to: the adapters implement [`ReviewHost`], and a host that cannot be reached
//! answers [`Liveness::Unknown`], which never leads to a deletion.

use std::future::Future;

/// Whether a branch or a pull/merge request still needs its preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// The branch exists, or the review is open.
    Alive,
    /// The branch is gone, or the review is closed or merged; `reason` says which.
    Closed { reason: String },
    /// The host could not say (no token, no permission, an outage); `reason` says why.
    Unknown { reason: String },
}

/// A code host that can tell whether a branch or a review is still alive.
pub trait ReviewHost: Send + Sync {
    /// Whether `branch` (a full branch name, without `refs/heads/`) still exists.
    fn branch_state(&self, branch: &str) -> impl Future<Output = Liveness> + Send;

    /// Whether the pull request (GitHub) or merge request (GitLab) `number` is still open.
    fn review_state(&self, number: u64) -> impl Future<Output = Liveness> + Send;
}

/// A host that knows nothing: every answer is `Unknown`, so only the age limit can collect.
#[derive(Debug, Clone, Default)]
pub struct NoHost;

impl ReviewHost for NoHost {
    async fn branch_state(&self, _branch: &str) -> Liveness {
        Liveness::Unknown {
            reason: "no code host was given to ask about branches".to_owned(),
        }
    }

    async fn review_state(&self, _number: u64) -> Liveness {
        Liveness::Unknown {
            reason: "no code host was given to ask about pull requests".to_owned(),
        }
    }
}
