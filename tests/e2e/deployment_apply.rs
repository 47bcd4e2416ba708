//! Deployments as code, as a user meets them: `deployment inspect` writes a file that `apply`
//! takes back without a change; a changed setting is one full update that keeps everything
//! else, secret values included; `--dry-run` and a matching file make no changing request; a
//! bad file fails before any request, naming the key; the deploy policy denies before any
//! change.
//!
//! The emulator seeds a development Deployment that enforces CI/CD (`dags-enabled`) and a
//! production-like one without enforcement (`dags-disabled`); each test first gives the
//! Deployment a plain and a secret environment variable.

use std::path::{Path, PathBuf};
use std::time::Duration;

use astro_api::models::EnvironmentVariableRequest;
use astro_api::{ApiToken, Client, ClientConfig, RetryPolicy};
use e2e_tests::cli::{changing_requests, run_cli, CliRun};
use emulator::{EmulatorConfig, Exchange, RunningEmulator};
use serde_json::Value;
use spec_conformance::Spec;

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

/// The stored value of the seeded secret; it must never be printed, and always be kept.
const SECRET: &str = "hunter2-do-not-print";

struct Setup {
    emulator: RunningEmulator,
    /// Holds the emulator's state file (to read secret values, which answers leave out) and
    /// the deployment files.
    folder: tempfile::TempDir,
}

impl Setup {
    async fn start() -> Self {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let config = EmulatorConfig {
            rollout_delay: Duration::from_millis(100),
            state_file: Some(folder.path().join("state.json")),
            ..EmulatorConfig::default()
        };
        let emulator = emulator::start(config).await.expect("the emulator starts");
        Self { emulator, folder }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.folder.path().join(name)
    }

    /// Gives the Deployment `DBT_TARGET=prod` and the secret `WAREHOUSE_PASSWORD`, then forgets
    /// the exchanges, so that a test sees only what astro-deploy sends.
    async fn seed_variables(&self, id: &str) {
        let info = self.emulator.info();
        let client = Client::new(ClientConfig {
            base_url: self.emulator.base_url().to_owned(),
            token: ApiToken::new(info.api_token.clone()).expect("a valid token"),
            organization_id: Some(info.organization_id.clone()),
            retry: RetryPolicy::none(),
            timeout: Duration::from_secs(10),
        })
        .expect("the client builds");
        let deployment = client.get_deployment(id).await.expect("the Deployment");
        let variable = |key: &str, is_secret, value: &str| EnvironmentVariableRequest {
            key: key.to_owned(),
            is_secret,
            value: Some(value.to_owned()),
        };
        let request = deploy::deployment_body::update_request(&deployment, |body| {
            body.environment_variables = Some(vec![
                variable("DBT_TARGET", false, "prod"),
                variable("WAREHOUSE_PASSWORD", true, SECRET),
            ]);
        })
        .expect("an update body");
        client
            .update_deployment(id, &request)
            .await
            .expect("the variables are set");
        assert_eq!(self.secret_values(id)["WAREHOUSE_PASSWORD"], SECRET);
        self.emulator.clear_exchanges();
    }

    /// The secret values the emulator keeps for the Deployment, from its state file.
    fn secret_values(&self, id: &str) -> Value {
        let text = std::fs::read_to_string(self.path("state.json")).expect("the state file");
        let state: Value = serde_json::from_str(&text).expect("the state is JSON");
        let records = state["deployments"].as_array().expect("deployments");
        let record = records
            .iter()
            .find(|record| record["deployment"]["id"] == id)
            .expect("the Deployment's record");
        record["secretValues"].clone()
    }

    async fn get_deployment(&self, id: &str) -> Value {
        e2e_tests::cli::get_deployment(&self.emulator, id).await
    }

    /// `deployment inspect` of `id`, written to `name` in the folder.
    async fn inspect_to(&self, id: &str, name: &str) -> PathBuf {
        let inspected = run(
            &self.emulator,
            &[],
            &["deployment", "inspect", "--deployment-id", id],
        )
        .await;
        assert_eq!(inspected.code, 0, "{}", inspected.stderr);
        let path = self.path(name);
        std::fs::write(&path, &inspected.stdout).unwrap();
        path
    }
}

