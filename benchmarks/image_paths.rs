//! Image deploys, the two ways: a full build with the builder against the code-only route,
//! on the example project, against a real registry on loopback and the emulator.
//!
//! Run: `cargo bench -p astro-deploy --bench image_paths` (needs what
//! `scripts/install-test-deps.sh` installs). Each round changes one project file outside
//! `dags/`, then deploys it with `--full-build` (the baseline, as every other tool deploys an
//! image) and without (astro-deploy's code-only route), and reads the wall time and the bytes
//! pushed from the deploy's JSON output. It prints the medians and their ratios, and stops if a
//! deploy took another route than the one it was measured as.
//!
//! The base image is the small stand-in Astro Runtime of the tests, whose dependency steps
//! write a few bytes: a real runtime's `pip install` layer is hundreds of megabytes, which a
//! full build without cache makes (and pushes) anew, so the full build's time and bytes here
//! are a floor. The layers uploaded show that part: every build step's layer against one.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use e2e_tests::registry::LocalRegistry;
use e2e_tests::runtime_image::{
    build_runtime_image, insecure_registries_conf, runtime_reference, BuildahStore,
};
use emulator::EmulatorConfig;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");
const ROUNDS: usize = 3;

struct Measure {
    wall: Duration,
    bytes_pushed: u64,
    layers_uploaded: u64,
}

/// Panics unless the deploy took `route`: a measure of the wrong route would compare nothing.
fn assert_route(out: &Value, route: &str) {
    let took = out["image"]["route"].as_str().unwrap_or("none");
    assert_eq!(
        took, route,
        "the deploy took the {took} route, not {route} (reason: {})",
        out["image"]["fullBuildReason"]
    );
}

fn main() {
    let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
    let registry = LocalRegistry::start();
    let host = registry.host();
    build_runtime_image(&host, &["12.2.0"]);

    let config = EmulatorConfig {
        registry_host: Some(host.clone()),
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    let emulator = runtime
        .block_on(emulator::start(config))
        .expect("the emulator starts");
    let files = tempfile::tempdir().expect("a temporary folder");
    let project = files.path().join("project");
    copy_tree(
        &e2e_tests::repo_root().join("examples/astro-project"),
        &project,
    );
    let dockerfile = format!("FROM {}\n", runtime_reference(&host, "12.2.0"));
    std::fs::write(project.join("Dockerfile"), dockerfile).expect("writing the Dockerfile");
    let registries_conf = files.path().join("registries.conf");
    std::fs::write(&registries_conf, insecure_registries_conf(&host)).expect("registries.conf");
    let store = BuildahStore::temporary();

    let deploy = |extra: &[&str], route: &str| -> Measure {
        let mut command = Command::new(BIN);
        command
            .args([
                "deploy",
                "--type",
                "image-and-dags",
                "--output",
                "json",
                "--builder",
            ])
            .arg("buildah")
            .args(["--deployment-id", &emulator.info().deployments.dags_enabled])
            .arg("--project")
            .arg(&project)
            .args(extra)
            .env("ASTRO_API_URL", emulator.base_url())
            .env("ASTRO_API_TOKEN", &emulator.info().api_token)
            // The Deployment enforces CI/CD, so the deploy policy refuses runs outside CI: the
            // benchmark runs as a generic CI job, as the end-to-end tests do.
            .env("CI", "true")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITLAB_CI");
        for arg in store.global_args() {
            command.arg(format!("--builder-arg={arg}"));
        }
        command.arg(format!(
            "--builder-arg=--registries-conf={}",
            registries_conf.display()
        ));

        let started = Instant::now();
        let output = command.output().expect("astro-deploy runs");
        let wall = started.elapsed();
        assert!(
            output.status.success(),
            "the deploy failed:\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let out: Value = serde_json::from_slice(&output.stdout).expect("JSON output");
        assert_route(&out, route);
        let bytes_pushed = out["image"]["bytesUploaded"].as_u64().unwrap_or(0);
        let layers_uploaded = out["image"]["layersUploaded"].as_u64().unwrap_or(0);
        Measure {
            wall,
            bytes_pushed,
            layers_uploaded,
        }
    };

    // The first deploy has nothing to start from: it builds, and gives later rounds a base.
    deploy(&[], "full-build");

    let mut full = Vec::new();
    let mut code_only = Vec::new();
    for round in 0..ROUNDS {
        let change = format!("code,rate\nEUR,{round}\n");
        std::fs::write(project.join("include/currencies.csv"), &change).expect("a change");
        full.push(deploy(&["--full-build"], "full-build"));

        std::fs::write(
            project.join("include/currencies.csv"),
            format!("{change}USD,1\n"),
        )
        .expect("a change");
        code_only.push(deploy(&[], "code-only"));
    }

    let (full_wall, full_bytes, full_layers) = medians(&full);
    let (code_wall, code_bytes, code_layers) = medians(&code_only);
    println!("image deploy of examples/astro-project, median of {ROUNDS} rounds");
    println!("| route | wall time | bytes pushed | layers uploaded |");
    println!("|---|---|---|---|");
    println!(
        "| full build (baseline) | {:.2} s | {full_bytes} | {full_layers} |",
        full_wall.as_secs_f64()
    );
    println!(
        "| code only | {:.2} s | {code_bytes} | {code_layers} |",
        code_wall.as_secs_f64()
    );
    println!(
        "code only / full build: wall time {:.3}, bytes pushed {:.4}",
        code_wall.as_secs_f64() / full_wall.as_secs_f64(),
        code_bytes as f64 / full_bytes.max(1) as f64
    );
    drop(registry);
}

fn medians(measures: &[Measure]) -> (Duration, u64, u64) {
    let middle = measures.len() / 2;
    let mut walls: Vec<Duration> = measures.iter().map(|m| m.wall).collect();
    let mut bytes: Vec<u64> = measures.iter().map(|m| m.bytes_pushed).collect();
    let mut layers: Vec<u64> = measures.iter().map(|m| m.layers_uploaded).collect();
    walls.sort();
    bytes.sort();
    layers.sort();
    (walls[middle], bytes[middle], layers[middle])
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("creating a folder");
    for entry in std::fs::read_dir(from).expect("reading the example project") {
        let entry = entry.expect("a folder entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("a file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copying a file");
        }
    }
}
