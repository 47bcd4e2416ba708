//! The code host `preview gc` asks about branches and reviews, picked from `--host` and the CI
//! run's environment.
//!
//! GitHub: `GITHUB_TOKEN` (with `contents: read` and `pull-requests: read`), `GITHUB_REPOSITORY`,
//! `GITHUB_API_URL`. GitLab: `GITLAB_TOKEN` (scope `read_api`), `CI_PROJECT_ID`,
//! `CI_API_V4_URL`. `auto` picks the host of the CI run, and none outside CI.

use ci::github_api::{GithubApi, GithubToken};
use ci::github_host::GithubReviewHost;
use ci::gitlab_api::{GitlabApi, GitlabToken};
use ci::gitlab_host::GitlabReviewHost;
use ci::CiSystem;
use deploy::preview::{Liveness, NoHost, ReviewHost};

use super::infer::env_var;
use crate::args::HostArg;
use crate::exit::Failure;

/// One of the code hosts, chosen at run time.
pub enum AnyHost {
    None(NoHost),
    Github(GithubReviewHost),
    Gitlab(GitlabReviewHost),
}

impl AnyHost {
    pub fn from_arg(arg: HostArg) -> Result<Self, Failure> {
        let arg = match arg {
            HostArg::Auto => match ci::CiRun::detect().map(|run| run.system) {
                Some(CiSystem::GitHubActions) => HostArg::Github,
                Some(CiSystem::GitLabCi) => HostArg::Gitlab,
                _ => HostArg::None,
            },
            other => other,
        };
        match arg {
            HostArg::Github => github().map(AnyHost::Github),
            HostArg::Gitlab => gitlab().map(AnyHost::Gitlab),
            HostArg::Auto | HostArg::None => Ok(AnyHost::None(NoHost)),
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            AnyHost::None(_) => "none",
            AnyHost::Github(_) => "github",
            AnyHost::Gitlab(_) => "gitlab",
        }
    }
}

fn required(name: &str, host: &str, hint: &str) -> Result<String, Failure> {
    env_var(name).ok_or_else(|| {
        Failure::input(format!("asking {host} needs {name}, which is not set"))
            .hint(hint.to_owned())
    })
}

fn github() -> Result<GithubReviewHost, Failure> {
    let hint = "in a workflow, pass `GITHUB_TOKEN: ${{ github.token }}` with `contents: read` \
                and `pull-requests: read`; or use --host none with --ttl";
    let token = required("GITHUB_TOKEN", "GitHub", hint)?;
    let repository = required("GITHUB_REPOSITORY", "GitHub", "set it to `owner/name`")?;
    let api_url = env_var("GITHUB_API_URL").unwrap_or_else(|| "https://api.github.com".into());
    GithubApi::new(&api_url, &repository, GithubToken::new(token))
        .map(GithubReviewHost::new)
        .map_err(|error| Failure::input(format!("the GitHub API: {error}")).with_cause(&error))
}

fn gitlab() -> Result<GitlabReviewHost, Failure> {
    let hint = "give the job a GITLAB_TOKEN (a project access token with `read_api`) as a \
                masked CI/CD variable; or use --host none with --ttl";
    let token = required("GITLAB_TOKEN", "GitLab", hint)?;
    let project = required("CI_PROJECT_ID", "GitLab", "run it in a GitLab CI job")?;
    let api_url = required("CI_API_V4_URL", "GitLab", "run it in a GitLab CI job")?;
    GitlabApi::new(&api_url, &project, GitlabToken::new(token))
        .map(GitlabReviewHost::new)
        .map_err(|error| {
            let hint = error.hint();
            let failure = Failure::input(format!("the GitLab API: {error}")).with_cause(&error);
            match hint {
                Some(hint) => failure.hint(hint),
                None => failure,
            }
        })
}

impl ReviewHost for AnyHost {
    async fn branch_state(&self, branch: &str) -> Liveness {
        match self {
            AnyHost::None(host) => host.branch_state(branch).await,
            AnyHost::Github(host) => host.branch_state(branch).await,
            AnyHost::Gitlab(host) => host.branch_state(branch).await,
        }
    }

    async fn review_state(&self, number: u64) -> Liveness {
        match self {
            AnyHost::None(host) => host.review_state(number).await,
            AnyHost::Github(host) => host.review_state(number).await,
            AnyHost::Gitlab(host) => host.review_state(number).await,
        }
    }
}
