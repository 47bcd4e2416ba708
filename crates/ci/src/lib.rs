//! CI adapters: each turns what its CI system tells about the run into the core's inputs, and
//! the core's outcome into what that CI shows.
//!
//! Detection of the CI and the commit being built (here) picks plain log lines over progress
//! bars and describes deploys. `*_event` reads a GitHub event payload or GitLab's `CI_*`
//! variables into the commits to compare. `github` writes step outputs, job summaries and
//! comments; `github_api` and `gitlab_api` keep the pull request comment, the merge request
//! note and GitHub Deployments up to date. The `*_host` modules answer the preview garbage
//! collector's questions about branches and reviews on GitHub and GitLab.

pub mod event;
pub mod github;
pub mod github_api;
pub mod github_event;
pub mod github_host;
pub mod gitlab_api;
pub mod gitlab_event;
pub mod gitlab_host;
mod url_path;

use std::fmt;

/// The CI systems astro-deploy recognises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CiSystem {
    GitHubActions,
    GitLabCi,
    /// Any CI that sets `CI=true` (Jenkins, Bitbucket, CircleCI, Azure DevOps, ...).
    Generic,
}

impl fmt::Display for CiSystem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CiSystem::GitHubActions => "GitHub Actions",
            CiSystem::GitLabCi => "GitLab CI",
            CiSystem::Generic => "CI",
        })
    }
}

/// What a CI run tells about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CiRun {
    pub system: CiSystem,
    /// The commit being built.
    pub commit: Option<String>,
    /// The branch or tag being built.
    pub ref_name: Option<String>,
    /// A link to the run, for deploy descriptions.
    pub run_url: Option<String>,
}

impl CiRun {
    /// Reads the process environment.
    pub fn detect() -> Option<CiRun> {
        Self::detect_from(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
    }

    /// Reads variables through `var`, so tests can feed real variable sets.
    pub fn detect_from(var: impl Fn(&str) -> Option<String>) -> Option<CiRun> {
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            let run_url = match (
                var("GITHUB_SERVER_URL"),
                var("GITHUB_REPOSITORY"),
                var("GITHUB_RUN_ID"),
            ) {
                (Some(server), Some(repo), Some(run)) => {
                    Some(format!("{server}/{repo}/actions/runs/{run}"))
                }
                _ => None,
            };
            return Some(CiRun {
                system: CiSystem::GitHubActions,
                commit: var("GITHUB_SHA"),
                ref_name: var("GITHUB_HEAD_REF").or_else(|| var("GITHUB_REF_NAME")),
                run_url,
            });
        }
        if var("GITLAB_CI").as_deref() == Some("true") {
            return Some(CiRun {
                system: CiSystem::GitLabCi,
                commit: var("CI_COMMIT_SHA"),
                ref_name: var("CI_COMMIT_REF_NAME"),
                run_url: var("CI_PIPELINE_URL"),
            });
        }
        // Most CI systems set `CI`; Jenkins and Azure DevOps set only their own markers.
        let generic = var("CI").is_some_and(|v| !matches!(v.as_str(), "false" | "0"))
            || var("JENKINS_URL").is_some()
            || var("TF_BUILD").is_some_and(|v| v.eq_ignore_ascii_case("true"));
        generic.then(|| CiRun {
            system: CiSystem::Generic,
            commit: None,
            ref_name: generic_ref(&var).map(|(name, _)| name),
            run_url: None,
        })
    }

    /// Whether the run builds a tag, as the CI's variables say.
    pub fn builds_tag(var: impl Fn(&str) -> Option<String>) -> bool {
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            return var("GITHUB_REF_TYPE").as_deref() == Some("tag");
        }
        if var("GITLAB_CI").as_deref() == Some("true") {
            return var("CI_COMMIT_TAG").is_some();
        }
        generic_ref(&var).is_some_and(|(_, tag)| tag)
    }

    /// A deploy description naming the run: `astro-deploy from GitHub Actions: main@1a2b3c4`.
    pub fn describe(&self) -> String {
        let mut text = format!("astro-deploy from {}", self.system);
        let short = self.commit.as_deref().map(|sha| &sha[..sha.len().min(7)]);
        match (self.ref_name.as_deref(), short) {
            (Some(r), Some(sha)) => text.push_str(&format!(": {r}@{sha}")),
            (Some(r), None) => text.push_str(&format!(": {r}")),
            (None, Some(sha)) => text.push_str(&format!(": {sha}")),
            (None, None) => {}
        }
        if let Some(url) = &self.run_url {
            text.push_str(&format!(" ({url})"));
        }
        text
    }
}

