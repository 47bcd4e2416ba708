//! `astro-deploy deploy` end to end: the real binary against the emulator, checked the way a
//! user would check it (exit code, stdout, stderr) and by what the emulator received.
//!
//! Every run also asserts that the API token appears in neither stdout nor stderr.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::Duration;

use emulator::{EmulatorConfig, Exchange, Fault, RunningEmulator};
use serde_json::Value;
use sha2::{Digest, Sha256};

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

fn example_project() -> PathBuf {
    e2e_tests::repo_root().join("examples/astro-project")
}

async fn emulator() -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.expect("the emulator starts")
}

/// What a run of the binary showed.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs the binary as a generic CI job runs it (`CI=true`, nothing else of the machine's
/// environment): the deploy policy's safe defaults let CI deploy to the emulator's development
/// Deployment, and to its production-like one from `main` (`--branch main`).
async fn run_with_token(emulator: &RunningEmulator, token: &str, args: &[&str]) -> Run {
    let output: Output = tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CI", "true")
        .env("ASTRO_API_URL", emulator.base_url())
        .env("ASTRO_API_TOKEN", token)
        .output()
        .await
        .expect("astro-deploy runs");
    let run = Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    };
    assert!(
        !run.stdout.contains(token) && !run.stderr.contains(token),
        "the token leaked into the output"
    );
    run
}

async fn run(emulator: &RunningEmulator, args: &[&str]) -> Run {
    run_with_token(emulator, &emulator.info().api_token, args).await
}