/// Runs the binary as the emulator's token, with only `env` besides PATH.
async fn run(emulator: &RunningEmulator, env: &[(&str, &str)], args: &[&str]) -> CliRun {
    let token = emulator.info().api_token.clone();
    run_cli(Path::new(BIN), emulator, &token, env, args).await
}

fn apply_args<'a>(file: &'a Path, id: &'a str) -> Vec<&'a str> {
    vec![
        "deployment",
        "apply",
        "--file",
        file.to_str().unwrap(),
        "--deployment-id",
        id,
    ]
}

/// Replaces `from` by `to` in the file, once; the edit must find its text.
fn edit(path: &Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert_eq!(text.matches(from).count(), 1, "`{from}` in:\n{text}");
    std::fs::write(path, text.replace(from, to)).unwrap();
}

#[tokio::test]
async fn an_inspected_file_applies_back_without_a_changing_request() {
    let setup = Setup::start().await;
    let id = setup.emulator.info().deployments.dags_enabled.clone();
    setup.seed_variables(&id).await;

    let file = setup.inspect_to(&id, "dags-enabled.yaml").await;
    let yaml = std::fs::read_to_string(&file).unwrap();
    assert!(
        yaml.starts_with("version: 1\ndeployment:\n  name: dags-enabled\n"),
        "{yaml}"
    );
    assert!(yaml.contains("  cicd-enforced: true\n"), "{yaml}");
    assert!(yaml.contains("max-workers: 10"), "{yaml}");
    assert!(
        yaml.contains("- key: DBT_TARGET\n    value: prod\n"),
        "{yaml}"
    );
    assert!(
        yaml.contains("- key: WAREHOUSE_PASSWORD\n    secret: true\n"),
        "{yaml}"
    );
    assert!(
        !yaml.contains(SECRET),
        "a secret value was printed:\n{yaml}"
    );

    let json = run(
        &setup.emulator,
        &[],
        &[
            "deployment",
            "inspect",
            "--deployment-name",
            "dags-enabled",
            "--output",
            "json",
        ],
    )
    .await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let out = json.json();
    assert_eq!(out["version"], 1);
    let variables = &out["deployment"]["environment-variables"];
    assert_eq!(
        variables[1],
        serde_json::json!({ "key": "WAREHOUSE_PASSWORD", "secret": true })
    );

    let applied = run(&setup.emulator, &[("CI", "true")], &apply_args(&file, &id)).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    assert!(
        applied.stdout.contains("already matches") && applied.stdout.contains("nothing to change"),
        "{}",
        applied.stdout
    );
    assert_eq!(
        changing_requests(&setup.emulator.exchanges()),
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn a_changed_setting_is_one_update_that_keeps_the_rest_and_the_secret() {
    let setup = Setup::start().await;
    let id = setup.emulator.info().deployments.dags_disabled.clone();
    setup.seed_variables(&id).await;
    let before = setup.get_deployment(&id).await;

    let file = setup.inspect_to(&id, "dags-disabled.yaml").await;
    edit(&file, "max-workers: 10", "max-workers: 3");
    edit(&file, "cicd-enforced: false", "cicd-enforced: true");
    edit(&file, "value: prod", "value: staging");

    // A production-like Deployment: from CI, for the default branch.
    let mut args = apply_args(&file, &id);
    args.extend(["--branch", "main"]);
    let applied = run(&setup.emulator, &[("CI", "true")], &args).await;
    assert_eq!(applied.code, 0, "{}", applied.stderr);
    let lines: Vec<&str> = applied.stdout.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "  cicd-enforced: false -> true",
            "  worker-queues.default.max-workers: 10 -> 3",
            "  environment-variables.DBT_TARGET: `prod` -> `staging`",
            "Applied in one update.",
        ],
        "{}",
        applied.stdout
    );
    assert!(lines[0].contains("3 changes from"), "{}", applied.stdout);
    assert!(!applied.stdout.contains(SECRET) && !applied.stderr.contains(SECRET));

    let exchanges = setup.emulator.exchanges();
    let updates: Vec<&Exchange> = exchanges.iter().filter(|e| e.method != "GET").collect();
    assert_eq!(
        changing_requests(&exchanges),
        [format!("POST {}", before_path(&setup, &id))]
    );
    let update = updates[0];
    assert_eq!(update.status, 200);
    let violations = Spec::platform().check_request(
        &update.method,
        &update.path,
        &update.query,
        update.request_body.as_ref(),
    );
    assert!(
        violations.is_empty(),
        "the update departs from the spec: {violations:?}"
    );
    let sent = update.request_body.as_ref().unwrap();
    assert_eq!(
        sent["environmentVariables"][1],
        serde_json::json!({ "key": "WAREHOUSE_PASSWORD", "isSecret": true }),
        "the secret goes without a value"
    );

    let after = setup.get_deployment(&id).await;
    assert_eq!(after["isCicdEnforced"], true);
    assert_eq!(after["workerQueues"][0]["maxWorkerCount"], 3);
    assert_eq!(
        after["workerQueues"][0]["id"],
        before["workerQueues"][0]["id"]
    );
    assert_eq!(after["environmentVariables"][0]["value"], "staging");
    for key in [
        "name",
        "description",
        "executor",
        "schedulerSize",
        "isDagDeployEnabled",
        "isHighAvailability",
        "isDevelopmentMode",
        "defaultTaskPodCpu",
        "defaultTaskPodMemory",
        "resourceQuotaCpu",
        "resourceQuotaMemory",
        "contactEmails",
        "runtimeVersion",
    ] {
        assert_eq!(before[key], after[key], "{key} changed");
    }
    assert_eq!(
        setup.secret_values(&id)["WAREHOUSE_PASSWORD"],
        SECRET,
        "the stored secret value is kept"
    );

    // Applying the same file again finds nothing to change.
    setup.emulator.clear_exchanges();
    let again = run(&setup.emulator, &[("CI", "true")], &args).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(
        again.stdout.contains("nothing to change"),
        "{}",
        again.stdout
    );
    assert_eq!(
        changing_requests(&setup.emulator.exchanges()),
        Vec::<String>::new()
    );
}

