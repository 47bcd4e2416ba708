//! The event adapters fed what their CI sends: real GitHub webhook payloads from the npm package
//! `@octokit/webhooks-examples` (installed by `scripts/install-test-deps.sh`), and GitLab
//! variable sets as GitLab sets them. Each test asserts the range the core will compare and the
//! reason a user will read.
//!
//! The package has no push to an existing branch, no force push, no branch creation or deletion
//! and no merged or fork pull request; those tests take a real payload and change only the
//! fields GitHub sets differently for them, and say so.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ci::event::{
    CiEvent, EventError, PullRequestInfo, PullRequestState, RangeKind, RefType, RevisionRange,
};
use ci::github_event::GithubEvent;
use ci::gitlab_event::GitlabEvent;
use ci::CiSystem;
use deploy::changes::{detect, Decision, Detection, HistoryOptions, ProjectRoot};
use serde_json::Value;

const ZERO: &str = "0000000000000000000000000000000000000000";
/// The commits of the package's `Codertocat/Hello-World` examples.
const TAGGED: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const PR_BASE: &str = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
const PR_HEAD: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
/// The run's `GITHUB_SHA` for events whose payload names no commit.
const RUN_SHA: &str = "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d";

// --- the payloads --------------------------------------------------------------------------------

fn index_path() -> PathBuf {
    let deps = match std::env::var_os("ASTRO_DEPLOY_TEST_DEPS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.test-deps"),
    };
    deps.join("node_modules/@octokit/webhooks-examples/api.github.com/index.json")
}

/// Every example payload of the package, by event name.
fn examples() -> &'static HashMap<String, Vec<Value>> {
    static EXAMPLES: OnceLock<HashMap<String, Vec<Value>>> = OnceLock::new();
    EXAMPLES.get_or_init(|| {
        let path = index_path();
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "the GitHub webhook examples are not installed at `{}` ({e}): run \
                 `scripts/install-test-deps.sh` (or set ASTRO_DEPLOY_TEST_DEPS to where it \
                 installed them)",
                path.display()
            )
        });
        let index: Vec<Value> = serde_json::from_str(&text).unwrap();
        index
            .into_iter()
            .map(|event| {
                let name = event["name"].as_str().unwrap().to_owned();
                (name, event["examples"].as_array().unwrap().clone())
            })
            .collect()
    })
}

/// The first example of `event` that `pick` accepts.
fn example(event: &str, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
    let found = examples()[event].iter().find(|payload| pick(payload));
    match found {
        Some(payload) => payload.clone(),
        None => panic!("@octokit/webhooks-examples has no `{event}` example of {what}"),
    }
}

fn pull_request(action: &str) -> Value {
    example("pull_request", action, |p| p["action"] == action)
}

fn github(event: &str, payload: &Value) -> Result<CiEvent, EventError> {
    GithubEvent::from_payload(event, payload, &|name| {
        (name == "GITHUB_SHA").then(|| RUN_SHA.to_owned())
    })
}

// --- what users see ------------------------------------------------------------------------------

fn range(base: Option<&str>, head: &str, kind: RangeKind) -> Option<RevisionRange> {
    Some(RevisionRange {
        base: base.map(str::to_owned),
        head: head.to_owned(),
        kind,
    })
}

/// The decision for a range with nothing to compare, as the CI outputs will show it.
fn decision_without_git(event: &CiEvent) -> Decision {
    let range = event.range.as_ref().expect("a range");
    let detection = range.without_comparison().expect("nothing to compare");
    detection.decide(&ProjectRoot::repository())
}

fn full(reason: &str) -> Decision {
    Decision::Full {
        reason: reason.to_owned(),
    }
}

/// A range that the core must compare with git (a push or pull request with a base).
fn assert_compared(event: &CiEvent) {
    let range = event.range.as_ref().expect("a range");
    assert_eq!(range.without_comparison(), None, "{range:?}");
}

// --- GitHub: push --------------------------------------------------------------------------------

