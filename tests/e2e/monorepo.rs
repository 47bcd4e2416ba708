//! Monorepos end to end: a git repository with two Astro projects and `astro-deploy.yaml`,
//! planned and deployed by the real binary against the emulator. Only projects whose files
//! changed deploy, each with the deploy type its changes call for.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use e2e_tests::git::{commit, git};
use emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

fn write(repo: &Path, relative: &str, content: &str) {
    let path = repo.join(relative);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A repository with the projects `analytics` and `ml`, each deploying from `main` to its own
/// Deployment with DAG deploys on.
async fn monorepo(emulator: &RunningEmulator) -> (tempfile::TempDir, String) {
    let ml_deployment = create_deployment(emulator, "ml-prod").await;
    let repo = tempfile::tempdir().unwrap();
    git(repo.path(), &["init", "-q", "-b", "main"]);
    for project in ["projects/analytics", "projects/ml"] {
        write(
            repo.path(),
            &format!("{project}/Dockerfile"),
            "FROM astro-runtime:12.2.0\n",
        );
        write(repo.path(), &format!("{project}/dags/dag.py"), "# a DAG\n");
        write(
            repo.path(),
            &format!("{project}/include/q.sql"),
            "select 1;\n",
        );
    }
    let config = format!(
        "version: 1
projects:
  - name: analytics
    root: projects/analytics
    targets:
      - branch: main
        deployment-id: {}
  - name: ml
    root: ./projects/ml/
    targets:
      - branch: main
        deployment-name: ml-prod
",
        emulator.info().deployments.dags_enabled
    );
    write(repo.path(), "astro-deploy.yaml", &config);
    let first = commit(repo.path(), "two projects");
    assert!(!ml_deployment.is_empty());
    (repo, first)
}

async fn create_deployment(emulator: &RunningEmulator, name: &str) -> String {
    let info = emulator.info();
    let url = format!(
        "{}/platform/v1beta1/organizations/{}/deployments",
        emulator.base_url(),
        info.organization_id
    );
    let body = serde_json::json!({
        "type": "STANDARD", "name": name, "workspaceId": info.workspace_id,
        "astroRuntimeVersion": "12.2.0", "executor": "CELERY", "isCicdEnforced": false,
        "isDagDeployEnabled": true, "isHighAvailability": false, "schedulerSize": "SMALL",
        "defaultTaskPodCpu": "0.25", "defaultTaskPodMemory": "0.5Gi",
        "resourceQuotaCpu": "10", "resourceQuotaMemory": "20Gi",
        "cloudProvider": "AWS", "region": "us-east-1"
    });
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(&info.api_token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    let created: Value = response.json().await.unwrap();
    created["id"].as_str().unwrap().to_owned()
}

/// Runs the binary in `repo` as a generic CI job would (`CI=true`, no GitHub or GitLab
/// variables), so that the deploy policy lets it deploy from the branch it names.
async fn run(emulator: &RunningEmulator, repo: &Path, args: &[&str]) -> (i32, Value, String) {
    let output = tokio::process::Command::new(BIN)
        .args(args)
        .current_dir(repo)
        .env("ASTRO_API_URL", emulator.base_url())
        .env("ASTRO_API_TOKEN", &emulator.info().api_token)
        .env("CI", "true")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let json = serde_json::from_str(&stdout).unwrap_or(Value::Null);
    (
        output.status.code().unwrap_or(-1),
        json,
        format!("{stdout}\n{stderr}"),
    )
}

async fn start() -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.unwrap()
}

#[tokio::test]
async fn only_changed_projects_deploy_each_with_the_type_its_changes_call_for() {
    let emulator = start().await;
    let (repo, first) = monorepo(&emulator).await;
    write(repo.path(), "projects/analytics/dags/dag.py", "# changed\n");
    let second = commit(repo.path(), "a DAG of analytics");
    let range = ["--branch", "main", "--base", &first, "--head", &second];

    let (code, plan, output) = run(
        &emulator,
        repo.path(),
        &[&["plan", "--output", "json"][..], &range].concat(),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(plan["projects"][0]["project"], "analytics");
    assert_eq!(plan["projects"][0]["deploy-type"], "dags");
    assert_eq!(plan["projects"][1]["project"], "ml");
    assert_eq!(plan["projects"][1]["deploy"], false);
    let reason = plan["projects"][1]["reason"].as_str().unwrap();
    assert!(
        reason.contains("nothing under `projects/ml`") || reason.contains("nothing under"),
        "{reason}"
    );

    let (code, matrix, output) = run(
        &emulator,
        repo.path(),
        &[&["plan", "--matrix"][..], &range].concat(),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(matrix["include"].as_array().unwrap().len(), 1, "{matrix}");
    assert_eq!(matrix["include"][0]["root"], "projects/analytics");

    let (code, deployed, output) = run(
        &emulator,
        repo.path(),
        &[&["deploy", "--all", "--output", "json"][..], &range].concat(),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(
        deployed["projects"][0]["outcome"]["deployType"], "DAG_ONLY",
        "{deployed}"
    );
    assert!(deployed["projects"][1]["skipped"].is_string(), "{deployed}");
    let creates = emulator
        .exchanges()
        .iter()
        .filter(|e| e.method == "POST" && e.path.ends_with("/deploys"))
        .count();
    assert_eq!(creates, 1, "only the changed project deployed");
}

#[tokio::test]
async fn both_projects_deploy_in_parallel_and_files_outside_dags_call_for_a_full_deploy() {
    let emulator = start().await;
    let (repo, first) = monorepo(&emulator).await;
    write(repo.path(), "projects/analytics/dags/dag.py", "# changed\n");
    write(repo.path(), "projects/ml/dags/dag.py", "# changed too\n");
    let second = commit(repo.path(), "DAGs of both");
    let range = ["--branch", "main", "--base", &first, "--head", &second];

    let (code, deployed, output) = run(
        &emulator,
        repo.path(),
        &[
            &[
                "deploy", "--all", "--jobs", "2", "--wait", "--output", "json",
            ][..],
            &range,
        ]
        .concat(),
    )
    .await;
    assert_eq!(code, 0, "{output}");
    for project in 0..2 {
        assert_eq!(
            deployed["projects"][project]["outcome"]["state"], "live",
            "{deployed}"
        );
    }
    assert_eq!(
        deployed["projects"][1]["outcome"]["deploymentName"],
        "ml-prod"
    );

    write(repo.path(), "projects/ml/include/q.sql", "select 2;\n");
    let third = commit(repo.path(), "SQL of ml");
    let (code, plan, output) = run(
        &emulator,
        repo.path(),
        &[
            "plan", "--output", "json", "--branch", "main", "--base", &second, "--head", &third,
        ],
    )
    .await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(plan["projects"][1]["deploy-type"], "image-and-dags");
    assert!(plan["projects"][1]["reason"]
        .as_str()
        .unwrap()
        .contains("projects/ml/include/q.sql"));

    let (code, plan, output) = run(&emulator, repo.path(), &["plan", "--output", "json"]).await;
    assert_eq!(code, 0, "{output}");
    assert_eq!(plan["branch"], "main", "the branch comes from git");
    let reason = plan["projects"][0]["reason"].as_str().unwrap();
    assert!(
        reason.contains("deploying everything"),
        "no range is never an empty deploy: {reason}"
    );
}

#[tokio::test]
async fn a_broken_config_is_named_with_the_fix() {
    let emulator = start().await;
    let (repo, _) = monorepo(&emulator).await;
    write(
        repo.path(),
        "astro-deploy.yaml",
        "version: 1\nprojects:\n  - name: a\n    rot: x\n",
    );

    let (code, _, output) = run(&emulator, repo.path(), &["plan"]).await;

    assert_eq!(code, 3, "{output}");
    assert!(output.contains("unknown field `rot`"), "{output}");
    assert!(output.contains("hint:"), "{output}");
}

#[tokio::test]
async fn in_gitlab_ci_the_pipeline_variables_name_the_commits_to_compare() {
    let emulator = start().await;
    let (repo, first) = monorepo(&emulator).await;
    write(repo.path(), "projects/ml/dags/dag.py", "# changed\n");
    let second = commit(repo.path(), "a DAG of ml");

    let output = tokio::process::Command::new(BIN)
        .args(["plan", "--output", "json"])
        .current_dir(repo.path())
        .env("GITLAB_CI", "true")
        .env("CI", "true")
        .env("CI_PIPELINE_SOURCE", "push")
        .env("CI_COMMIT_SHA", &second)
        .env("CI_COMMIT_BEFORE_SHA", &first)
        .env("CI_COMMIT_REF_NAME", "main")
        .env("CI_COMMIT_BRANCH", "main")
        .env("CI_DEFAULT_BRANCH", "main")
        .env_remove("GITHUB_ACTIONS")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");

    let plan: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(plan["branch"], "main");
    assert_eq!(plan["projects"][0]["deploy"], false, "{plan}");
    assert_eq!(plan["projects"][1]["deploy-type"], "dags", "{plan}");
}

#[tokio::test]
async fn the_gitlab_matrix_is_a_child_pipeline_gitlab_accepts() {
    let emulator = start().await;
    let (repo, first) = monorepo(&emulator).await;
    write(repo.path(), "projects/ml/include/q.sql", "select 3;\n");
    let second = commit(repo.path(), "SQL of ml");

    let output = tokio::process::Command::new(BIN)
        .args([
            "plan", "--matrix", "gitlab", "--branch", "main", "--base", &first, "--head",
        ])
        .arg(&second)
        .current_dir(repo.path())
        .env_remove("CI")
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let child = String::from_utf8(output.stdout).unwrap();
    assert!(
        child.contains("ASTRO_ROOT_FOLDER: \"projects/ml\""),
        "{child}"
    );
    assert!(
        child.contains("ASTRO_DEPLOY_TYPE: \"image-and-dags\""),
        "{child}"
    );
    assert!(
        !child.contains("projects/analytics"),
        "only what changed: {child}"
    );

    let file = repo.path().join("child-pipeline.yml");
    std::fs::write(&file, &child).unwrap();
    let checker = e2e_tests::test_deps_dir().join("venv/bin/check-jsonschema");
    assert!(
        checker.exists(),
        "run scripts/install-test-deps.sh: {} is missing",
        checker.display()
    );
    let checked = Command::new(checker)
        .args(["--builtin-schema", "vendor.gitlab-ci"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );
}

#[tokio::test]
async fn deploy_all_runs_at_most_jobs_deploys_at_once() {
    let emulator = start().await;
    let (repo, mut before) = monorepo(&emulator).await;

    // Each bundle upload waits 1.5 s, so deploys that run together overlap in the store, with
    // room for a slow machine to start the second; the peak of uploads in flight is how many
    // deploys ran at once.
    let mut peaks = Vec::new();
    for (round, jobs) in ["1", "2"].into_iter().enumerate() {
        write(
            repo.path(),
            "projects/analytics/dags/dag.py",
            &format!("# {round}\n"),
        );
        write(
            repo.path(),
            "projects/ml/dags/dag.py",
            &format!("# {round}\n"),
        );
        let after = commit(repo.path(), "DAGs of both");
        emulator.add_fault(
            emulator::Fault::latency(Duration::from_millis(1500))
                .method("PUT")
                .path_contains("/blobs/")
                .times(2),
        );
        let seen = emulator.blob_requests().len();
        let range = ["--branch", "main", "--base", &before, "--head", &after];
        let args = [
            &["deploy", "--all", "--jobs", jobs, "--output", "json"][..],
            &range,
        ]
        .concat();

        let (code, deployed, output) = run(&emulator, repo.path(), &args).await;

        assert_eq!(code, 0, "{output}");
        assert_eq!(
            deployed["projects"].as_array().map(Vec::len),
            Some(2),
            "{deployed}"
        );
        let uploads: Vec<u32> = emulator.blob_requests()[seen..]
            .iter()
            .filter(|r| r.method == "PUT")
            .map(|r| r.in_flight)
            .collect();
        assert_eq!(uploads.len(), 2, "one bundle per project");
        peaks.push(uploads.into_iter().max());
        before = after;
    }

    assert_eq!(
        peaks,
        [Some(1), Some(2)],
        "--jobs 1 deploys one at a time, --jobs 2 both"
    );
}