fn before_path(setup: &Setup, id: &str) -> String {
    format!(
        "/platform/v1beta1/organizations/{}/deployments/{id}",
        setup.emulator.info().organization_id
    )
}

#[tokio::test]
async fn a_dry_run_shows_the_changes_and_changes_nothing() {
    let setup = Setup::start().await;
    let id = setup.emulator.info().deployments.dags_enabled.clone();
    setup.seed_variables(&id).await;
    let before = setup.get_deployment(&id).await;

    let file = setup.path("partial.yaml");
    std::fs::write(
        &file,
        "version: 1\ndeployment:\n  scheduler-size: MEDIUM\n  default-task-pod-cpu: 0.5\n",
    )
    .unwrap();
    let mut args = apply_args(&file, &id);
    args.extend(["--dry-run", "--output", "json"]);
    let shown = run(&setup.emulator, &[("CI", "true")], &args).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    let out = shown.json();
    assert_eq!(out["dryRun"], true);
    assert_eq!(out["changed"], false);
    assert_eq!(
        out["changes"],
        serde_json::json!([
            { "field": "scheduler-size", "before": "SMALL", "after": "MEDIUM" },
            { "field": "default-task-pod-cpu", "before": "0.25", "after": "0.5" },
        ])
    );
    assert_eq!(
        changing_requests(&setup.emulator.exchanges()),
        Vec::<String>::new()
    );
    assert_eq!(setup.get_deployment(&id).await, before);
}