#[test]
fn a_pushed_tag_deploys_everything() {
    let payload = example("push", "a created tag", |p| {
        p["ref"] == "refs/tags/simple-tag" && p["created"] == true
    });

    let event = github("push", &payload).unwrap();

    assert_eq!(event.system, CiSystem::GitHubActions);
    assert_eq!(
        (event.ref_name.as_str(), event.ref_type),
        ("simple-tag", RefType::Tag)
    );
    assert_eq!(event.head_sha, TAGGED);
    assert_eq!(event.range, range(None, TAGGED, RangeKind::Tag));
    assert_eq!(event.default_branch.as_deref(), Some("master"));
    assert_eq!(
        decision_without_git(&event),
        full("a tag: nothing to compare with; deploying everything")
    );
}

#[test]
fn a_deleted_tag_deploys_nothing() {
    let payload = example("push", "a deleted tag", |p| p["deleted"] == true);

    let event = github("push", &payload).unwrap();

    assert!(event.deleted);
    assert_eq!(event.range, None);
    assert_eq!(event.head_sha, TAGGED, "the last commit the tag named");
    assert_eq!(
        event.nothing_to_deploy().as_deref(),
        Some("the tag `simple-tag` was deleted: nothing to deploy")
    );
}

#[test]
fn a_new_branch_deploys_everything() {
    let payload = example("push", "a created branch", |p| {
        p["ref"] == "refs/heads/master" && p["created"] == true
    });

    let event = github("push", &payload).unwrap();

    assert_eq!(
        (event.ref_name.as_str(), event.ref_type),
        ("master", RefType::Branch)
    );
    assert_eq!(event.range, range(None, TAGGED, RangeKind::NewBranch));
    assert!(event.is_default_branch());
    assert_eq!(event.nothing_to_deploy(), None);
    assert_eq!(
        decision_without_git(&event),
        full("a new branch: nothing to compare with; deploying everything")
    );
}

/// The created-branch payload with `before` and `created` as a push to an existing branch
/// sends them; a force push also sets `forced`.
fn branch_push(forced: bool) -> Value {
    let mut payload = example("push", "a created branch", |p| {
        p["ref"] == "refs/heads/master" && p["created"] == true
    });
    payload["before"] = PR_BASE.into();
    payload["created"] = false.into();
    payload["forced"] = forced.into();
    payload
}

#[test]
fn a_push_to_a_branch_compares_before_with_after() {
    for forced in [false, true] {
        let event = github("push", &branch_push(forced)).unwrap();

        // A force push is compared too: the core also lists what the old commits changed.
        assert_eq!(event.range, range(Some(PR_BASE), TAGGED, RangeKind::Push));
        assert_compared(&event);
        assert_eq!(event.head_sha, TAGGED);
    }
}

#[test]
fn a_deleted_branch_deploys_nothing() {
    // The tag deletion payload, for a branch.
    let mut payload = example("push", "a deleted tag", |p| p["deleted"] == true);
    payload["ref"] = "refs/heads/feature/new-dag".into();

    let event = github("push", &payload).unwrap();

    assert_eq!(event.ref_type, RefType::Branch);
    assert_eq!(
        event.nothing_to_deploy().as_deref(),
        Some("the branch `feature/new-dag` was deleted: nothing to deploy")
    );
}

// --- GitHub: pull requests -----------------------------------------------------------------------

fn expected_pull_request(state: PullRequestState) -> Option<PullRequestInfo> {
    Some(PullRequestInfo {
        number: 2,
        head_ref: "changes".to_owned(),
        base_ref: "master".to_owned(),
        from_fork: false,
        state,
    })
}

#[test]
fn an_opened_pull_request_compares_its_head_with_its_base() {
    let event = github("pull_request", &pull_request("opened")).unwrap();

    assert_eq!(event.event_name, "pull_request");
    assert_eq!(
        (event.ref_name.as_str(), event.ref_type),
        ("changes", RefType::Branch)
    );
    assert_eq!(event.head_sha, PR_HEAD);
    assert_eq!(
        event.range,
        range(Some(PR_BASE), PR_HEAD, RangeKind::PullRequest)
    );
    assert_eq!(
        event.pull_request,
        expected_pull_request(PullRequestState::Open)
    );
    assert!(!event.is_default_branch());
    assert_compared(&event);
}

