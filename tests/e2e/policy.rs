//! The deploy policy as a user meets it: a denied deploy that changes nothing and says which
//! rule failed and how to fix it, `policy check` in text and JSON, a config that opens what
//! the defaults close, and `policy enforce` turning CI/CD enforcement on exactly once.
//!
//! The emulator seeds a development Deployment that enforces CI/CD (`dags-enabled`) and a
//! production-like one without enforcement (`dags-disabled`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use e2e_tests::cli::{changing_requests, get_deployment, run_cli, CliRun};
use emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

async fn emulator() -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.expect("the emulator starts")
}

fn example_project() -> PathBuf {
    e2e_tests::repo_root().join("examples/astro-project")
}

/// Runs the binary as the emulator's token, with only `env` besides PATH: `CI=true` for a
/// generic CI job, nothing for a person's machine.
async fn run(emulator: &RunningEmulator, env: &[(&str, &str)], args: &[&str]) -> CliRun {
    run_with_token(emulator, &emulator.info().api_token, env, args).await
}

async fn run_with_token(
    emulator: &RunningEmulator,
    token: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> CliRun {
    run_cli(Path::new(BIN), emulator, token, env, args).await
}

fn deploy_args<'a>(id: &'a str, project: &'a Path) -> Vec<&'a str> {
    vec![
        "deploy",
        "--deployment-id",
        id,
        "--project",
        project.to_str().unwrap(),
    ]
}

#[tokio::test]
async fn a_local_deploy_is_denied_before_any_change_with_the_rule_and_the_fix() {
    let emulator = emulator().await;
    let project = example_project();
    let enforced = emulator.info().deployments.dags_enabled.clone();
    let production = emulator.info().deployments.dags_disabled.clone();

    // Without --allow-local.
    let mut args = deploy_args(&enforced, &project);
    let denied = run(&emulator, &[], &args).await;
    assert_eq!(denied.code, 10, "{}", denied.stderr);
    assert!(denied
        .stderr
        .contains("error: the deploy policy denies this run"));
    assert!(
        denied.stderr.contains("ci-only (runs outside CI"),
        "{}",
        denied.stderr
    );

    // With it, a Deployment that enforces CI/CD still refuses a local deploy.
    args.push("--allow-local");
    let enforced_run = run(&emulator, &[], &args).await;
    assert_eq!(enforced_run.code, 10, "{}", enforced_run.stderr);
    assert!(
        enforced_run
            .stderr
            .contains("the Deployment enforces CI/CD"),
        "{}",
        enforced_run.stderr
    );

    // A production-like Deployment only takes CI deploys, whatever the flag.
    let mut args = deploy_args(&production, &project);
    args.push("--allow-local");
    let production_run = run(&emulator, &[], &args).await;
    assert_eq!(production_run.code, 10, "{}", production_run.stderr);
    assert!(
        production_run
            .stderr
            .contains("hint: ci-only: deploy from CI"),
        "{}",
        production_run.stderr
    );

    assert_eq!(
        changing_requests(&emulator.exchanges()),
        Vec::<String>::new(),
        "a denied deploy changes nothing"
    );
}

#[tokio::test]
async fn ci_deploys_only_from_the_default_branch_to_a_production_like_deployment() {
    let emulator = emulator().await;
    let project = example_project();
    let production = emulator.info().deployments.dags_disabled.clone();

    let mut args = deploy_args(&production, &project);
    args.extend(["--branch", "feature/x", "--output", "json"]);
    let denied = run(&emulator, &[("CI", "true")], &args).await;
    assert_eq!(denied.code, 10, "{}", denied.stderr);
    let error = &denied.json()["error"];
    assert_eq!(error["exitCode"], 10);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("ref (the branch is `feature/x`)"),
        "{error}"
    );
    assert!(changing_requests(&emulator.exchanges()).is_empty());

    // From main the policy allows it, and Astro's own rule (DAG deploys off) refuses it.
    let mut args = deploy_args(&production, &project);
    args.extend(["--branch", "main"]);
    let refused = run(&emulator, &[("CI", "true")], &args).await;
    assert_eq!(refused.code, 6, "{}", refused.stderr);
    assert!(refused.stderr.contains("DAG deploys are disabled"));
}

