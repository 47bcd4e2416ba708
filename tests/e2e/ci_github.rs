//! `astro-deploy ci github`, the GitHub Action's entrypoint, run as the runner runs it: the
//! environment of a GitHub Actions step (a push event payload, `GITHUB_OUTPUT`,
//! `GITHUB_STEP_SUMMARY`), a git checkout of the project, and the emulator as Astro.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e_tests::git::{commit, git};
use emulator::{EmulatorConfig, RunningEmulator};

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

/// A checkout with the example project under `airflow/`, and its first commit.
fn checkout() -> (tempfile::TempDir, String) {
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    let status = Command::new("cp")
        .arg("-r")
        .arg(e2e_tests::repo_root().join("examples/astro-project"))
        .arg(repo.path().join("airflow"))
        .status()
        .unwrap();
    assert!(status.success());
    let first = commit(repo.path(), "the project");
    (repo, first)
}

struct Step {
    code: i32,
    stdout: String,
    stderr: String,
    outputs: String,
    summary: String,
}

/// Runs the entrypoint for a push from `before` to `after`, as a GitHub Actions step would.
async fn step(
    emulator: &RunningEmulator,
    repo: &Path,
    before: &str,
    after: &str,
    deployment_id: &str,
) -> Step {
    let token = emulator.info().api_token.clone();
    typed_step(
        emulator,
        repo,
        (before, after),
        deployment_id,
        ("infer", &token),
    )
    .await
}

/// [`step`] with `--type deploy_type`, as `token`.
async fn typed_step(
    emulator: &RunningEmulator,
    repo: &Path,
    (before, after): (&str, &str),
    deployment_id: &str,
    (deploy_type, token): (&str, &str),
) -> Step {
    let payload = serde_json::json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": false, "deleted": false, "forced": false,
        "repository": { "full_name": "acme/airflow", "default_branch": "main" }
    });
    let args = [
        "ci",
        "github",
        "--type",
        deploy_type,
        "--project",
        "airflow",
        "--deployment-id",
        deployment_id,
    ];
    let run = ActionsRun {
        astro: (emulator.base_url(), token),
        event: ("push", &payload),
        env: vec![
            ("GITHUB_SHA", after.to_owned()),
            ("GITHUB_REF", "refs/heads/main".to_owned()),
            ("GITHUB_REF_NAME", "main".to_owned()),
        ],
        github_token: None,
    };
    run.step(repo, &args).await
}

/// A GitHub Actions step's environment for a run of `event`: its payload, the step's output
/// and summary files, the Astro API and token, and GitHub's token when the step has one.
struct ActionsRun<'a> {
    astro: (&'a str, &'a str),
    event: (&'a str, &'a serde_json::Value),
    env: Vec<(&'static str, String)>,
    github_token: Option<&'a str>,
}

impl ActionsRun<'_> {
    /// Runs `astro-deploy args` in `repo` as the step, and checks that every token is masked
    /// before anything else is printed and never shows in the log.
    async fn step(&self, repo: &Path, args: &[&str]) -> Step {
        let files = tempfile::tempdir().unwrap();
        let (event, outputs, summary) = (
            files.path().join("event.json"),
            files.path().join("out"),
            files.path().join("sum"),
        );
        std::fs::write(&event, self.event.1.to_string()).unwrap();
        std::fs::write(&outputs, "").unwrap();
        std::fs::write(&summary, "").unwrap();

        let (api_url, token) = self.astro;
        let mut command = tokio::process::Command::new(BIN);
        command
            .args(args)
            .current_dir(repo)
            .env("ASTRO_API_URL", api_url)
            .env("ASTRO_API_TOKEN", token)
            .env("GITHUB_ACTIONS", "true")
            .env("CI", "true")
            .env("GITHUB_EVENT_NAME", self.event.0)
            .env("GITHUB_EVENT_PATH", &event)
            .env("GITHUB_REPOSITORY", "acme/airflow")
            .env("GITHUB_RUN_ID", "4242")
            .env("GITHUB_OUTPUT", &outputs)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .env_remove("GITHUB_TOKEN")
            .env_remove("GITLAB_CI");
        if let Some(github_token) = self.github_token {
            command.env("GITHUB_TOKEN", github_token);
        }
        let output = command.output().await.unwrap();

        let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        let secrets: Vec<&str> = std::iter::once(token).chain(self.github_token).collect();
        let masks: Vec<&str> = stdout
            .lines()
            .take_while(|l| l.starts_with("::add-mask::"))
            .collect();
        for secret in secrets {
            let mask = format!("::add-mask::{secret}");
            assert!(
                masks.contains(&mask.as_str()),
                "not masked first:\n{stdout}"
            );
            let shown = stdout.lines().filter(|l| !l.starts_with("::add-mask::"));
            assert!(
                !shown.clone().any(|l| l.contains(secret)) && !stderr.contains(secret),
                "a token leaked into the log"
            );
        }
        Step {
            code: output.status.code().unwrap_or(-1),
            stdout,
            stderr,
            outputs: std::fs::read_to_string(&outputs).unwrap(),
            summary: std::fs::read_to_string(&summary).unwrap(),
        }
    }
}