#[test]
fn a_synchronized_pull_request_compares_the_whole_pull_request() {
    // `before` and `after` name the last push only; the pull request's changes are all of it.
    let payload = pull_request("synchronize");
    assert_eq!(payload["after"], PR_HEAD);

    let event = github("pull_request", &payload).unwrap();

    assert_eq!(
        event.range,
        range(Some(PR_BASE), PR_HEAD, RangeKind::PullRequest)
    );
}

#[test]
fn closed_and_merged_pull_requests_say_so_and_keep_their_range() {
    let closed = github("pull_request", &pull_request("closed")).unwrap();
    assert_eq!(
        closed.pull_request,
        expected_pull_request(PullRequestState::Closed)
    );

    // GitHub sends a merge as `closed` with `merged: true`.
    let mut payload = pull_request("closed");
    payload["pull_request"]["merged"] = true.into();
    let merged = github("pull_request", &payload).unwrap();

    assert_eq!(
        merged.pull_request,
        expected_pull_request(PullRequestState::Merged)
    );
    assert_eq!(
        merged.range,
        range(Some(PR_BASE), PR_HEAD, RangeKind::PullRequest)
    );
    assert_compared(&merged);
}

#[test]
fn pull_requests_from_forks_are_told_apart() {
    let mut payload = pull_request("opened");
    payload["pull_request"]["head"]["repo"]["full_name"] = "someone/Hello-World".into();
    let fork = github("pull_request_target", &payload).unwrap();
    assert_eq!(fork.event_name, "pull_request_target");
    assert!(fork.pull_request.unwrap().from_fork);

    // A deleted fork leaves no head repository: its origin is unknown, so it counts as one.
    payload["pull_request"]["head"]["repo"] = Value::Null;
    let gone = github("pull_request", &payload).unwrap();
    assert!(gone.pull_request.unwrap().from_fork);
}

// --- GitHub: other events ------------------------------------------------------------------------

#[test]
fn a_manual_run_deploys_everything() {
    let payload = example("workflow_dispatch", "a run on main", |p| {
        p["ref"] == "refs/heads/main"
    });

    let event = github("workflow_dispatch", &payload).unwrap();

    assert_eq!(
        (event.ref_name.as_str(), event.ref_type),
        ("main", RefType::Branch)
    );
    assert_eq!(event.range, range(None, RUN_SHA, RangeKind::Manual));
    assert!(event.is_default_branch());
    assert_eq!(
        decision_without_git(&event),
        full("a manual run: nothing to compare with; deploying everything")
    );

    let error = GithubEvent::from_payload("workflow_dispatch", &payload, &|_| None).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`GITHUB_SHA` is not set (the `workflow_dispatch` event names no commit)"
    );
}

#[test]
fn created_tags_and_branches_deploy_everything() {
    let payload = example("create", "a tag", |p| p["ref_type"] == "tag");
    let tag = github("create", &payload).unwrap();
    assert_eq!(
        (tag.ref_name.as_str(), tag.ref_type),
        ("simple-tag", RefType::Tag)
    );
    assert_eq!(tag.range, range(None, RUN_SHA, RangeKind::Tag));

    let mut payload = payload;
    payload["ref_type"] = "branch".into();
    payload["ref"] = "preview/etl".into();
    let branch = github("create", &payload).unwrap();
    assert_eq!(branch.range, range(None, RUN_SHA, RangeKind::NewBranch));
    assert_eq!(
        decision_without_git(&branch),
        full("a new branch: nothing to compare with; deploying everything")
    );
}

#[test]
fn a_delete_event_deploys_nothing() {
    let payload = example("delete", "a tag", |p| p["ref_type"] == "tag");

    let event = github("delete", &payload).unwrap();

    assert!(event.deleted);
    assert_eq!(event.range, None);
    assert_eq!(
        event.nothing_to_deploy().as_deref(),
        Some("the tag `simple-tag` was deleted: nothing to deploy")
    );
}

#[test]
fn a_release_deploys_its_tag_whole() {
    let payload = example("release", "a published release", |p| {
        p["action"] == "published"
    });

    let event = github("release", &payload).unwrap();

    assert_eq!(
        (event.ref_name.as_str(), event.ref_type),
        ("0.0.1", RefType::Tag)
    );
    assert_eq!(event.range, range(None, RUN_SHA, RangeKind::Tag));
    assert_eq!(
        decision_without_git(&event),
        full("a tag: nothing to compare with; deploying everything")
    );
}

