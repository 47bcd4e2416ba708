//! `astro-deploy token` as a user meets it against the emulator: a rotation whose new value
//! works while the old one is refused, a rotation the policy denies before it changes
//! anything, a listing and a creation, and never a token value on stderr.

use std::time::Duration;

use std::path::Path;

use e2e_tests::cli::{run_cli, CliRun};
use emulator::{EmulatorConfig, RunningEmulator};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

async fn emulator() -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.expect("the emulator starts")
}

/// Runs the binary as `token`, with only `env` besides PATH.
async fn run(
    emulator: &RunningEmulator,
    token: &str,
    env: &[(&str, &str)],
    args: &[&str],
) -> CliRun {
    run_cli(Path::new(BIN), emulator, token, env, args).await
}

/// An IAM token made with the seeded Organization token; answers the created token, value
/// included.
async fn create_token(emulator: &RunningEmulator, body: Value) -> Value {
    let info = emulator.info();
    let url = format!(
        "{}/iam/v1beta1/organizations/{}/tokens",
        emulator.base_url(),
        info.organization_id
    );
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(&info.api_token)
        .json(&body)
        .send()
        .await
        .expect("IAM answers");
    assert_eq!(response.status().as_u16(), 200);
    response.json().await.expect("a token")
}

fn value(token: &Value) -> String {
    token["token"].as_str().expect("a token value").to_owned()
}

/// The status the Platform API answers `token` for the seeded organization.
async fn status_with(emulator: &RunningEmulator, token: &str) -> u16 {
    let url = format!(
        "{}/platform/v1beta1/organizations/{}",
        emulator.base_url(),
        emulator.info().organization_id
    );
    let response = reqwest::Client::new()
        .get(url)
        .bearer_auth(token)
        .send()
        .await;
    response.expect("the emulator answers").status().as_u16()
}

#[tokio::test]
async fn a_rotated_token_works_and_its_old_value_is_refused() {
    let emulator = emulator().await;
    let ci = create_token(
        &emulator,
        json!({ "name": "ci", "type": "ORGANIZATION", "role": "ORGANIZATION_OWNER",
                "tokenExpiryPeriodInDays": 90 }),
    )
    .await;
    let old = value(&ci);
    let id = ci["id"].as_str().expect("an id");

    // CI rotates its own token, as a scheduled job would.
    let args = ["token", "rotate", "--token-id", id, "--branch", "main"];
    let rotated = run(&emulator, &old, &[("CI", "true")], &args).await;

    assert_eq!(rotated.code, 0, "{}", rotated.stderr);
    let new = rotated.stdout.trim().to_owned();
    assert_eq!(
        rotated.stdout,
        format!("{new}\n"),
        "stdout is the value alone"
    );
    assert_ne!(new, old);
    assert_eq!(
        status_with(&emulator, &new).await,
        200,
        "the new value works"
    );
    assert_eq!(
        status_with(&emulator, &old).await,
        401,
        "the old value is refused"
    );
    assert!(
        rotated.stderr.contains("store it now"),
        "the log says to keep the value: {}",
        rotated.stderr
    );
    assert!(!rotated.stderr.contains(&new), "{}", rotated.stderr);
    assert!(!rotated.stderr.contains(&old), "{}", rotated.stderr);
}

#[tokio::test]
async fn a_rotation_the_policy_denies_changes_nothing() {
    let emulator = emulator().await;
    let ci = create_token(
        &emulator,
        json!({ "name": "ci", "type": "ORGANIZATION", "role": "ORGANIZATION_OWNER" }),
    )
    .await;
    let token = value(&ci);
    let id = ci["id"].as_str().expect("an id");

    // From a person's machine without --allow-local.
    let args = ["token", "rotate", "--token-id", id, "--branch", "main"];
    let denied = run(&emulator, &token, &[], &args).await;

    assert_eq!(denied.code, 10, "{}", denied.stderr);
    assert!(
        denied
            .stderr
            .contains("error: the deploy policy denies this run"),
        "{}",
        denied.stderr
    );
    assert!(
        denied.stderr.contains("add --allow-local"),
        "{}",
        denied.stderr
    );
    assert!(!denied.stderr.contains(&token), "{}", denied.stderr);
    let changing: Vec<String> = emulator
        .iam_exchanges()
        .iter()
        .filter(|e| e.method != "GET")
        .map(|e| format!("{} {}", e.method, e.path))
        .collect();
    assert_eq!(
        changing.len(),
        1,
        "only the test's own create: {changing:?}"
    );
    assert!(changing[0].ends_with("/tokens"), "{changing:?}");
    assert_eq!(
        status_with(&emulator, &token).await,
        200,
        "the token still works"
    );

    // The same from a fork's pull request in CI.
    let folder = tempfile::tempdir().expect("a temporary folder");
    let event = folder.path().join("event.json");
    let payload = json!({
        "pull_request": {
            "number": 7,
            "head": { "ref": "feature", "sha": "0123456789abcdef0123456789abcdef01234567",
                      "repo": { "full_name": "someone/fork", "fork": true } },
            "base": { "ref": "main", "sha": "89abcdef0123456789abcdef0123456789abcdef",
                      "repo": { "full_name": "acme/dags" } },
        },
        "number": 7,
        "repository": { "full_name": "acme/dags", "default_branch": "main" },
    });
    std::fs::write(&event, payload.to_string()).expect("the event is written");
    let github = [
        ("CI", "true"),
        ("GITHUB_ACTIONS", "true"),
        ("GITHUB_EVENT_NAME", "pull_request"),
        ("GITHUB_EVENT_PATH", event.to_str().expect("a UTF-8 path")),
        ("GITHUB_REF", "refs/pull/7/merge"),
        ("GITHUB_REPOSITORY", "acme/dags"),
    ];
    let args = ["token", "rotate", "--token-id", id];
    let fork = run(&emulator, &token, &github, &args).await;
    assert_eq!(fork.code, 10, "{}", fork.stderr);
    assert!(fork.stderr.contains("forks"), "{}", fork.stderr);
    assert_eq!(
        status_with(&emulator, &token).await,
        200,
        "the token still works"
    );
}