/// The branch or tag a CI system other than GitHub Actions and GitLab CI builds, from the
/// variables the common ones set (Jenkins, CircleCI, Bitbucket Pipelines, Azure DevOps, and
/// GitLab-compatible runners), with whether it is a tag. Tags first: a tag build often also
/// names the branch it was cut from.
fn generic_ref(var: &impl Fn(&str) -> Option<String>) -> Option<(String, bool)> {
    let azure = var("BUILD_SOURCEBRANCH");
    let azure_tag = azure
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/tags/"))
        .map(str::to_owned);
    let azure_branch = azure
        .as_deref()
        .and_then(|r| r.strip_prefix("refs/heads/"))
        .map(str::to_owned);

    let tag = ["TAG_NAME", "CIRCLE_TAG", "BITBUCKET_TAG", "CI_COMMIT_TAG"]
        .iter()
        .find_map(|name| var(name))
        .or(azure_tag);
    if let Some(tag) = tag {
        return Some((tag, true));
    }
    let branch = [
        "BRANCH_NAME",
        "CIRCLE_BRANCH",
        "BITBUCKET_BRANCH",
        "CI_COMMIT_REF_NAME",
    ]
    .iter()
    .find_map(|name| var(name))
    .or(azure_branch)
    .or_else(|| {
        // Jenkins' git plugin writes the remote's name in front: `origin/main`.
        var("GIT_BRANCH").map(|b| b.strip_prefix("origin/").unwrap_or(&b).to_owned())
    });
    branch.map(|branch| (branch, false))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn run(vars: &[(&str, &str)]) -> Option<CiRun> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        CiRun::detect_from(|name| vars.get(name).cloned())
    }

    #[test]
    fn recognises_github_gitlab_and_generic_ci() {
        let github = run(&[
            ("GITHUB_ACTIONS", "true"),
            ("GITHUB_SHA", "1a2b3c4d5e6f"),
            ("GITHUB_REF_NAME", "main"),
            ("GITHUB_SERVER_URL", "https://github.com"),
            ("GITHUB_REPOSITORY", "acme/airflow"),
            ("GITHUB_RUN_ID", "42"),
        ])
        .unwrap();
        assert_eq!(
            github.describe(),
            "astro-deploy from GitHub Actions: main@1a2b3c4 \
             (https://github.com/acme/airflow/actions/runs/42)"
        );

        let gitlab = run(&[
            ("GITLAB_CI", "true"),
            ("CI", "true"),
            ("CI_COMMIT_REF_NAME", "dev"),
        ]);
        assert_eq!(gitlab.unwrap().system, CiSystem::GitLabCi);
        assert_eq!(run(&[("CI", "true")]).unwrap().system, CiSystem::Generic);
        assert_eq!(run(&[("CI", "true")]).unwrap().ref_name, None);
        assert_eq!(run(&[("CI", "false")]), None);
        let jenkins = run(&[
            ("JENKINS_URL", "https://ci.acme.test/"),
            ("BRANCH_NAME", "main"),
        ]);
        assert_eq!(jenkins.unwrap().ref_name.as_deref(), Some("main"));
        assert_eq!(
            run(&[("TF_BUILD", "True")]).unwrap().system,
            CiSystem::Generic
        );
        assert_eq!(run(&[]), None);
    }

    #[test]
    fn other_ci_systems_name_their_branch_or_tag() {
        let vars = |pairs: &[(&str, &str)]| {
            let map: HashMap<String, String> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            move |name: &str| map.get(name).cloned()
        };
        // The variables, the ref they name, and whether it is a tag.
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a str>, bool);
        let cases: [Case; 7] = [
            (
                &[("CI", "true"), ("BRANCH_NAME", "main")],
                Some("main"),
                false,
            ),
            (
                &[("CI", "true"), ("GIT_BRANCH", "origin/release/1")],
                Some("release/1"),
                false,
            ),
            (
                &[("CI", "true"), ("CIRCLE_BRANCH", "main")],
                Some("main"),
                false,
            ),
            (
                &[
                    ("CI", "true"),
                    ("CIRCLE_TAG", "v1.0.0"),
                    ("CIRCLE_BRANCH", "main"),
                ],
                Some("v1.0.0"),
                true,
            ),
            (&[("CI", "true"), ("BITBUCKET_TAG", "v2")], Some("v2"), true),
            (
                &[("CI", "true"), ("BUILD_SOURCEBRANCH", "refs/heads/dev")],
                Some("dev"),
                false,
            ),
            (
                &[("CI", "true"), ("BUILD_SOURCEBRANCH", "refs/tags/v3")],
                Some("v3"),
                true,
            ),
        ];
        for (pairs, name, tag) in cases {
            let run = CiRun::detect_from(vars(pairs)).unwrap();
            assert_eq!(run.ref_name.as_deref(), name, "{pairs:?}");
            assert_eq!(CiRun::builds_tag(vars(pairs)), tag, "{pairs:?}");
        }
    }
}