#[test]
fn a_merge_queue_compares_its_head_with_the_target() {
    let payload = example("merge_group", "checks requested", |_| true);

    let event = github("merge_group", &payload).unwrap();

    assert!(event.ref_name.starts_with("gh-readonly-queue/main/pr-104-"));
    assert_eq!(
        event.range,
        range(
            Some("380387fbc80638b734a49e1be1c4dfec1c01b33c"),
            "2ffea6db159f6b6c47a24e778fb9ef40cf6b1c7d",
            RangeKind::PullRequest
        )
    );
}

#[test]
fn events_that_name_no_deploy_are_refused_with_a_hint() {
    let payload = example("issues", "an opened issue", |p| p["action"] == "opened");

    let error = github("issues", &payload).unwrap_err();

    assert_eq!(
        error.to_string(),
        "the `issues` event does not say what to deploy"
    );
    assert!(error
        .hint()
        .unwrap()
        .contains("push, pull_request, workflow_dispatch"));
}

#[test]
fn broken_payloads_name_the_field() {
    let mut payload = branch_push(false);
    payload.as_object_mut().unwrap().remove("after");
    let error = github("push", &payload).unwrap_err();
    assert_eq!(error.to_string(), "the `push` event has no `after`");

    let mut payload = pull_request("opened");
    payload["pull_request"]["base"]["sha"] = "--upload-pack=evil".into();
    let error = github("pull_request", &payload).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`pull_request.base.sha` of the `pull_request` event is not a commit id: \
         `--upload-pack=evil`"
    );
}

#[test]
fn the_running_job_event_is_read_from_github_event_path() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("event.json");
    let payload = pull_request("opened");
    std::fs::write(&path, serde_json::to_vec(&payload).unwrap()).unwrap();
    let vars = HashMap::from([
        ("GITHUB_EVENT_NAME", "pull_request".to_owned()),
        ("GITHUB_EVENT_PATH", path.display().to_string()),
    ]);

    let event = GithubEvent::from_env(&|name| vars.get(name).cloned()).unwrap();

    assert_eq!(event, github("pull_request", &payload).unwrap());

    let missing = dir.path().join("missing.json");
    let vars = HashMap::from([
        ("GITHUB_EVENT_NAME", "push".to_owned()),
        ("GITHUB_EVENT_PATH", missing.display().to_string()),
    ]);
    let error = GithubEvent::from_env(&|name| vars.get(name).cloned()).unwrap_err();
    assert!(
        error.to_string().starts_with("reading the event payload `"),
        "{error}"
    );
}

// --- GitLab --------------------------------------------------------------------------------------

const GL_HEAD: &str = "b1d7f2a09e3c4d5f6a7b8c9d0e1f2a3b4c5d6e7f";
const GL_BEFORE: &str = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a0b";
const GL_DIFF_BASE: &str = "3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d";