#[tokio::test]
async fn policy_check_prints_every_rule_in_text_and_json() {
    let emulator = emulator().await;
    let production = emulator.info().deployments.dags_disabled.clone();
    let check = [
        "policy",
        "check",
        "--deployment-id",
        &production,
        "--branch",
    ];

    let mut args = check.to_vec();
    args.push("feature/x");
    let text = run(&emulator, &[("CI", "true")], &args).await;
    assert_eq!(text.code, 10, "{}", text.stderr);
    for rule in [
        "forks",
        "event",
        "ci-only",
        "ref",
        "cicd-enforcement",
        "token-expiry",
    ] {
        assert!(
            text.stdout.contains(rule),
            "{rule} missing:\n{}",
            text.stdout
        );
    }
    assert!(text.stdout.contains("FAIL  ref"), "{}", text.stdout);
    assert!(text.stdout.contains("fix: deploy from an allowed branch"));
    assert!(text
        .stdout
        .contains("A deploy from this run would be DENIED."));

    let mut args = check.to_vec();
    args.extend(["main", "--output", "json"]);
    let json = run(&emulator, &[("CI", "true")], &args).await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let out = json.json();
    assert_eq!(out["allowed"], true);
    assert_eq!(out["run"]["refName"], "main");
    let results = out["decision"]["results"].as_array().unwrap();
    assert_eq!(results.len(), 7);
    assert!(results.iter().all(|r| r["verdict"] != "fail"), "{out}");
    assert!(changing_requests(&emulator.exchanges()).is_empty());
}

#[tokio::test]
async fn a_config_policy_opens_a_branch_and_requires_enforcement() {
    let emulator = emulator().await;
    let project = example_project();
    let production = emulator.info().deployments.dags_disabled.clone();
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("astro-deploy.yaml");
    std::fs::write(
        &config,
        "version: 1\npolicy:\n  deployments:\n    dags-disabled:\n      branches: ['release/*']\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();

    let mut args = deploy_args(&production, &project);
    args.extend(["--branch", "release/2026.12", "--config", config]);
    let allowed = run(&emulator, &[("CI", "true")], &args).await;
    assert_eq!(
        allowed.code, 6,
        "the policy let it through to Astro's own rule"
    );

    std::fs::write(
        folder.path().join("astro-deploy.yaml"),
        "version: 1\npolicy:\n  default:\n    require-cicd-enforcement: true\n",
    )
    .unwrap();
    let mut args = deploy_args(&production, &project);
    args.extend(["--branch", "main", "--config", config]);
    let denied = run(&emulator, &[("CI", "true")], &args).await;
    assert_eq!(denied.code, 10, "{}", denied.stderr);
    assert!(
        denied.stderr.contains(&format!(
            "astro-deploy policy enforce --deployment-id {production}"
        )),
        "{}",
        denied.stderr
    );
}

#[tokio::test]
async fn policy_enforce_turns_enforcement_on_once_and_keeps_everything_else() {
    let emulator = emulator().await;
    let production = emulator.info().deployments.dags_disabled.clone();
    let before = get_deployment(&emulator, &production).await;
    assert_eq!(before["isCicdEnforced"], false);

    let enforce = ["policy", "enforce", "--deployment-id", &production];
    let mut dry = enforce.to_vec();
    dry.push("--dry-run");
    let shown = run(&emulator, &[("CI", "true")], &dry).await;
    assert_eq!(shown.code, 0, "{}", shown.stderr);
    assert!(
        shown.stdout.contains("would turn it on (dry run)"),
        "{}",
        shown.stdout
    );
    assert!(changing_requests(&emulator.exchanges()).is_empty());

    let first = run(&emulator, &[("CI", "true")], &enforce).await;
    assert_eq!(first.code, 0, "{}", first.stderr);
    assert!(
        first.stdout.contains("turned on (was off)"),
        "{}",
        first.stdout
    );
    let after = get_deployment(&emulator, &production).await;
    assert_eq!(after["isCicdEnforced"], true);
    for key in [
        "name",
        "description",
        "schedulerSize",
        "isDagDeployEnabled",
        "isHighAvailability",
        "isDevelopmentMode",
        "workerQueues",
        "environmentVariables",
        "resourceQuotaCpu",
        "defaultTaskPodMemory",
    ] {
        assert_eq!(before[key], after[key], "{key} changed");
    }
    assert_eq!(changing_requests(&emulator.exchanges()).len(), 1);

    emulator.clear_exchanges();
    let again = run(&emulator, &[("CI", "true")], &enforce).await;
    assert_eq!(again.code, 0, "{}", again.stderr);
    assert!(again.stdout.contains("already on"), "{}", again.stdout);
    assert!(changing_requests(&emulator.exchanges()).is_empty());
}

#[tokio::test]
async fn a_token_near_its_expiry_or_wider_than_needed_deploys_with_warnings() {
    let emulator = emulator().await;
    let project = example_project();
    let id = emulator.info().deployments.dags_enabled.clone();
    let workspace = emulator.info().workspace_id.clone();
    let day = Duration::from_secs(86_400);

    let soon = emulator.mint_token(Some(vec![format!("deploymentId:{id}")]), day * 3);
    let mut args = deploy_args(&id, &project);
    args.extend(["--output", "json"]);
    let deployed = run_with_token(&emulator, &soon, &[("CI", "true")], &args).await;
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    let warnings = deployed.json()["warnings"].to_string();
    assert!(
        warnings.contains("policy token-expiry: the token expires at"),
        "{warnings}"
    );
    assert!(
        warnings.contains("days left) (per its claims); rotate the token"),
        "{warnings}"
    );
    assert!(!warnings.contains("token-scope"), "{warnings}");

    let wide = emulator.mint_token(Some(vec![format!("workspaceId:{workspace}")]), day * 90);
    let deployed = run_with_token(&emulator, &wide, &[("CI", "true")], &args).await;
    assert_eq!(deployed.code, 0, "{}", deployed.stderr);
    let warnings = deployed.json()["warnings"].to_string();
    assert!(
        warnings.contains("policy token-scope: Workspace token"),
        "{warnings}"
    );
    assert!(
        warnings.contains("use a Deployment API token"),
        "{warnings}"
    );
    assert!(!warnings.contains("token-expiry"), "{warnings}");

    // What the policy says of a token shows in the log of any run, not only in JSON.
    let text = run_with_token(
        &emulator,
        &soon,
        &[("CI", "true")],
        &deploy_args(&id, &project),
    )
    .await;
    assert!(text.stderr.contains("token-expiry"), "{}", text.stderr);
}

/// Creates an API token through the emulator's IAM API with the seeded Organization token;
/// answers its value.
async fn create_iam_token(emulator: &RunningEmulator, body: Value) -> String {
    let info = emulator.info();
    let url = format!(
        "{}/iam/v1beta1/organizations/{}/tokens",
        emulator.base_url(),
        info.organization_id
    );
    let created: Value = reqwest::Client::new()
        .post(url)
        .bearer_auth(&info.api_token)
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    created["token"]
        .as_str()
        .expect("a created token")
        .to_owned()
}

fn result<'a>(out: &'a Value, rule: &str) -> &'a Value {
    let results = out["decision"]["results"].as_array().unwrap();
    results.iter().find(|r| r["rule"] == rule).unwrap()
}