#[tokio::test]
async fn token_list_shows_types_expiry_and_roles_but_no_value() {
    let emulator = emulator().await;
    let workspace = emulator.info().workspace_id.clone();
    let ci = create_token(
        &emulator,
        json!({ "name": "deployer", "type": "WORKSPACE", "role": "WORKSPACE_OPERATOR",
                "entityId": workspace, "tokenExpiryPeriodInDays": 30 }),
    )
    .await;
    let seeded = emulator.info().api_token.clone();

    let json = run(
        &emulator,
        &seeded,
        &[],
        &["token", "list", "--output", "json"],
    )
    .await;
    assert_eq!(json.code, 0, "{}", json.stderr);
    let listed: Value = serde_json::from_str(&json.stdout).expect("JSON");
    let listed = listed.as_array().expect("a list");
    assert_eq!(
        listed.len(),
        2,
        "the seeded token and the new one: {listed:?}"
    );
    let deployer = listed
        .iter()
        .find(|t| t["id"] == ci["id"])
        .expect("the new token");
    assert_eq!(deployer["type"], "WORKSPACE");
    assert_eq!(deployer["endAt"], ci["endAt"]);
    assert_eq!(deployer["roles"][0]["role"], "WORKSPACE_OPERATOR");
    assert!(deployer.get("token").is_none());

    let text = run(&emulator, &seeded, &[], &["token", "list"]).await;
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert!(text.stdout.contains("deployer"), "{}", text.stdout);
    assert!(
        text.stdout
            .contains(&format!("WORKSPACE_OPERATOR on {workspace}")),
        "{}",
        text.stdout
    );
    assert!(
        text.stdout.contains("ORGANIZATION_OWNER"),
        "{}",
        text.stdout
    );
    for run in [&json, &text] {
        assert!(!run.stdout.contains(&value(&ci)) && !run.stdout.contains(&seeded));
        assert!(!run.stderr.contains(&seeded), "{}", run.stderr);
    }
}

#[tokio::test]
async fn token_create_makes_an_expiring_deployment_token_that_works() {
    let emulator = emulator().await;
    let deployment = emulator.info().deployments.dags_enabled.clone();
    let seeded = emulator.info().api_token.clone();
    let args = [
        "token",
        "create",
        "--name",
        "deployer",
        "--role",
        "DEPLOYMENT_ADMIN",
        "--deployment-id",
        &deployment,
        "--expires-in-days",
        "30",
        "--branch",
        "main",
        "--output",
        "json",
    ];

    let created = run(&emulator, &seeded, &[("CI", "true")], &args).await;

    assert_eq!(created.code, 0, "{}", created.stderr);
    let out: Value = serde_json::from_str(&created.stdout).expect("JSON");
    assert_eq!(out["type"], "DEPLOYMENT");
    assert_eq!(out["expiryPeriodInDays"], 30);
    let token = out["token"].as_str().expect("the value, once");
    assert_eq!(status_with(&emulator, token).await, 200);
    assert!(!created.stderr.contains(token), "{}", created.stderr);

    let too_long = run(&emulator, &seeded, &[("CI", "true")], &{
        let mut args = args.to_vec();
        args[10] = "4000";
        args
    })
    .await;
    assert_eq!(too_long.code, 2, "clap refuses it: {}", too_long.stderr);
}