async fn start() -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.unwrap()
}

/// Commits a change to a DAG helper under `airflow/dags/`, and gives the commit.
fn change_a_dag(repo: &Path) -> String {
    std::fs::write(repo.join("airflow/dags/utils/paths.py"), "# changed\n").unwrap();
    commit(repo, "a DAG helper")
}

fn creates(emulator: &RunningEmulator) -> usize {
    let exchanges = emulator.exchanges();
    exchanges
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/deploys"))
        .count()
}

#[tokio::test]
async fn a_push_that_changes_only_dags_deploys_them_and_fills_the_outputs_and_summary() {
    let emulator = start().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let (repo, first) = checkout();
    let second = change_a_dag(repo.path());

    let step = step(&emulator, repo.path(), &first, &second, &id).await;

    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
    assert!(
        step.outputs.contains(&format!("deployment-id={id}\n")),
        "{}",
        step.outputs
    );
    assert!(step.outputs.contains("skipped=false\n"), "{}", step.outputs);
    assert!(step.outputs.contains("bundle-sha256="), "{}", step.outputs);
    let deploy_id = step
        .outputs
        .lines()
        .find_map(|l| l.strip_prefix("deploy-id="))
        .unwrap();
    assert!(!deploy_id.is_empty());
    assert!(step.summary.contains(deploy_id), "{}", step.summary);
    // Why infer chose a DAG deploy is an output and in the summary, not only in the log.
    let reason = output(&step, "deploy-reason");
    assert!(reason.contains("only DAG files changed"), "{reason}");
    assert!(
        step.summary.contains("inferred: only DAG files changed"),
        "{}",
        step.summary
    );
    assert!(step.stdout.contains("::group::"), "{}", step.stdout);
    assert!(
        step.stderr.contains("only DAG files changed"),
        "{}",
        step.stderr
    );
    assert_eq!(creates(&emulator), 1);
}

#[tokio::test]
async fn a_dag_deploy_says_what_it_left_out_when_more_of_the_project_changed() {
    let emulator = start().await;
    let token = emulator.info().api_token.clone();
    let id = emulator.info().deployments.dags_enabled.clone();
    let (repo, first) = checkout();
    std::fs::write(
        repo.path().join("airflow/requirements.txt"),
        "pandas==2.2.3\n",
    )
    .unwrap();
    let second = commit(repo.path(), "a new dependency");

    let dags = typed_step(
        &emulator,
        repo.path(),
        (&first, &second),
        &id,
        ("dags", &token),
    )
    .await;

    assert_eq!(dags.code, 0, "{}\n{}", dags.stdout, dags.stderr);
    assert_eq!(output(&dags, "deploy-type"), "dags");
    let warning = dags
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning") && l.contains("only dags/ was deployed"))
        .unwrap_or_else(|| panic!("no warning annotation:\n{}", dags.stdout));
    assert!(warning.contains("airflow/requirements.txt"), "{warning}");
    assert!(
        dags.summary.contains("only dags/ was deployed"),
        "{}",
        dags.summary
    );

    // A push that changed only DAGs deploys them without the warning.
    let third = change_a_dag(repo.path());
    let quiet = typed_step(
        &emulator,
        repo.path(),
        (&second, &third),
        &id,
        ("dags", &token),
    )
    .await;
    assert_eq!(quiet.code, 0, "{}\n{}", quiet.stdout, quiet.stderr);
    assert!(
        !quiet.stdout.contains("only dags/ was deployed"),
        "{}",
        quiet.stdout
    );
}