#[tokio::test]
async fn a_bad_file_fails_before_any_request_naming_the_key_and_the_fix() {
    let setup = Setup::start().await;
    let id = setup.emulator.info().deployments.dags_enabled.clone();

    let file = setup.path("typo.yaml");
    std::fs::write(
        &file,
        "version: 1\ndeployment:\n  cicd-enforced: true\n  max-worker: 3\n",
    )
    .unwrap();
    let typo = run(&setup.emulator, &[("CI", "true")], &apply_args(&file, &id)).await;
    assert_eq!(typo.code, 3, "{}", typo.stderr);
    assert!(
        typo.stderr
            .contains("typo.yaml` is not a valid deployment file"),
        "{}",
        typo.stderr
    );
    assert!(
        typo.stderr.contains("unknown field `max-worker`"),
        "{}",
        typo.stderr
    );
    assert!(typo.stderr.contains("at line 4"), "{}", typo.stderr);
    assert!(
        typo.stderr
            .contains("hint: remove the key or fix its spelling"),
        "{}",
        typo.stderr
    );

    std::fs::write(&file, "version: 1\ndeployment:\n  worker-queues: 3\n").unwrap();
    let wrong = run(&setup.emulator, &[("CI", "true")], &apply_args(&file, &id)).await;
    assert_eq!(wrong.code, 3, "{}", wrong.stderr);
    assert!(
        wrong.stderr.contains("worker-queues: invalid type"),
        "{}",
        wrong.stderr
    );

    std::fs::write(&file, "version: 2\ndeployment: {}\n").unwrap();
    let version = run(&setup.emulator, &[("CI", "true")], &apply_args(&file, &id)).await;
    assert_eq!(version.code, 3, "{}", version.stderr);
    assert!(
        version.stderr.contains("`version: 2` is not supported")
            && version.stderr.contains("hint: write `version: 1`"),
        "{}",
        version.stderr
    );

    assert!(
        setup.emulator.exchanges().is_empty(),
        "a bad file sends no request at all"
    );
}

#[tokio::test]
async fn a_policy_denied_apply_exits_10_before_any_change() {
    let setup = Setup::start().await;
    let production = setup.emulator.info().deployments.dags_disabled.clone();
    setup.seed_variables(&production).await;

    let file = setup.inspect_to(&production, "dags-disabled.yaml").await;
    edit(&file, "cicd-enforced: false", "cicd-enforced: true");

    // From a person's machine: a production-like Deployment takes changes only from CI.
    let mut args = apply_args(&file, &production);
    args.extend(["--allow-local", "--branch", "main"]);
    let denied = run(&setup.emulator, &[], &args).await;
    assert_eq!(denied.code, 10, "{}", denied.stderr);
    assert!(
        denied
            .stderr
            .contains("error: the deploy policy denies this run for Deployment `dags-disabled`"),
        "{}",
        denied.stderr
    );
    assert!(
        denied.stderr.contains("hint: ci-only: deploy from CI"),
        "{}",
        denied.stderr
    );
    assert_eq!(
        changing_requests(&setup.emulator.exchanges()),
        Vec::<String>::new()
    );

    // The same change from CI, for a branch the policy does not allow.
    let mut args = apply_args(&file, &production);
    args.extend(["--branch", "feature/x", "--output", "json"]);
    let branch = run(&setup.emulator, &[("CI", "true")], &args).await;
    assert_eq!(branch.code, 10, "{}", branch.stderr);
    assert_eq!(branch.json()["error"]["exitCode"], 10);
    assert_eq!(
        changing_requests(&setup.emulator.exchanges()),
        Vec::<String>::new()
    );
    assert_eq!(
        setup.get_deployment(&production).await["isCicdEnforced"],
        false
    );
}

#[tokio::test]
async fn inspect_into_a_closed_pipe_ends_quietly() {
    let setup = Setup::start().await;
    let emulator = &setup.emulator;
    let id = emulator.info().deployments.dags_enabled.clone();
    let mut child = tokio::process::Command::new(BIN)
        .args(["deployment", "inspect", "--deployment-id", &id])
        .env("ASTRO_API_URL", emulator.base_url())
        .env("ASTRO_API_TOKEN", &emulator.info().api_token)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("astro-deploy runs");
    // The reader goes away before the first line is written, as `| head -0` would.
    drop(child.stdout.take());

    let output = child.wait_with_output().await.expect("astro-deploy ends");

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
