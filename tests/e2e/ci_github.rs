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
    let files = tempfile::tempdir().unwrap();
    let (event, outputs, summary) = (
        files.path().join("event.json"),
        files.path().join("out"),
        files.path().join("sum"),
    );
    let payload = serde_json::json!({
        "ref": "refs/heads/main", "before": before, "after": after,
        "created": false, "deleted": false, "forced": false,
        "repository": { "full_name": "acme/airflow", "default_branch": "main" }
    });
    std::fs::write(&event, payload.to_string()).unwrap();
    std::fs::write(&outputs, "").unwrap();
    std::fs::write(&summary, "").unwrap();

    let token = emulator.info().api_token.clone();
    let output = tokio::process::Command::new(BIN)
        .args([
            "ci",
            "github",
            "--type",
            "infer",
            "--project",
            "airflow",
            "--deployment-id",
        ])
        .arg(deployment_id)
        .current_dir(repo)
        .env("ASTRO_API_URL", emulator.base_url())
        .env("ASTRO_API_TOKEN", &token)
        .env("GITHUB_ACTIONS", "true")
        .env("CI", "true")
        .env("GITHUB_EVENT_NAME", "push")
        .env("GITHUB_EVENT_PATH", &event)
        .env("GITHUB_SHA", after)
        .env("GITHUB_REF", "refs/heads/main")
        .env("GITHUB_REF_NAME", "main")
        .env("GITHUB_REPOSITORY", "acme/airflow")
        .env("GITHUB_OUTPUT", &outputs)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env_remove("GITHUB_TOKEN")
        .env_remove("GITLAB_CI")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let masked = stdout
        .lines()
        .next()
        .is_some_and(|l| l == format!("::add-mask::{token}"));
    assert!(masked, "the token is masked first:\n{stdout}");
    assert!(!stderr.contains(&token), "the token leaked into the log");
    Step {
        code: output.status.code().unwrap_or(-1),
        stdout,
        stderr,
        outputs: std::fs::read_to_string(&outputs).unwrap(),
        summary: std::fs::read_to_string(&summary).unwrap(),
    }
}

async fn start() -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.unwrap()
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
    std::fs::write(
        repo.path().join("airflow/dags/utils/paths.py"),
        "# changed\n",
    )
    .unwrap();
    let second = commit(repo.path(), "a DAG helper");

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
    assert!(step.stdout.contains("::group::"), "{}", step.stdout);
    assert!(
        step.stderr.contains("only DAG files changed"),
        "{}",
        step.stderr
    );
    assert_eq!(creates(&emulator), 1);
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