#[tokio::test]
async fn a_token_near_its_expiry_is_a_warning_in_the_job_summary() {
    let emulator = start().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let day = Duration::from_secs(86_400);
    let soon = emulator.mint_token(Some(vec![format!("deploymentId:{id}")]), day * 3);
    let (repo, first) = checkout();
    let second = change_a_dag(repo.path());

    let step = typed_step(
        &emulator,
        repo.path(),
        (&first, &second),
        &id,
        ("infer", &soon),
    )
    .await;

    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
    assert!(
        step.summary.contains("token-expiry") && step.summary.contains("rotate the token"),
        "{}",
        step.summary
    );
    let annotation = step
        .stdout
        .lines()
        .any(|l| l.starts_with("::warning") && l.contains("token-expiry"));
    assert!(annotation, "a warning annotation:\n{}", step.stdout);
}

#[tokio::test]
async fn a_token_that_may_not_write_deployments_is_a_warning_not_a_failure() {
    let emulator = start().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let github = e2e_tests::fake_github::FakeGithub::start().await;
    github.state().refuse_deployments = true;
    let (repo, first) = checkout();
    let second = change_a_dag(repo.path());
    let payload = serde_json::json!({
        "ref": "refs/heads/main", "before": first, "after": second,
        "created": false, "deleted": false, "forced": false,
        "repository": { "full_name": "acme/airflow", "default_branch": "main" }
    });
    let token = emulator.info().api_token.clone();
    let run = ActionsRun {
        astro: (emulator.base_url(), &token),
        event: ("push", &payload),
        env: vec![
            ("GITHUB_SHA", second.clone()),
            ("GITHUB_REF", "refs/heads/main".to_owned()),
            ("GITHUB_REF_NAME", "main".to_owned()),
            ("GITHUB_API_URL", github.url().to_owned()),
        ],
        github_token: Some(GITHUB_TOKEN),
    };
    let args = ["ci", "github", "--type", "infer", "--project", "airflow"];
    let args = [&args[..], &["--deployment-id", &id]].concat();

    let step = run.step(repo.path(), &args).await;

    assert_eq!(
        step.code, 0,
        "the deploy succeeded:\n{}\n{}",
        step.stdout, step.stderr
    );
    assert_eq!(creates(&emulator), 1);
    let warning = step
        .stdout
        .lines()
        .find(|l| l.starts_with("::warning") && l.contains("GitHub did not let the token"))
        .unwrap_or_else(|| panic!("no warning annotation:\n{}", step.stdout));
    assert!(warning.contains("deployments: write"), "{warning}");
    assert!(
        warning.contains("the deploy itself is not affected"),
        "{warning}"
    );
    assert!(github.state().deployments.is_empty());
}

#[tokio::test]
async fn a_push_that_changes_nothing_in_the_project_skips_and_says_why() {
    let emulator = start().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let (repo, first) = checkout();
    std::fs::write(repo.path().join("README.md"), "# the repository\n").unwrap();
    let second = commit(repo.path(), "docs outside the project");

    let step = step(&emulator, repo.path(), &first, &second, &id).await;

    assert_eq!(step.code, 0, "{}\n{}", step.stdout, step.stderr);
    assert!(step.outputs.contains("skipped=true\n"), "{}", step.outputs);
    let reason = step
        .outputs
        .lines()
        .find_map(|l| l.strip_prefix("skip-reason="))
        .unwrap();
    assert!(reason.contains("nothing under"), "{reason}");
    assert!(
        step.summary.to_lowercase().contains("skipped"),
        "{}",
        step.summary
    );
    assert_eq!(creates(&emulator), 0, "a skip makes no deploy");
}

#[tokio::test]
async fn a_failed_deploy_is_an_error_annotation_and_keeps_its_exit_code() {
    let emulator = start().await;
    let (repo, first) = checkout();
    std::fs::write(
        repo.path().join("airflow/include/currencies.csv"),
        "code\nEUR\n",
    )
    .unwrap();
    let second = commit(repo.path(), "a change outside dags");

    let step = step(
        &emulator,
        repo.path(),
        &first,
        &second,
        "clnosuchdeployment0000000",
    )
    .await;

    assert_eq!(step.code, 5, "{}\n{}", step.stdout, step.stderr);
    assert!(
        step.stdout
            .contains("::error title=astro-deploy deploy failed::"),
        "{}",
        step.stdout
    );
    assert!(step.outputs.contains("skipped=false\n"), "{}", step.outputs);
    assert!(step.outputs.contains("deploy-id=\n"), "{}", step.outputs);
    assert_eq!(creates(&emulator), 0);
}

