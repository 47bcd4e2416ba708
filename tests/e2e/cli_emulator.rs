//! `astro-deploy emulator` and `astro-deploy demo` as a user runs them.

use std::io::{BufRead as _, BufReader};
use std::process::{Command, Stdio};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

#[test]
fn the_demo_deploys_the_example_and_verifies_the_bundle() {
    let output = Command::new(BIN)
        .arg("demo")
        .current_dir(e2e_tests::repo_root())
        .output()
        .expect("astro-deploy runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.starts_with("Deployed dags/ to `dags-enabled`"),
        "{stdout}"
    );
    assert!(
        stdout.contains("live: HEALTHY and running the new code"),
        "{stdout}"
    );
    // A link a terminal can open: the emulator's loopback UI, with its scheme.
    assert!(
        stdout.contains("  Airflow UI      http://127.0.0.1:"),
        "{stdout}"
    );
    assert!(stdout.contains("Verified: the bundle the emulator received holds exactly"));
    assert!(stdout.contains("Refused before any change"), "{stdout}");
    assert!(stdout.contains("DAG deploys are disabled"));
    // The advice is the flow the emulator test below proves, CI=true included.
    assert!(
        stdout.contains(
            "CI=true astro-deploy deploy --deployment-id <deployments.dagsEnabled> --project"
        ),
        "{stdout}"
    );
}

#[test]
fn the_demo_runs_anywhere_with_the_example_project_built_into_the_binary() {
    let elsewhere = tempfile::tempdir().unwrap();
    let output = Command::new(BIN)
        .args(["demo", "--output", "json"])
        .current_dir(elsewhere.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("astro-deploy runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["project"]["source"], "embedded", "{report}");
    let unpacked = std::path::PathBuf::from(report["project"]["path"].as_str().unwrap());
    assert!(!unpacked.starts_with(e2e_tests::repo_root()), "{report}");
    assert!(
        !unpacked.exists(),
        "the unpacked copy is removed after the run"
    );
    assert_eq!(report["deploy"]["state"], "live");
    assert_eq!(report["verification"]["missing"], serde_json::json!([]));
    assert_eq!(report["verification"]["different"], serde_json::json!([]));
    let dags = e2e_tests::repo_root().join("examples/astro-project/dags");
    assert_eq!(
        report["verification"]["matching"].as_u64(),
        Some(count_files(&dags)),
        "the embedded dags/ is the repository's"
    );
    assert_eq!(
        std::fs::read_dir(elsewhere.path()).unwrap().count(),
        0,
        "nothing is left in the working folder"
    );
}

fn count_files(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| {
            let path = entry.unwrap().path();
            if path.is_dir() {
                count_files(&path)
            } else {
                1
            }
        })
        .sum()
}

#[test]
fn the_demo_reports_json_with_the_verification() {
    let output = Command::new(BIN)
        .args(["demo", "--output", "json"])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("astro-deploy runs");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );

    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(report["deploy"]["state"], "live");
    assert_eq!(report["verification"]["missing"], serde_json::json!([]));
    assert_eq!(report["verification"]["unexpected"], serde_json::json!([]));
    assert_eq!(report["verification"]["different"], serde_json::json!([]));
    assert!(report["verification"]["matching"].as_u64().unwrap() > 5);
}

#[test]
fn the_emulator_prints_its_info_line_serves_deploys_and_stops_on_sigterm() {
    let mut emulator = Command::new(BIN)
        .args([
            "emulator",
            "--listen",
            "127.0.0.1:0",
            "--rollout-delay",
            "100ms",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the emulator starts");
    let mut line = String::new();
    BufReader::new(emulator.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let info: Value = serde_json::from_str(&line).expect("the first line is JSON");

    let base_url = info["baseUrl"].as_str().unwrap();
    assert!(base_url.starts_with("http://127.0.0.1:"), "{line}");
    for key in ["organizationId", "workspaceId", "apiToken", "userToken"] {
        assert!(
            info[key].as_str().is_some_and(|v| !v.is_empty()),
            "{key} in {line}"
        );
    }

    let deploy_command = || {
        let mut command = Command::new(BIN);
        command
            .args(["deploy", "--wait", "--output", "json", "--deployment-id"])
            .arg(info["deployments"]["dagsEnabled"].as_str().unwrap())
            .arg("--project")
            .arg(e2e_tests::repo_root().join("examples/astro-project"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("ASTRO_API_URL", base_url)
            .env("ASTRO_API_TOKEN", info["apiToken"].as_str().unwrap());
        command
    };
    // What the demo's advice warns of: the policy refuses a local deploy to a Deployment that
    // enforces CI/CD, which the seeded one does.
    let local = deploy_command().output().unwrap();
    assert_eq!(local.status.code(), Some(10));
    assert!(String::from_utf8_lossy(&local.stderr).contains("ci-only (runs outside CI"));
    // As the pipeline being tried would run it, and as the demo's advice says.
    let deploy = deploy_command().env("CI", "true").output().unwrap();
    assert!(
        deploy.status.success(),
        "{}",
        String::from_utf8_lossy(&deploy.stderr)
    );
    let outcome: Value = serde_json::from_slice(&deploy.stdout).unwrap();
    assert_eq!(outcome["state"], "live");

    let pid = emulator.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let status = emulator.wait().unwrap();
    assert!(
        status.success(),
        "the emulator stops cleanly on SIGTERM: {status:?}"
    );
}