#[tokio::test]
async fn the_policy_judges_a_token_on_what_iam_says_and_on_its_claims_when_iam_refuses() {
    let emulator = emulator().await;
    let workspace = emulator.info().workspace_id.clone();
    let production = emulator.info().deployments.dags_disabled.clone();
    let folder = tempfile::tempdir().unwrap();
    let config = folder.path().join("astro-deploy.yaml");
    std::fs::write(
        &config,
        "version: 1\npolicy:\n  default:\n    token: { must-expire: true }\n",
    )
    .unwrap();
    let check = [
        "policy",
        "check",
        "--deployment-id",
        &production,
        "--branch",
        "main",
        "--output",
        "json",
        "--config",
        config.to_str().unwrap(),
    ];

    // Its JWT carries an `exp`, but IAM knows the token never expires.
    let forever = create_iam_token(
        &emulator,
        serde_json::json!({ "name": "ci", "type": "WORKSPACE", "role": "WORKSPACE_OPERATOR",
                            "entityId": workspace }),
    )
    .await;
    let denied = run_with_token(&emulator, &forever, &[("CI", "true")], &check).await;
    assert_eq!(denied.code, 10, "{}", denied.stderr);
    // A denial prints the decision, then the error, each as a JSON document.
    let mut documents = serde_json::Deserializer::from_str(&denied.stdout).into_iter::<Value>();
    let out = documents.next().unwrap().unwrap();
    let expiry = result(&out, "token-expiry");
    assert_eq!(expiry["verdict"], "fail", "{out}");
    assert_eq!(expiry["fact"], "the token never expires (per IAM)");
    let scope = result(&out, "token-scope");
    assert_eq!(scope["verdict"], "warn", "{out}");
    assert_eq!(
        scope["fact"],
        format!(
            "Workspace token ({workspace}, role `WORKSPACE_OPERATOR`) (per IAM): wider than \
             needed"
        )
    );

    // The seeded Organization token reads itself too: wider than a deploy needs.
    let org = run(&emulator, &[("CI", "true")], &check).await;
    assert_eq!(org.code, 0, "{}", org.stderr);
    let out = org.json();
    let scope = result(&out, "token-scope")["fact"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        scope.contains("role `ORGANIZATION_OWNER`) (per IAM): wider than needed"),
        "{scope}"
    );

    // A Deployment token may not read IAM: its claims are judged, and the read changed nothing.
    let day = Duration::from_secs(86_400);
    let scoped = emulator.mint_token(Some(vec![format!("deploymentId:{production}")]), day * 60);
    let claims = run_with_token(&emulator, &scoped, &[("CI", "true")], &check).await;
    assert_eq!(claims.code, 0, "{}", claims.stderr);
    let out = claims.json();
    let expiry = result(&out, "token-expiry")["fact"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(expiry.ends_with("days left) (per its claims)"), "{expiry}");
    let iam = emulator.iam_exchanges();
    assert_eq!(
        iam.last().map(|e| e.status),
        Some(403),
        "the read was tried"
    );
    assert!(iam
        .iter()
        .all(|e| e.method == "GET" || e.path.ends_with("/tokens")));
}

/// The preview steps that change something, each for `branch` of the base `base`.
fn preview_steps<'a>(
    base: &'a str,
    branch: &'a str,
    project: &'a str,
    config: &'a str,
) -> Vec<Vec<&'a str>> {
    let common = ["--base-deployment-id", base, "--config", config];
    let mut steps = Vec::new();
    for step in ["create", "deploy"] {
        let mut args = vec!["preview", step, "--branch", branch, "--project", project];
        args.extend(common);
        steps.push(args);
    }
    let mut delete = vec!["preview", "delete", "--branch", branch];
    delete.extend(common);
    steps.push(delete);
    steps
}