// --- Previews: `ci github-preview` -------------------------------------------------------------

/// A real `pull_request` webhook payload from `@octokit/webhooks-examples`, made to describe
/// pull request #`number` of `branch` into `main` of `acme/airflow`, from the same repository.
fn pull_request_payload(action: &str, number: u64, branch: &str, head: &str) -> serde_json::Value {
    let index = e2e_tests::test_deps_dir()
        .join("node_modules/@octokit/webhooks-examples/api.github.com/index.json");
    let text = std::fs::read_to_string(&index).unwrap_or_else(|e| {
        panic!(
            "the GitHub webhook examples are not at `{}` ({e}): run scripts/install-test-deps.sh",
            index.display()
        )
    });
    let events: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    let mut payload = events
        .iter()
        .find(|e| e["name"] == "pull_request")
        .and_then(|e| e["examples"].as_array())
        .and_then(|examples| examples.iter().find(|p| p["action"] == action))
        .unwrap_or_else(|| panic!("no `pull_request` example with action `{action}`"))
        .clone();
    payload["number"] = serde_json::json!(number);
    let pull = &mut payload["pull_request"];
    pull["number"] = serde_json::json!(number);
    pull["head"]["ref"] = serde_json::json!(branch);
    pull["head"]["sha"] = serde_json::json!(head);
    pull["head"]["repo"]["full_name"] = serde_json::json!("acme/airflow");
    pull["base"]["ref"] = serde_json::json!("main");
    pull["base"]["repo"]["full_name"] = serde_json::json!("acme/airflow");
    pull["base"]["sha"] = serde_json::json!(head);
    payload["repository"]["full_name"] = serde_json::json!("acme/airflow");
    payload["repository"]["default_branch"] = serde_json::json!("main");
    payload
}

/// Runs `ci github-preview <args>` as a step of a `pull_request` workflow run would, with the
/// fake GitHub as GitHub's API.
async fn preview_step(
    setup: &e2e_tests::image_setup::ImageSetup,
    github: &e2e_tests::fake_github::FakeGithub,
    repo: &Path,
    payload: &serde_json::Value,
    args: &[&str],
) -> Step {
    let number = payload["number"].as_u64().unwrap();
    let branch = payload["pull_request"]["head"]["ref"].as_str().unwrap();
    let sha = payload["pull_request"]["head"]["sha"].as_str().unwrap();
    let token = setup.emulator.info().api_token.clone();
    let run = ActionsRun {
        astro: (setup.emulator.base_url(), &token),
        event: ("pull_request", payload),
        env: vec![
            ("GITHUB_SHA", sha.to_owned()),
            ("GITHUB_REF", format!("refs/pull/{number}/merge")),
            ("GITHUB_REF_NAME", format!("{number}/merge")),
            ("GITHUB_HEAD_REF", branch.to_owned()),
            ("GITHUB_BASE_REF", "main".to_owned()),
            ("GITHUB_API_URL", github.url().to_owned()),
        ],
        github_token: Some(GITHUB_TOKEN),
    };
    let args: Vec<&str> = ["ci", "github-preview"]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    run.step(repo, &args).await
}

/// The workflow's token, as the fake GitHub takes it.
const GITHUB_TOKEN: &str = "ghs_fakeworkflowtoken0000000000000000";

fn output<'a>(step: &'a Step, name: &str) -> &'a str {
    step.outputs
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no output `{name}`:\n{}", step.outputs))
}