/// What every GitLab job has, whatever started the pipeline.
fn gitlab_job(source: &str, ref_name: &str) -> HashMap<String, String> {
    let vars = [
        ("CI", "true"),
        ("GITLAB_CI", "true"),
        ("CI_PIPELINE_SOURCE", source),
        ("CI_PIPELINE_ID", "1184523"),
        (
            "CI_PIPELINE_URL",
            "https://gitlab.com/acme/airflow/-/pipelines/1184523",
        ),
        ("CI_PROJECT_ID", "4815"),
        ("CI_PROJECT_PATH", "acme/airflow"),
        ("CI_DEFAULT_BRANCH", "main"),
        ("CI_COMMIT_SHA", GL_HEAD),
        ("CI_COMMIT_SHORT_SHA", &GL_HEAD[..8]),
        ("CI_COMMIT_BEFORE_SHA", ZERO),
        ("CI_COMMIT_REF_NAME", ref_name),
        ("CI_COMMIT_REF_SLUG", ref_name),
    ];
    vars.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn with(mut vars: HashMap<String, String>, more: &[(&str, &str)]) -> HashMap<String, String> {
    for (name, value) in more {
        vars.insert(name.to_string(), value.to_string());
    }
    vars
}

fn gitlab(vars: &HashMap<String, String>) -> Result<CiEvent, EventError> {
    GitlabEvent::from_env(&|name| vars.get(name).cloned())
}

fn merge_request_job(more: &[(&str, &str)]) -> HashMap<String, String> {
    let job = with(
        gitlab_job("merge_request_event", "feature/etl-dag"),
        &[
            ("CI_MERGE_REQUEST_ID", "300211"),
            ("CI_MERGE_REQUEST_IID", "42"),
            ("CI_MERGE_REQUEST_PROJECT_ID", "4815"),
            ("CI_MERGE_REQUEST_SOURCE_PROJECT_ID", "4815"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "feature/etl-dag"),
            ("CI_MERGE_REQUEST_SOURCE_BRANCH_SHA", ""),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_NAME", "main"),
            ("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", ""),
            ("CI_MERGE_REQUEST_DIFF_BASE_SHA", GL_DIFF_BASE),
            ("CI_MERGE_REQUEST_EVENT_TYPE", "detached"),
        ],
    );
    with(job, more)
}

#[test]
fn a_gitlab_push_to_main_compares_before_with_the_commit() {
    let vars = with(
        gitlab_job("push", "main"),
        &[
            ("CI_COMMIT_BEFORE_SHA", GL_BEFORE),
            ("CI_COMMIT_BRANCH", "main"),
        ],
    );

    let event = gitlab(&vars).unwrap();

    assert_eq!(event.system, CiSystem::GitLabCi);
    assert_eq!(event.event_name, "push");
    assert_eq!(
        event.range,
        range(Some(GL_BEFORE), GL_HEAD, RangeKind::Push)
    );
    assert!(event.is_default_branch());
    assert_compared(&event);
}

#[test]
fn a_gitlab_new_branch_deploys_everything() {
    let event = gitlab(&gitlab_job("push", "feature/etl-dag")).unwrap();

    assert_eq!(event.range, range(None, GL_HEAD, RangeKind::NewBranch));
    assert_eq!(
        decision_without_git(&event),
        full("a new branch: nothing to compare with; deploying everything")
    );
}

#[test]
fn a_gitlab_merge_request_compares_from_its_diff_base() {
    let event = gitlab(&merge_request_job(&[])).unwrap();

    assert_eq!(event.ref_name, "feature/etl-dag");
    assert_eq!(
        event.range,
        range(Some(GL_DIFF_BASE), GL_HEAD, RangeKind::PullRequest)
    );
    assert_eq!(
        event.pull_request,
        Some(PullRequestInfo {
            number: 42,
            head_ref: "feature/etl-dag".to_owned(),
            base_ref: "main".to_owned(),
            from_fork: false,
            state: PullRequestState::Open,
        })
    );
    assert_compared(&event);

    let fork = gitlab(&merge_request_job(&[(
        "CI_MERGE_REQUEST_SOURCE_PROJECT_ID",
        "9001",
    )]));
    assert!(fork.unwrap().pull_request.unwrap().from_fork);
}

#[test]
fn a_gitlab_merged_results_pipeline_falls_back_to_the_target_commit() {
    let target = "7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f";
    let vars = merge_request_job(&[
        ("CI_MERGE_REQUEST_EVENT_TYPE", "merged_result"),
        ("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", target),
    ]);
    let event = gitlab(&vars).unwrap();
    assert_eq!(
        event.range,
        range(Some(GL_DIFF_BASE), GL_HEAD, RangeKind::PullRequest)
    );

    let vars = with(vars, &[("CI_MERGE_REQUEST_DIFF_BASE_SHA", "")]);
    let event = gitlab(&vars).unwrap();
    assert_eq!(
        event.range,
        range(Some(target), GL_HEAD, RangeKind::PullRequest)
    );

    let vars = with(vars, &[("CI_MERGE_REQUEST_TARGET_BRANCH_SHA", "")]);
    let event = gitlab(&vars).unwrap();
    assert_eq!(
        decision_without_git(&event),
        full(
            "a pull or merge request without a base commit: nothing to compare with; \
             deploying everything"
        )
    );
}

#[test]
fn a_gitlab_tag_deploys_everything() {
    let vars = with(
        gitlab_job("push", "v1.4.0"),
        &[
            ("CI_COMMIT_TAG", "v1.4.0"),
            ("CI_COMMIT_TAG_MESSAGE", "Release 1.4.0"),
        ],
    );

    let event = gitlab(&vars).unwrap();

    assert_eq!(
        (event.ref_name.as_str(), event.ref_type),
        ("v1.4.0", RefType::Tag)
    );
    assert_eq!(
        decision_without_git(&event),
        full("a tag: nothing to compare with; deploying everything")
    );
}

#[test]
fn gitlab_pipelines_started_without_a_push_deploy_everything() {
    let cases = [
        ("web", "a manual run: nothing to compare with"),
        ("schedule", "a scheduled run: nothing to compare with"),
        (
            "trigger",
            "a run triggered by another pipeline or the API: nothing",
        ),
        (
            "api",
            "a run triggered by another pipeline or the API: nothing",
        ),
        (
            "parent_pipeline",
            "a run triggered by another pipeline or the API",
        ),
    ];
    for (source, reason) in cases {
        // These pipelines carry the branch's last push in CI_COMMIT_BEFORE_SHA or zeros.
        let vars = with(
            gitlab_job(source, "main"),
            &[("CI_COMMIT_BEFORE_SHA", GL_BEFORE)],
        );

        let event = gitlab(&vars).unwrap();

        assert_eq!(event.event_name, source);
        let decision = decision_without_git(&event);
        assert!(
            decision.reason().starts_with(reason),
            "{source}: {decision:?}"
        );
        assert!(matches!(decision, Decision::Full { .. }), "{source}");
    }
}

#[test]
fn gitlab_variables_that_are_missing_or_wrong_are_named() {
    let mut vars = gitlab_job("push", "main");
    vars.remove("CI_COMMIT_SHA");
    let error = gitlab(&vars).unwrap_err();
    assert_eq!(error.to_string(), "`CI_COMMIT_SHA` is not set");
    assert!(error.hint().unwrap().contains("inside a CI job"));

    let error = gitlab(&merge_request_job(&[("CI_MERGE_REQUEST_IID", "!42")])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "`CI_MERGE_REQUEST_IID` is not a number: `!42`"
    );
}

/// The adapter's range, handed to the core, decides a real repository's deploy.
#[tokio::test]
async fn a_gitlab_push_range_drives_the_core_decision() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["-c", "init.defaultBranch=main", "init", "-q"]);
    std::fs::create_dir_all(repo.join("etl/dags")).unwrap();
    std::fs::write(repo.join("etl/Dockerfile"), "FROM x\n").unwrap();
    std::fs::write(repo.join("etl/dags/a.py"), "a = 1\n").unwrap();
    let before = commit(repo);
    std::fs::write(repo.join("etl/dags/a.py"), "a = 2\n").unwrap();
    let head = commit(repo);

    let vars = with(
        gitlab_job("push", "main"),
        &[
            ("CI_COMMIT_BEFORE_SHA", before.as_str()),
            ("CI_COMMIT_SHA", head.as_str()),
        ],
    );
    let event = gitlab(&vars).unwrap();
    let range = event.range.unwrap();
    let detection = detect(repo, &range, &HistoryOptions::default())
        .await
        .unwrap();

    assert!(
        matches!(detection, Detection::Compared { .. }),
        "{detection:?}"
    );
    let decision = detection.decide(&ProjectRoot::parse("/etl/").unwrap());
    assert_eq!(
        decision,
        Decision::DagsOnly {
            reason: format!(
                "only DAG files changed between `{}` and `{}`: `etl/dags/a.py`",
                &before[..7],
                &head[..7]
            ),
            dags: vec!["etl/dags/a.py".to_owned()],
        }
    );
}

fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args(["-c", "commit.gpgsign=false"])
        .args(args)
        .output()
        .unwrap();
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn commit(dir: &Path) -> String {
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "change"]);
    git(dir, &["rev-parse", "HEAD"])
}