/// Runs `astro-deploy deploy` on `project` to Deployment `id` with the emulator's API token.
async fn deploy(emulator: &RunningEmulator, id: &str, project: &Path, extra: &[&str]) -> Run {
    let mut args = vec![
        "deploy",
        "--deployment-id",
        id,
        "--project",
        project.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(emulator, &args).await
}

fn changing_requests(exchanges: &[Exchange]) -> Vec<String> {
    exchanges
        .iter()
        .filter(|e| e.method != "GET")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect()
}

/// Extracts a bundle with the system's `tar`, independently of the code that wrote it.
fn extract(bundle: &[u8]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("bundle.tar.gz");
    std::fs::write(&archive, bundle).unwrap();
    let status = std::process::Command::new("tar")
        .args(["-xzf", "bundle.tar.gz"])
        .current_dir(dir.path())
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::remove_file(archive).unwrap();
    dir
}

fn files_under(root: &Path) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(
                    path.strip_prefix(root)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    files.sort();
    files
}

#[tokio::test]
async fn deploying_the_example_ships_exactly_its_dags_folder_and_waits_until_live() {
    let emulator = emulator().await;
    let project = example_project();
    let id = emulator.info().deployments.dags_enabled.clone();

    let run = deploy(&emulator, &id, &project, &["--wait", "--output", "json"]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let out = run.json();
    assert_eq!(out["deploymentId"], id);
    assert_eq!(out["deployType"], "DAG_ONLY");
    assert_eq!(out["state"], "live");
    assert_eq!(out["deploymentStatus"], "HEALTHY");
    assert_eq!(out["dryRun"], false);
    let deploy_id = out["deployId"].as_str().unwrap();
    let version = out["bundleVersion"].as_str().unwrap();
    assert!(!version.is_empty());

    let bundle = emulator
        .blob(deploy_id)
        .expect("the emulator holds the bundle");
    let sha: String = Sha256::digest(&bundle)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(out["bundle"]["sha256"], sha);
    assert_eq!(out["bundle"]["bytes"], bundle.len() as u64);

    let extracted = extract(&bundle);
    let expected = files_under(&project.join("dags"));
    let shipped = files_under(&extracted.path().join("dags"));
    assert_eq!(shipped, expected);
    assert_eq!(
        files_under(extracted.path()).len(),
        expected.len(),
        "only dags/ is shipped"
    );
    assert_eq!(out["bundle"]["files"], expected.len() as u64);
    for file in &expected {
        let original = std::fs::read(project.join("dags").join(file)).unwrap();
        let deployed = std::fs::read(extracted.path().join("dags").join(file)).unwrap();
        assert!(original == deployed, "{file} differs");
    }
}

#[tokio::test]
async fn the_text_report_names_the_deployment_deploy_and_bundle() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();

    let run = deploy(&emulator, &id, &project, &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    assert!(
        run.stdout.starts_with("Deployed dags/ to `"),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("({id})")));
    assert!(run.stdout.contains("(DAG_ONLY)"));
    assert!(run.stdout.contains("finalized; Astro is rolling it out"));
    assert!(
        run.stderr.contains("uploaded; bundle version"),
        "{}",
        run.stderr
    );
}

#[tokio::test]
async fn a_dry_run_shows_the_plan_and_changes_nothing() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();

    let run = deploy(&emulator, &id, &project, &["--dry-run", "--output", "json"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let plan = run.json();
    assert_eq!(plan["dryRun"], true);
    assert_eq!(plan["deployType"], "DAG_ONLY");
    assert!(plan["bundle"]["sha256"].as_str().unwrap().len() == 64);
    assert_eq!(
        changing_requests(&emulator.exchanges()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_deployment_can_be_named_instead_of_identified() {
    let emulator = emulator().await;
    let project = example_project();
    let id = emulator.info().deployments.dags_enabled.clone();
    let name = get_deployment(&emulator, &id).await["name"]
        .as_str()
        .unwrap()
        .to_owned();

    let ok = run(
        &emulator,
        &[
            "deploy",
            "--deployment-name",
            &name,
            "--project",
            project.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(ok.code, 0, "{}", ok.stderr);
    assert_eq!(ok.json()["deploymentId"], id);

    let unknown = run(
        &emulator,
        &[
            "deploy",
            "--deployment-name",
            "no-such-deployment",
            "--project",
            project.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(unknown.code, 5, "{}", unknown.stderr);
    assert!(unknown
        .stderr
        .contains("error: no Deployment is named `no-such-deployment`"));
    assert!(unknown
        .stderr
        .contains("hint: Deployments this token can see: "));
    assert!(unknown.stderr.contains(&name));
}

#[tokio::test]
async fn a_malformed_token_is_refused_before_any_request() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();

    let run = run_with_token(
        &emulator,
        "not-a-jwt",
        &[
            "deploy",
            "--deployment-id",
            &id,
            "--project",
            project.to_str().unwrap(),
        ],
    )
    .await;

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(run
        .stderr
        .contains("error: the API token is not a valid Astro token"));
    assert!(run.stderr.contains("hint: "));
    assert!(emulator.exchanges().is_empty());
}

#[tokio::test]
async fn an_expired_token_is_refused_before_any_change() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();
    let org = emulator.info().organization_id.clone();
    let expired = emulator.mint_token(Some(vec![format!("organizationId:{org}")]), Duration::ZERO);
    tokio::time::sleep(Duration::from_millis(1100)).await;

    let run = run_with_token(
        &emulator,
        &expired,
        &[
            "deploy",
            "--deployment-id",
            &id,
            "--project",
            project.to_str().unwrap(),
        ],
    )
    .await;

    assert_eq!(run.code, 4, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: the API token expired at"),
        "{}",
        run.stderr
    );
    assert_eq!(
        changing_requests(&emulator.exchanges()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_project_without_dags_is_refused_and_nothing_changes() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let empty = tempfile::tempdir().unwrap();

    let run = run(
        &emulator,
        &[
            "deploy",
            "--deployment-id",
            &id,
            "--project",
            empty.path().to_str().unwrap(),
        ],
    )
    .await;

    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("has no `dags/` folder"),
        "{}",
        run.stderr
    );
    assert!(run
        .stderr
        .contains("hint: point --project at the root of an Astro project"));
    assert!(emulator.exchanges().is_empty());
}

#[tokio::test]
async fn an_unknown_deployment_is_named_with_a_hint_and_nothing_changes() {
    let emulator = emulator().await;
    let project = example_project();

    let run = run(
        &emulator,
        &[
            "deploy",
            "--deployment-id",
            "clnosuchdeployment0000000",
            "--project",
            project.to_str().unwrap(),
            "--output",
            "json",
        ],
    )
    .await;

    assert_eq!(run.code, 5, "{}", run.stderr);
    assert!(run
        .stderr
        .contains("error: getting Deployment `clnosuchdeployment0000000`"));
    assert!(run.stderr.contains("404"));
    assert!(
        run.stderr.contains("hint: check the Deployment id"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["error"]["exitCode"], 5);
    assert_eq!(
        changing_requests(&emulator.exchanges()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_deployment_without_dag_deploys_is_refused_before_any_change() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_disabled.clone();
    let project = example_project();

    // From `main`, so that the policy lets CI deploy to this production-like Deployment.
    let run = deploy(&emulator, &id, &project, &["--branch", "main"]).await;

    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr.contains("DAG deploys are disabled"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("hint: enable DAG deploys"));
    assert_eq!(
        changing_requests(&emulator.exchanges()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_personal_token_in_ci_is_denied_by_the_policy_before_any_change() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();
    let user_token = emulator.info().user_token.clone();

    let run = run_with_token(
        &emulator,
        &user_token,
        &[
            "deploy",
            "--deployment-id",
            &id,
            "--project",
            project.to_str().unwrap(),
        ],
    )
    .await;

    assert_eq!(run.code, 10, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("token-scope (a personal session token, not an API token)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: token-scope: create an API token"),
        "{}",
        run.stderr
    );
    assert_eq!(
        changing_requests(&emulator.exchanges()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn wake_wakes_a_hibernating_deployment_and_gives_the_schedule_back() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();
    emulator.hibernate(&id).unwrap();

    let run = deploy(&emulator, &id, &project, &["--wake", "--output", "json"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.json();
    assert_eq!(out["woke"], true);
    assert_eq!(out["state"], "live");
    let overrides: Vec<String> = changing_requests(&emulator.exchanges())
        .into_iter()
        .filter(|r| r.ends_with("/hibernation-override"))
        .collect();
    assert_eq!(overrides.len(), 2, "{overrides:?}");
    assert!(overrides[0].starts_with("POST") && overrides[1].starts_with("DELETE"));
    assert_eq!(
        get_deployment(&emulator, &id).await["status"],
        "HIBERNATING"
    );

    // The override ends by itself too, so a job killed mid-deploy cannot keep it awake.
    let wake = emulator
        .exchanges()
        .into_iter()
        .find(|e| e.method == "POST" && e.path.ends_with("/hibernation-override"))
        .unwrap();
    let body = wake.request_body.unwrap();
    assert_eq!(body["isHibernating"], false);
    assert!(
        body["overrideUntil"]
            .as_str()
            .is_some_and(|t| t.starts_with("20")),
        "{body}"
    );
}

#[tokio::test]
async fn wake_gives_the_schedule_back_when_the_deploy_fails() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();
    emulator.hibernate(&id).unwrap();
    emulator.add_fault(fault(
        r#"{"method": "POST", "pathContains": "/finalize",
        "kind": "status", "status": 500, "times": 1}"#,
    ));

    let run = deploy(&emulator, &id, &project, &["--wake"]).await;

    assert_eq!(run.code, 8, "{}", run.stderr);
    let requests = changing_requests(&emulator.exchanges());
    assert_eq!(
        requests.iter().filter(|r| r.ends_with("/finalize")).count(),
        1,
        "not repeated"
    );
    assert!(
        requests.last().unwrap().starts_with("DELETE"),
        "{requests:?}"
    );
    assert!(run.stderr.contains("gave Deployment"), "{}", run.stderr);
    assert_eq!(
        get_deployment(&emulator, &id).await["status"],
        "HIBERNATING"
    );
}

#[tokio::test]
async fn reads_and_rate_limits_are_retried_but_a_create_is_never_repeated() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();
    let args = [
        "deploy",
        "--deployment-id",
        &id,
        "--project",
        project.to_str().unwrap(),
    ];

    emulator.add_fault(fault(
        r#"{"method": "GET", "pathContains": "/deployments/",
        "kind": "status", "status": 503, "times": 2}"#,
    ));
    emulator.add_fault(fault(
        r#"{"method": "GET", "pathContains": "/deployments/", "kind": "drop", "times": 1}"#,
    ));
    emulator.add_fault(fault(
        r#"{"method": "POST", "pathContains": "/deploys",
        "kind": "status", "status": 429, "retryAfter": 1, "times": 1}"#,
    ));
    let retried = run(&emulator, &args).await;
    assert_eq!(retried.code, 0, "{}", retried.stderr);
    assert!(retried.stderr.contains("retrying"), "{}", retried.stderr);

    emulator.clear_exchanges();
    emulator.add_fault(fault(
        r#"{"method": "POST", "pathContains": "/deploys",
        "kind": "status", "status": 502, "times": 1}"#,
    ));
    let failed = run(&emulator, &args).await;
    assert_eq!(failed.code, 8, "{}", failed.stderr);
    assert!(failed.stderr.contains("502"), "{}", failed.stderr);
    assert_eq!(
        changing_requests(&emulator.exchanges()).len(),
        1,
        "the create was not repeated"
    );
}

#[tokio::test]
async fn a_large_project_is_uploaded_in_blocks_and_arrives_whole() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = tempfile::tempdir().unwrap();
    let dags = project.path().join("dags");
    std::fs::create_dir_all(dags.join("data")).unwrap();
    let mut state: u64 = 7;
    for n in 0..3 {
        let bytes: Vec<u8> = (0..1_500_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 33) as u8
            })
            .collect();
        std::fs::write(dags.join(format!("data/blob{n}.bin")), bytes).unwrap();
    }
    std::fs::write(dags.join("dag.py"), "# a DAG\n").unwrap();

    let run = run(
        &emulator,
        &[
            "deploy",
            "--deployment-id",
            &id,
            "--project",
            project.path().to_str().unwrap(),
            "--wait",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}", run.stderr);

    let out = run.json();
    assert!(out["bundle"]["bytes"].as_u64().unwrap() > 4 * 1024 * 1024);
    let bundle = emulator.blob(out["deployId"].as_str().unwrap()).unwrap();
    let extracted = extract(&bundle);
    for n in 0..3 {
        let name = format!("dags/data/blob{n}.bin");
        assert!(
            std::fs::read(extracted.path().join(&name)).unwrap()
                == std::fs::read(project.path().join(&name)).unwrap()
        );
    }
}

fn fault(json: &str) -> Fault {
    serde_json::from_str(json).expect("a valid fault")
}

async fn get_deployment(emulator: &RunningEmulator, id: &str) -> Value {
    let url = format!(
        "{}/platform/v1beta1/organizations/{}/deployments/{id}",
        emulator.base_url(),
        emulator.info().organization_id
    );
    reqwest::Client::new()
        .get(url)
        .bearer_auth(&emulator.info().api_token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn waiting_on_a_hibernating_deployment_ends_pending_wake_with_a_warning() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();
    emulator.hibernate(&id).unwrap();

    let run = deploy(&emulator, &id, &project, &["--wait", "--output", "json"]).await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = run.json();
    assert_eq!(out["state"], "pending-wake");
    assert_eq!(out["woke"], false);
    assert!(
        out["warnings"][0].as_str().unwrap().contains("add --wake"),
        "{out}"
    );
    assert!(run.stderr.contains("WARN"), "{}", run.stderr);
}

#[tokio::test]
async fn a_deployment_that_does_not_roll_out_in_time_exits_not_healthy() {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_secs(600),
        ..EmulatorConfig::default()
    };
    let emulator = emulator::start(config).await.unwrap();
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();

    let run = deploy(
        &emulator,
        &id,
        &project,
        &["--wait", "--wait-timeout", "2s"],
    )
    .await;

    assert_eq!(run.code, 7, "{}", run.stderr);
    assert!(
        run.stderr.contains("did not run the new bundle within"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("it is DEPLOYING"), "{}", run.stderr);
    assert!(run.stderr.contains("will still roll out"));
    assert!(run.stderr.contains("hint: raise --wait-timeout"));
}

#[tokio::test]
async fn a_deploy_can_be_driven_entirely_by_astro_environment_variables() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();

    // What a generic container entrypoint gets: no flags, only ASTRO_* variables.
    let output = tokio::process::Command::new(BIN)
        .args(["deploy", "--output", "json"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CI", "true")
        .env("ASTRO_API_URL", emulator.base_url())
        .env("ASTRO_API_TOKEN", &emulator.info().api_token)
        .env("ASTRO_DEPLOYMENT_ID", &id)
        .env("ASTRO_ROOT_FOLDER", example_project())
        .env("ASTRO_DEPLOY_TYPE", "dags")
        .env("ASTRO_WAIT", "true")
        .env("ASTRO_DESCRIPTION", "from the environment")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let out: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(out["deploymentId"], id);
    assert_eq!(out["state"], "live");
    let create = emulator
        .exchanges()
        .into_iter()
        .find(|e| e.method == "POST" && e.path.ends_with("/deploys"))
        .unwrap();
    assert_eq!(
        create.request_body.unwrap()["description"],
        "from the environment"
    );
}

/// The parts of a SAS query string: any of them in the output would be part of a credential.
const SAS_FIELDS: [&str; 5] = ["sig=", "sv=", "se=", "sp=", "sr="];

#[tokio::test]
async fn an_upload_that_never_gets_through_fails_unavailable_without_its_signature() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();
    emulator.add_fault(fault(
        r#"{"method": "PUT", "pathContains": "/blobs/", "kind": "drop", "times": 1000}"#,
    ));

    let run = deploy(&emulator, &id, &project, &["--output", "json"]).await;

    assert_eq!(run.code, 8, "{}", run.stderr);
    assert!(
        run.stderr.contains("error: uploading the DAG bundle"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("<sas redacted>"), "{}", run.stderr);
    assert_eq!(run.json()["error"]["exitCode"], 8);
    for field in SAS_FIELDS {
        assert!(
            !run.stderr.contains(field) && !run.stdout.contains(field),
            "`{field}` leaked:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    let cut = emulator
        .blob_requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.status == 0)
        .count();
    // The CLI's retry policy allows 5 attempts in all; the error names how many were made.
    assert_eq!(cut, 5, "every attempt was cut, and no more were made");
    assert!(run.stderr.contains("(5 attempts)"), "{}", run.stderr);
}

/// Adds a workspace to the emulator's organization with one Deployment like `dags-enabled`
/// named `name`, and answers the new workspace's and Deployment's ids.
async fn add_workspace_with_deployment(emulator: &RunningEmulator, name: &str) -> (String, String) {
    let body = serde_json::json!({
        "name": "Second Workspace",
        "deployments": [{ "name": name, "dagDeploys": true }],
    });
    let response = reqwest::Client::new()
        .post(format!("{}/emulator/workspaces", emulator.base_url()))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let workspace = created["id"].as_str().unwrap().to_owned();
    let deployment = created["deployments"][0]["id"].as_str().unwrap().to_owned();
    (workspace, deployment)
}

#[tokio::test]
async fn a_name_used_in_two_workspaces_needs_the_workspace_id() {
    let emulator = emulator().await;
    let project = example_project();
    let seeded = emulator.info().deployments.dags_enabled.clone();
    let first_workspace = emulator.info().workspace_id.clone();
    let name = get_deployment(&emulator, &seeded).await["name"]
        .as_str()
        .unwrap()
        .to_owned();
    let (second_workspace, twin) = add_workspace_with_deployment(&emulator, &name).await;
    let by_name = [
        "deploy",
        "--deployment-name",
        &name,
        "--project",
        project.to_str().unwrap(),
        "--output",
        "json",
    ];

    let ambiguous = run(&emulator, &by_name).await;

    assert_eq!(ambiguous.code, 5, "{}", ambiguous.stderr);
    assert!(
        ambiguous
            .stderr
            .contains(&format!("error: 2 Deployments are named `{name}`")),
        "{}",
        ambiguous.stderr
    );
    assert!(ambiguous.stderr.contains(&first_workspace));
    assert!(ambiguous.stderr.contains(&second_workspace));
    assert!(
        ambiguous.stderr.contains("hint: add --workspace-id"),
        "{}",
        ambiguous.stderr
    );
    assert_eq!(ambiguous.json()["error"]["exitCode"], 5);
    assert_eq!(
        changing_requests(&emulator.exchanges()),
        Vec::<String>::new()
    );

    let mut in_second = by_name.to_vec();
    in_second.extend(["--workspace-id", &second_workspace]);
    let resolved = run(&emulator, &in_second).await;

    assert_eq!(resolved.code, 0, "{}", resolved.stderr);
    assert_eq!(resolved.json()["deploymentId"], twin);
    assert!(emulator
        .blob(resolved.json()["deployId"].as_str().unwrap())
        .is_some());
    let deploys: Vec<String> = changing_requests(&emulator.exchanges())
        .into_iter()
        .filter(|r| r.starts_with("POST") && r.ends_with("/deploys"))
        .collect();
    assert_eq!(deploys.len(), 1, "{deploys:?}");
    assert!(deploys[0].contains(&twin), "{deploys:?}");
}

#[tokio::test]
async fn an_upload_answered_without_a_version_is_never_finalized() {
    let emulator = emulator().await;
    let id = emulator.info().deployments.dags_enabled.clone();
    let project = example_project();
    emulator.add_fault(fault(
        r#"{"method": "PUT", "pathContains": "/blobs/",
        "kind": "omitHeader", "header": "x-ms-version-id", "times": 1}"#,
    ));

    let run = deploy(&emulator, &id, &project, &["--output", "json"]).await;

    assert_eq!(run.code, 8, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("error: the upload store returned no bundle version (`x-ms-version-id`)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("hint: the upload URL points at storage without blob versioning"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["error"]["exitCode"], 8);
    let uploads = emulator.blob_requests();
    assert_eq!(uploads.len(), 1, "uploaded once: {uploads:?}");
    assert!(uploads[0].fault && uploads[0].status == 201, "{uploads:?}");
    let finalizes: Vec<String> = changing_requests(&emulator.exchanges())
        .into_iter()
        .filter(|r| r.ends_with("/finalize"))
        .collect();
    assert_eq!(finalizes, Vec::<String>::new());
}