#[tokio::test]
async fn a_pull_request_preview_is_linked_from_the_pull_request_and_deleted_with_its_environment() {
    let setup = e2e_tests::image_setup::ImageSetup::start(Path::new(BIN), "12.2.0").await;
    let github = e2e_tests::fake_github::FakeGithub::start().await;
    let base = setup.deployment();
    let (repo, head) = checkout();
    let image = e2e_tests::runtime_image::runtime_reference(&setup.registry.host(), "12.2.0");
    let base_flags = ["--base-deployment-id", base.as_str()];

    // The pull request opens: its preview is made and deployed.
    let opened = pull_request_payload("opened", 12, "feature/new-dag", &head);
    let mut create = vec![
        "create",
        "--project",
        "airflow",
        "--image-name",
        &image,
        "--wait",
    ];
    create.extend(base_flags);
    let created = preview_step(&setup, &github, repo.path(), &opened, &create).await;

    assert_eq!(created.code, 0, "{}\n{}", created.stdout, created.stderr);
    let preview_id = output(&created, "preview-id").to_owned();
    let preview_url = output(&created, "preview-url").to_owned();
    assert!(!preview_id.is_empty() && preview_id != base);
    assert!(
        preview_url.starts_with("http://127.0.0.1:"),
        "{preview_url}"
    );
    assert_eq!(output(&created, "deployment-id"), preview_id);
    assert_eq!(output(&created, "deploy-type"), "image-and-dags");
    assert!(
        created.summary.contains(&preview_url),
        "{}",
        created.summary
    );
    let preview_name = {
        let state = github.state();
        assert_eq!(state.comments.len(), 1, "one comment on the pull request");
        let comment = state.comments[0]["body"].as_str().unwrap_or_default();
        assert!(comment.contains(&preview_url), "{comment}");
        assert_eq!(state.deployments.len(), 1, "one GitHub Deployment");
        let deployment = &state.deployments[0];
        assert_eq!(deployment["transient_environment"], serde_json::json!(true));
        assert_eq!(
            deployment["production_environment"],
            serde_json::json!(false)
        );
        assert_eq!(deployment["ref"], serde_json::json!("feature/new-dag"));
        assert_eq!(state.statuses[0]["state"], serde_json::json!("success"));
        assert_eq!(
            state.statuses[0]["environment_url"],
            serde_json::json!(preview_url)
        );
        deployment["environment"].as_str().unwrap().to_owned()
    };
    assert!(preview_name.contains("feature-new-dag"), "{preview_name}");
    // The preview was up before anything was deployed to it: the emulator answers CREATING
    // for a while after a create (100 ms here), and a deploy must wait for HEALTHY.
    let exchanges = setup.emulator.exchanges();
    let preview_path = format!("/deployments/{preview_id}");
    let first_deploy = exchanges
        .iter()
        .position(|e| e.method == "POST" && e.path.ends_with(&format!("{preview_path}/deploys")))
        .expect("a deploy to the preview");
    let seen: Vec<&str> = exchanges[..first_deploy]
        .iter()
        .filter(|e| e.method == "GET" && e.path.ends_with(&preview_path))
        .filter_map(|e| e.response_body.as_ref()?["status"].as_str())
        .collect();
    let created = exchanges
        .iter()
        .find(|e| {
            e.method == "POST"
                && e.response_body
                    .as_ref()
                    .is_some_and(|b| b["id"] == serde_json::json!(preview_id))
        })
        .and_then(|e| e.response_body.as_ref())
        .map(|b| b["status"].clone());
    assert_eq!(
        created,
        Some(serde_json::json!("CREATING")),
        "a new Deployment starts CREATING"
    );
    // However fast or slow the machine, the last read before the deploy saw it HEALTHY.
    assert_eq!(seen.last(), Some(&"HEALTHY"), "{seen:?}");

    // The pull request closes: the preview goes, and so does its environment.
    let closed = pull_request_payload("closed", 12, "feature/new-dag", &head);
    let mut delete = vec!["delete"];
    delete.extend(base_flags);
    let deleted = preview_step(&setup, &github, repo.path(), &closed, &delete).await;

    assert_eq!(deleted.code, 0, "{}\n{}", deleted.stdout, deleted.stderr);
    assert_eq!(output(&deleted, "preview-id"), preview_id);
    assert_eq!(output(&deleted, "skipped"), "false");
    assert!(
        deleted.summary.contains("preview deleted"),
        "{}",
        deleted.summary
    );
    {
        let state = github.state();
        assert_eq!(
            state.comments.len(),
            1,
            "the comment is updated, not repeated"
        );
        let comment = state.comments[0]["body"].as_str().unwrap_or_default();
        assert!(comment.contains("deleted"), "{comment}");
        let inactive = state
            .statuses
            .iter()
            .filter(|s| s["state"] == "inactive")
            .count();
        assert_eq!(inactive, 1, "the environment is marked inactive");
    }
    let gone =
        setup.emulator.exchanges().iter().any(|e| {
            e.method == "DELETE" && e.path.ends_with(&format!("/deployments/{preview_id}"))
        });
    assert!(gone, "the preview Deployment was deleted");

    // A re-run finds nothing to delete, succeeds, and leaves the comment as it was.
    let comment_before = github.state().comments[0]["body"].clone();
    let again = preview_step(&setup, &github, repo.path(), &closed, &delete).await;
    assert_eq!(again.code, 0, "{}\n{}", again.stdout, again.stderr);
    assert_eq!(output(&again, "skipped"), "true");
    assert!(output(&again, "skip-reason").contains("nothing to delete"));
    assert_eq!(github.state().comments[0]["body"], comment_before);
}