#[tokio::test]
async fn previews_are_judged_by_the_previews_rules_before_any_change() {
    let emulator = emulator().await;
    let base = emulator.info().deployments.dags_disabled.clone();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("astro-deploy.yaml");
    // `default` would refuse every branch but main; previews only heed `previews:`.
    std::fs::write(
        &config,
        "version: 1\nprojects: []\npolicy:\n  default: { branches: [main] }\n  \
         previews: { branches: ['feature/**'] }\n",
    )
    .unwrap();
    let (config, project) = (
        config.display().to_string(),
        example_project().display().to_string(),
    );

    for args in preview_steps(&base, "spike/try-this", &project, &config) {
        let denied = run(&emulator, &[("CI", "true")], &args).await;

        assert_eq!(
            denied.code, 10,
            "{args:?}\n{}\n{}",
            denied.stdout, denied.stderr
        );
        assert!(denied.stderr.contains("ref"), "{}", denied.stderr);
        assert!(
            denied.stderr.contains("`previews.branches`") && denied.stderr.contains("feature/**"),
            "the fix names the previews' rule: {}",
            denied.stderr
        );
    }
    assert_eq!(
        changing_requests(&emulator.exchanges()),
        Vec::<String>::new(),
        "a denied preview step changes nothing"
    );

    // A run on a branch that `previews.branches` names passes, though `default` would refuse
    // it: deleting a preview that is not there succeeds and changes nothing.
    let jenkins = [("CI", "true"), ("BRANCH_NAME", "feature/orders")];
    let delete = [
        "preview",
        "delete",
        "--branch",
        "feature/orders",
        "--base-deployment-id",
        &base,
        "--config",
        &config,
    ];
    let allowed = run(&emulator, &jenkins, &delete).await;
    assert_eq!(allowed.code, 0, "{}\n{}", allowed.stdout, allowed.stderr);
    assert!(
        allowed.stdout.contains("nothing to delete"),
        "{}",
        allowed.stdout
    );

    // gc removes previews and deploys no code: it is not judged on refs, so a scheduled run
    // on main collects even though `previews.branches` does not name main.
    let scheduled = [("CI", "true"), ("BRANCH_NAME", "main")];
    let gc = [
        "preview",
        "gc",
        "--host",
        "none",
        "--ttl",
        "1d",
        "--base-deployment-id",
        &base,
        "--config",
        &config,
    ];
    let collected = run(&emulator, &scheduled, &gc).await;
    assert_eq!(
        collected.code, 0,
        "{}\n{}",
        collected.stdout, collected.stderr
    );
    assert!(changing_requests(&emulator.exchanges()).is_empty());
}