#[tokio::test]
async fn gc_asks_github_and_deletes_only_the_previews_of_closed_pull_requests() {
    let setup = e2e_tests::image_setup::ImageSetup::start(Path::new(BIN), "12.2.0").await;
    let github = e2e_tests::fake_github::FakeGithub::start().await;
    let base = setup.deployment();
    let (repo, head) = checkout();
    let image = e2e_tests::runtime_image::runtime_reference(&setup.registry.host(), "12.2.0");
    {
        let mut state = github.state();
        state.pulls = vec![(12, "closed", true), (13, "open", false)];
        state.branches = vec!["main".to_owned(), "feature/open".to_owned()];
    }

    let mut ids = Vec::new();
    for (number, branch) in [(12, "feature/merged"), (13, "feature/open")] {
        let opened = pull_request_payload("opened", number, branch, &head);
        let args = [
            "create",
            "--project",
            "airflow",
            "--image-name",
            &image,
            "--base-deployment-id",
            &base,
        ];
        let created = preview_step(&setup, &github, repo.path(), &opened, &args).await;
        assert_eq!(created.code, 0, "{}\n{}", created.stdout, created.stderr);
        ids.push(output(&created, "preview-id").to_owned());
    }

    // gc, as a scheduled workflow runs it: GitHub is asked about each preview's pull request.
    let token = setup.emulator.info().api_token.clone();
    let files = tempfile::tempdir().unwrap();
    let event = files.path().join("event.json");
    let schedule = serde_json::json!({
        "schedule": "0 5 * * *",
        "repository": { "full_name": "acme/airflow", "default_branch": "main" }
    });
    std::fs::write(&event, schedule.to_string()).unwrap();
    let gc = tokio::process::Command::new(BIN)
        .args(["preview", "gc", "--host", "github", "--output", "json"])
        .args(["--base-deployment-id", &base])
        .current_dir(repo.path())
        .env("ASTRO_API_URL", setup.emulator.base_url())
        .env("ASTRO_API_TOKEN", &token)
        .env("CI", "true")
        .env("GITHUB_ACTIONS", "true")
        .env("GITHUB_EVENT_NAME", "schedule")
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_REF_NAME", "main")
        .env("GITHUB_SHA", &head)
        .env("GITHUB_REPOSITORY", "acme/airflow")
        .env("GITHUB_API_URL", github.url())
        .env("GITHUB_TOKEN", GITHUB_TOKEN)
        .env("GITHUB_EVENT_PATH", &event)
        .env_remove("GITLAB_CI")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&gc.stdout);
    let stderr = String::from_utf8_lossy(&gc.stderr);

    assert_eq!(gc.status.code(), Some(0), "{stdout}\n{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).expect("one JSON object");
    assert_eq!(report["host"], "github", "{report}");
    let verdict = |id: &str| {
        report["entries"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["preview"]["id"] == serde_json::json!(id))
            .map(|e| e["verdict"].clone())
            .unwrap_or_else(|| panic!("no entry for {id}: {report}"))
    };
    assert!(verdict(&ids[0]).to_string().contains("merged"), "{report}");
    assert!(
        verdict(&ids[1]).to_string().to_lowercase().contains("keep"),
        "{report}"
    );
    let deleted: Vec<String> = setup
        .emulator
        .exchanges()
        .iter()
        .filter(|e| e.method == "DELETE")
        .map(|e| e.path.clone())
        .collect();
    assert_eq!(deleted.len(), 1, "{deleted:?}");
    assert!(deleted[0].ends_with(&ids[0]), "{deleted:?}");
    let asked: Vec<String> = github
        .state()
        .calls
        .iter()
        .filter(|c| c.method == "GET" && c.path.contains("/pulls/"))
        .map(|c| c.path.clone())
        .collect();
    assert!(asked.iter().any(|p| p.ends_with("/pulls/12")), "{asked:?}");
}
