//! Image deploys end to end, with real parts: the `astro-deploy` binary builds with Buildah
//! (`vfs` storage, `chroot` isolation), pushes natively to Debian's `docker-registry` on
//! loopback, and deploys to the emulator, which reads the pushed image back from that registry
//! (tag present, runtime offered, no downgrade) before it finalizes.
//!
//! The base image is the stand-in Astro Runtime of `tests/support/runtime_image.rs`, with the
//! same `ONBUILD` steps as the real one.

use std::collections::BTreeMap;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

use e2e_tests::image_setup::{run_tool, ImageSetup as Setup};
use e2e_tests::registry::{AuthProxy, Guard, LocalRegistry};
use e2e_tests::runtime_image::{runtime_reference, PYTEST_FAIL_MARKER};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_astro-deploy");

/// Every entry of an unpacked filesystem: type, mode, owner, and content or link target.
fn tree(root: &Path) -> BTreeMap<String, String> {
    let mut entries = BTreeMap::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            let what = if meta.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                pending.push(path.clone());
                "dir".to_owned()
            } else {
                let content = std::fs::read(&path).unwrap();
                format!("file {} bytes {:x}", content.len(), checksum(&content))
            };
            let mode = meta.mode() & 0o7777;
            entries.insert(
                name,
                format!("{what} mode {mode:o} owner {}:{}", meta.uid(), meta.gid()),
            );
        }
    }
    entries
}

fn checksum(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn setup(runtime: &str) -> Setup {
    Setup::start(Path::new(BIN), runtime).await
}

#[tokio::test]
async fn an_image_deploy_builds_and_pushes_and_a_code_change_then_needs_no_builder() {
    let setup = setup("12.2.0").await;

    // The first deploy must build: the Deployment's image is not in the registry yet.
    let first = setup
        .deploy(&["--type", "image-and-dags", "--wait"])
        .await
        .ok();
    assert_eq!(first["deployType"], "IMAGE_AND_DAG");
    assert_eq!(first["state"], "live");
    assert_eq!(first["image"]["route"], "full-build");
    let reason = first["image"]["fullBuildReason"].as_str().unwrap();
    assert!(reason.contains("could not be read"), "{reason}");
    assert_eq!(first["image"]["runtimeVersion"], "12.2.0");
    assert!(
        first["bundle"]["files"].as_u64().unwrap() >= 2,
        "DAGs ship as a bundle"
    );
    assert!(first["bundleVersion"].as_str().is_some());

    // A change to project files only: the new image is the deployed one plus one new layer.
    setup.write("include/report.sql", "select 2;\n");
    setup.write("dags/new_dag.py", "# a new DAG\n");
    let second_run = setup.deploy(&["--type", "image-and-dags", "--wait"]).await;
    // In CI, each layer is one plain log line, and no progress bar is drawn.
    let layer_lines: Vec<&str> = second_run
        .stderr
        .lines()
        .filter(|l| l.trim_start().starts_with("INFO layer "))
        .collect();
    let said = |how: &str| layer_lines.iter().filter(|l| l.ends_with(how)).count();
    assert_eq!(said(" uploaded"), 1, "{layer_lines:#?}");
    assert!(said(" skipped") >= 3, "{layer_lines:#?}");
    assert!(
        !second_run.stderr.contains('\u{1b}'),
        "no terminal escapes in a CI log"
    );
    let second = second_run.ok();
    assert_eq!(second["image"]["route"], "code-only", "{second}");
    assert_eq!(second["image"]["layersUploaded"], 1);
    assert_eq!(second["image"]["layersMounted"], 0);
    assert!(second["image"]["layersSkipped"].as_u64().unwrap() >= 3);
    assert!(second["image"]["bytesUploaded"].as_u64().unwrap() < 64 * 1024);
    assert_eq!(second["state"], "live");

    // The same tree built in full: its filesystem must equal the code-only image's.
    let third = setup
        .deploy(&["--type", "image-and-dags", "--full-build"])
        .await
        .ok();
    assert_eq!(third["image"]["route"], "full-build");
    assert_eq!(third["image"]["fullBuildReason"], "--full-build was given");

    let work = tempfile::tempdir().unwrap();
    let code_only = tree(&setup.unpack(
        second["image"]["reference"].as_str().unwrap(),
        &work.path().join("code-only"),
    ));
    let full = tree(&setup.unpack(
        third["image"]["reference"].as_str().unwrap(),
        &work.path().join("full"),
    ));
    let differences: Vec<String> = code_only
        .iter()
        .filter(|(path, entry)| full.get(*path) != Some(*entry))
        .map(|(path, entry)| format!("{path}: code-only {entry} / full {:?}", full.get(path)))
        .chain(
            full.keys()
                .filter(|p| !code_only.contains_key(*p))
                .map(|p| format!("{p}: only in full")),
        )
        .collect();
    assert!(
        differences.is_empty(),
        "the images differ:\n{}",
        differences.join("\n")
    );
    assert!(code_only.contains_key("usr/local/airflow/include/report.sql"));
    // The fixture has what a 0644-only tree would not test: the comparison above covers them.
    let entry = |path: &str| code_only[&format!("usr/local/airflow/{path}")].clone();
    assert!(
        entry("bin/run-report.sh").contains(" mode 755 "),
        "{}",
        entry("bin/run-report.sh")
    );
    assert!(entry("include/latest.sql").starts_with("link -> sql/daily/summary.sql"));
    assert!(entry("include/empty").starts_with("dir "));
    assert!(entry("include/sql/daily/summary.sql").starts_with("file "));
    assert!(
        !code_only
            .keys()
            .any(|p| p.starts_with("usr/local/airflow/dags")),
        "dags/ ships as a bundle"
    );

    // A dependency change cannot take the code-only route.
    setup.write(
        "requirements.txt",
        "apache-airflow-providers-http==4.13.3\nrequests==2.32.3\n",
    );
    let fourth = setup.deploy(&["--type", "image-and-dags"]).await.ok();
    assert_eq!(fourth["image"]["route"], "full-build");
    let reason = fourth["image"]["fullBuildReason"].as_str().unwrap();
    assert!(reason.contains("requirements.txt"), "{reason}");
}

#[tokio::test]
async fn a_failing_test_stops_the_deploy_before_anything_is_pushed_and_shows_its_output() {
    let setup = setup("12.2.0").await;
    setup.write(PYTEST_FAIL_MARKER, "");

    let run = setup
        .deploy(&["--type", "image-and-dags", "--pytest"])
        .await;

    assert_eq!(run.code, 9, "{}", run.stderr);
    assert!(run.stderr.contains("pytest"), "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("failed"),
        "{}",
        run.stderr
    );
    assert_eq!(setup.posted_deploys(), 0, "no deploy was created");
    assert_eq!(run.json()["error"]["exitCode"], 9);
}

#[tokio::test]
async fn a_runtime_downgrade_is_refused_before_any_change() {
    let setup = setup("12.1.0").await;

    let run = setup.deploy(&["--type", "image-and-dags"]).await;

    assert_eq!(run.code, 6, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("`12.1.0` is older than the Deployment's `12.2.0`"),
        "{}",
        run.stderr
    );
    assert_eq!(setup.posted_deploys(), 0);
}

#[tokio::test]
async fn an_upgrade_is_deployed_and_the_deployment_then_runs_the_new_runtime() {
    let setup = setup("12.3.0").await;

    let out = setup
        .deploy(&["--type", "image-and-dags", "--wait"])
        .await
        .ok();

    assert_eq!(out["image"]["runtimeVersion"], "12.3.0");
    let deployment = get_deployment(&setup).await;
    assert_eq!(deployment["astroRuntimeVersion"], "12.3.0");
    assert_eq!(
        deployment["imageTag"],
        out["image"]["reference"]
            .as_str()
            .unwrap()
            .rsplit(':')
            .next()
            .unwrap()
    );
}

#[tokio::test]
async fn infer_ships_only_the_dags_when_only_dags_changed() {
    let setup = setup("12.2.0").await;
    setup.deploy(&["--type", "image-and-dags"]).await.ok();

    setup.write("dags/example_etl.py", "# changed\n");
    let dags = setup.deploy(&["--type", "infer"]).await.ok();
    assert_eq!(dags["deployType"], "DAG_ONLY", "{dags}");
    assert_eq!(dags["inferred"], "only files under dags/ changed");
    assert!(dags["image"].is_null());

    setup.write("include/report.sql", "select 3;\n");
    let image = setup.deploy(&["--type", "infer"]).await.ok();
    assert_eq!(image["deployType"], "IMAGE_AND_DAG", "{image}");
    assert_eq!(image["image"]["route"], "code-only");
}

#[tokio::test]
async fn a_prebuilt_image_in_the_registry_is_deployed_without_a_build() {
    let setup = setup("12.2.0").await;
    let prebuilt = runtime_reference(&setup.registry.host(), "12.3.0");

    let out = setup
        .deploy(&["--type", "image", "--image-name", &prebuilt])
        .await
        .ok();

    assert_eq!(out["deployType"], "IMAGE_ONLY");
    assert_eq!(out["image"]["route"], "prebuilt");
    assert!(out["bundle"].is_null());
    assert_eq!(
        out["image"]["layersUploaded"], 0,
        "same registry: layers are mounted"
    );
    assert!(out["image"]["layersMounted"].as_u64().unwrap() >= 1);

    // The runtimes are those offered to this Deployment, not to new ones.
    let exchanges = setup.emulator.exchanges();
    let options: Vec<_> = exchanges
        .iter()
        .filter(|e| e.path.ends_with("/deployment-options"))
        .collect();
    assert_eq!(options.len(), 1);
    assert_eq!(
        options[0].query,
        vec![("deploymentId".to_owned(), setup.deployment())]
    );
}

#[test]
fn checks_cannot_be_asked_of_a_prebuilt_image() {
    for check in [&["--pytest"][..], &["--pytest", "tests/unit"], &["--parse"]] {
        let output = std::process::Command::new(BIN)
            .args([
                "deploy",
                "--deployment-id",
                "cdep",
                "--image-name",
                "team/app:1",
            ])
            .args(check)
            .env("ASTRO_API_TOKEN", "not-used")
            .output()
            .unwrap();

        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{check:?}: {stderr}");
        assert!(
            stderr.contains("'--image-name <IMAGE>' cannot be used with"),
            "{check:?}: {stderr}"
        );
        assert!(stderr.contains(check[0]), "{check:?}: {stderr}");
    }
}

/// A private registry other than the Deployment's, behind a login, holding the stand-in
/// runtime `version` copied from the setup's registry.
async fn private_registry_with(setup: &Setup, version: &str) -> (LocalRegistry, AuthProxy) {
    let source = LocalRegistry::start();
    run_tool(std::process::Command::new("skopeo").args([
        "copy",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
        &format!(
            "docker://{}",
            runtime_reference(&setup.registry.host(), version)
        ),
        &format!("docker://{}", runtime_reference(&source.host(), version)),
    ]));
    let proxy = AuthProxy::start(&source, Guard::Everything).await;
    proxy.expect_login("puller", "pull-secret");
    (source, proxy)
}

#[tokio::test]
async fn a_prebuilt_image_from_another_registry_is_pulled_with_its_own_login_never_the_token() {
    let setup = Setup::start_with_push_login(Path::new(BIN), "12.2.0").await;
    let (_source, source_login) = private_registry_with(&setup, "12.3.0").await;
    let prebuilt = runtime_reference(&source_login.host(), "12.3.0");
    let args = setup.deploy_args(
        &setup.deployment(),
        &["--type", "image", "--image-name", &prebuilt],
    );

    let out = setup
        .run_with_env(
            &args,
            &[
                ("ASTRO_SOURCE_REGISTRY_USER", "puller"),
                ("ASTRO_SOURCE_REGISTRY_PASSWORD", "pull-secret"),
            ],
        )
        .await
        .ok();

    assert_eq!(out["image"]["route"], "prebuilt");
    assert!(out["image"]["layersUploaded"].as_u64().unwrap() >= 1);
    let token = setup.emulator.info().api_token.clone();
    let pulled_with = source_login.authorizations();
    assert!(
        !pulled_with.is_empty(),
        "the source registry asked for a login"
    );
    assert!(
        pulled_with
            .iter()
            .all(|login| login == "puller:pull-secret"),
        "the source registry got the logins of {:?}",
        users(&pulled_with)
    );
    assert!(!pulled_with.iter().any(|login| login.contains(&token)));
    let pushed_with = setup.push_login.as_ref().unwrap().authorizations();
    assert!(!pushed_with.is_empty(), "the push target asked for a login");
    assert!(
        pushed_with
            .iter()
            .all(|login| *login == format!("cli:{token}")),
        "the push logs in as `cli` with the API token, not as {:?}",
        users(&pushed_with)
    );
}

#[tokio::test]
async fn skipped_checks_are_said_on_stderr() {
    let setup = setup("12.2.0").await;

    let run = setup
        .deploy(&["--type", "image-and-dags", "--skip-checks", "--dry-run"])
        .await;

    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr
            .contains("--skip-checks: no tests or DAG imports run before the push"),
        "{}",
        run.stderr
    );
    assert_eq!(run.json()["image"]["checksSkipped"], true, "{}", run.stdout);
    assert_eq!(setup.posted_deploys(), 0, "a dry run changes nothing");
}

/// A child process that is killed when the test ends, passing or not.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_emulator_binary_hands_out_image_repositories_on_the_registry_it_is_given() {
    let registry = "127.0.0.1:5999";
    let mut emulator = Killed(
        std::process::Command::new(BIN)
            .args(["emulator", "--listen", "127.0.0.1:0"])
            .args(["--registry", registry])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(emulator.0.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let info: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let deployment = info["deployments"]["dagsEnabled"].as_str().unwrap();
    let url = format!(
        "{}/platform/v1beta1/organizations/{}/deployments/{deployment}",
        info["baseUrl"].as_str().unwrap(),
        info["organizationId"].as_str().unwrap(),
    );
    let http = reqwest::Client::new();
    let token = info["apiToken"].as_str().unwrap();

    let found: Value = http
        .get(&url)
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let created: Value = http
        .post(format!("{url}/deploys"))
        .bearer_auth(token)
        .json(&serde_json::json!({"type": "IMAGE_AND_DAG"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    drop(emulator);

    for answer in [&found, &created] {
        let repository = answer["imageRepository"].as_str().unwrap_or_default();
        assert!(repository.starts_with(&format!("{registry}/")), "{answer}");
    }
}

#[tokio::test]
async fn without_a_source_login_another_registry_is_asked_anonymously() {
    let setup = Setup::start_with_push_login(Path::new(BIN), "12.2.0").await;
    let (_source, source_login) = private_registry_with(&setup, "12.3.0").await;
    let prebuilt = runtime_reference(&source_login.host(), "12.3.0");

    let run = setup
        .deploy(&["--type", "image", "--image-name", &prebuilt])
        .await;

    assert_ne!(run.code, 0, "a private registry refuses an anonymous pull");
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    let sent = source_login.authorizations();
    assert!(
        sent.is_empty(),
        "logins went to the source registry, of {:?}",
        users(&sent)
    );
    assert_eq!(setup.posted_deploys(), 0);
}

/// The users of `user:password` logins, for failure messages that show no password.
fn users(logins: &[String]) -> Vec<&str> {
    logins
        .iter()
        .map(|l| l.split(':').next().unwrap_or(""))
        .collect()
}

async fn get_deployment(setup: &Setup) -> Value {
    get_deployment_by_id(setup, &setup.deployment()).await
}

#[tokio::test]
async fn without_dag_deploys_the_dags_ship_inside_the_image() {
    let setup = setup("12.2.0").await;
    let id = setup.emulator.info().deployments.dags_disabled.clone();

    let out = setup
        .deploy_to(
            &id,
            &["--type", "image-and-dags", "--wait", "--branch", "main"],
        )
        .await
        .ok();

    assert_eq!(out["deployType"], "IMAGE_AND_DAG");
    assert!(out["bundle"].is_null(), "no bundle: {out}");
    assert!(out["bundleVersion"].is_null());
    assert_eq!(out["state"], "live");
    let work = tempfile::tempdir().unwrap();
    let image = tree(&setup.unpack(out["image"]["reference"].as_str().unwrap(), work.path()));
    assert!(
        image.contains_key("usr/local/airflow/dags/example_etl.py"),
        "DAGs in the image"
    );

    let refused = setup
        .deploy_to(&id, &["--type", "image", "--branch", "main"])
        .await;
    assert_eq!(refused.code, 6, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("need DAG deploys"),
        "{}",
        refused.stderr
    );
}

/// A development Deployment without CI/CD enforcement, made through the Platform API, which a
/// person may deploy to from a laptop with `--allow-local`.
async fn laptop_deployment(setup: &Setup) -> String {
    let base = get_deployment(setup).await;
    let body = serde_json::json!({
        "type": "STANDARD",
        "name": "laptop-dev",
        "workspaceId": base["workspaceId"],
        "astroRuntimeVersion": base["astroRuntimeVersion"],
        "executor": "CELERY",
        "isCicdEnforced": false,
        "isDagDeployEnabled": true,
        "isDevelopmentMode": true,
        "isHighAvailability": false,
        "schedulerSize": "SMALL",
        "defaultTaskPodCpu": "0.25",
        "defaultTaskPodMemory": "0.5Gi",
        "resourceQuotaCpu": "10",
        "resourceQuotaMemory": "20Gi",
    });
    let post = reqwest::Method::POST;
    let created =
        e2e_tests::cli::platform(&setup.emulator, post, "/deployments", Some(&body)).await;
    created["id"]
        .as_str()
        .expect("a created Deployment")
        .to_owned()
}

/// Quotes `arg` for `sh -c`.
fn sh_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', "'\\''"))
}

#[tokio::test]
async fn on_a_terminal_each_layer_gets_a_progress_bar() {
    let setup = setup("12.2.0").await;
    let id = laptop_deployment(&setup).await;
    // Wait until the new Deployment is up, as a person would before deploying to it.
    for _ in 0..100 {
        if get_deployment_by_id(&setup, &id).await["status"] == "HEALTHY" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let mut args = setup.deploy_args(&id, &["--type", "image-and-dags", "--allow-local"]);
    args.retain(|a| a != "--output" && a != "json");
    let command: Vec<String> = std::iter::once(BIN.to_owned()).chain(args).collect();
    let line = command
        .iter()
        .map(|a| sh_quote(a))
        .collect::<Vec<_>>()
        .join(" ");

    // `script` gives the run a pseudo-terminal, as a person's shell has, and records it.
    let output = tokio::process::Command::new("script")
        .args(["--quiet", "--return", "--command", &line, "/dev/null"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("TERM", "xterm-256color")
        .env("ASTRO_API_URL", setup.emulator.base_url())
        .env("ASTRO_API_TOKEN", &setup.emulator.info().api_token)
        .output()
        .await
        .expect("script (util-linux) runs");
    let screen = String::from_utf8_lossy(&output.stdout);

    assert_eq!(output.status.code(), Some(0), "{screen}");
    // Layers got bars of their own, named by digest, counting bytes. A bar is redrawn at most
    // about 20 times a second, so a small layer may come and go between two frames: the test
    // asks for bars, not for one per layer.
    let uploaded: Vec<&str> = screen
        .lines()
        .filter_map(|l| l.split(" layer ").nth(1)?.strip_suffix(" uploaded"))
        .collect();
    assert!(
        uploaded.len() >= 3,
        "a full build uploads its layers:\n{screen}"
    );
    let drawn = uploaded
        .iter()
        .filter(|digest| {
            [
                format!("  {digest} \u{2588}"),
                format!("  {digest} \u{2591}"),
            ]
            .iter()
            .any(|bar| screen.contains(bar.as_str()))
        })
        .count();
    assert!(drawn >= 1, "no layer bar was drawn:\n{screen}");
    assert!(screen.contains(" B/"), "no byte counts:\n{screen}");
    // A log line is written where the bars were lifted (right after the escape that erased
    // or moved over them, or on a fresh line), never appended to a drawn bar.
    let logged = "\u{1b}[32m INFO\u{1b}[0m layer ";
    for (at, _) in screen.match_indices(logged) {
        let before = screen[..at].chars().last();
        assert!(
            matches!(before, Some('\n' | 'A' | 'B' | 'K')),
            "a log line inside a bar: {:?}",
            &screen[at.saturating_sub(60)..at + logged.len()]
        );
    }
}

async fn get_deployment_by_id(setup: &Setup, id: &str) -> Value {
    e2e_tests::cli::get_deployment(&setup.emulator, id).await
}

/// `podman` and the options that make it build here: its own `vfs` storage, no cgroups
/// manager of systemd, and Buildah's `chroot` isolation for `RUN` steps (these machines cannot
/// start an OCI runtime's containers; a Podman host with one needs none of this).
fn podman_flags(store: &Path) -> Vec<String> {
    let mut flags = vec!["--builder".to_owned(), "podman".to_owned()];
    for global in [
        "--storage-driver=vfs".to_owned(),
        format!("--root={}", store.join("root").display()),
        format!("--runroot={}", store.join("runroot").display()),
        "--cgroup-manager=cgroupfs".to_owned(),
    ] {
        flags.push(format!("--builder-arg={global}"));
    }
    flags
}

#[tokio::test]
async fn podman_builds_and_pushes_an_image_deploy_too() {
    let setup = setup("12.2.0").await;
    let store = tempfile::tempdir().unwrap();
    let mut args = vec![
        "deploy".to_owned(),
        "--deployment-id".to_owned(),
        setup.deployment(),
        "--project".to_owned(),
        setup.project.path().display().to_string(),
        "--type".to_owned(),
        "image-and-dags".to_owned(),
        "--wait".to_owned(),
        "--output".to_owned(),
        "json".to_owned(),
    ];
    args.extend(podman_flags(store.path()));

    let output = tokio::process::Command::new(BIN)
        .args(&args)
        .env("ASTRO_API_URL", setup.emulator.base_url())
        .env("ASTRO_API_TOKEN", &setup.emulator.info().api_token)
        .env("CI", "true")
        .env("BUILDAH_ISOLATION", "chroot")
        .env("CONTAINERS_REGISTRIES_CONF", &setup.registries_conf)
        .env_remove("GITHUB_ACTIONS")
        .env_remove("GITLAB_CI")
        .output()
        .await
        .expect("astro-deploy runs");
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let deployed: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    assert_eq!(deployed["image"]["route"], "full-build", "{deployed}");
    assert_eq!(deployed["state"], "live");
    assert!(stderr.contains("with podman"), "{stderr}");
    // What podman built is in the registry, and is the project on the runtime image.
    let reference = deployed["image"]["reference"].as_str().unwrap();
    let unpacked = tempfile::tempdir().unwrap();
    let rootfs = setup.unpack(reference, unpacked.path());
    assert!(
        rootfs.join("usr/local/airflow/include").is_dir(),
        "the project is in the image"
    );
    assert!(
        !rootfs.join("usr/local/airflow/dags").exists(),
        "with DAG deploys on, the DAGs ship as a bundle, not in the image"
    );
}

#[tokio::test]
async fn build_args_and_secrets_reach_the_build_and_the_secret_stays_out_of_the_image() {
    let setup = setup("12.2.0").await;
    let secret = "index-url = https://user:s3cr3t-never-in-the-image@pypi.example/simple\n";
    let files = tempfile::tempdir().unwrap();
    let secret_file = files.path().join("pip.conf");
    std::fs::write(&secret_file, secret).unwrap();
    let dockerfile = std::fs::read_to_string(setup.project.path().join("Dockerfile")).unwrap();
    setup.write(
        "Dockerfile",
        &format!(
            "{dockerfile}ARG GREETING\n\
             RUN --mount=type=secret,id=pip_conf,uid=50000 sha256sum /run/secrets/pip_conf \
             > /usr/local/airflow/.pip-conf-sha256 \
             && echo \"$GREETING\" > /usr/local/airflow/.greeting\n"
        ),
    );
    let secret_flag = format!("id=pip_conf,src={}", secret_file.display());

    let run = setup
        .deploy(&[
            "--type",
            "image-and-dags",
            "--build-arg",
            "GREETING=hello from a build arg",
            "--build-secret",
            &secret_flag,
        ])
        .await;
    assert!(!run.stderr.contains("s3cr3t"), "the secret reached the log");
    let deployed = run.ok();

    assert_eq!(deployed["image"]["route"], "full-build", "{deployed}");
    let unpacked = tempfile::tempdir().unwrap();
    let rootfs = setup.unpack(
        deployed["image"]["reference"].as_str().unwrap(),
        unpacked.path(),
    );
    let greeting = std::fs::read_to_string(rootfs.join("usr/local/airflow/.greeting")).unwrap();
    assert_eq!(greeting, "hello from a build arg\n");
    use sha2::Digest as _;
    let digest = format!("{:x}", sha2::Sha256::digest(secret.as_bytes()));
    let seen = std::fs::read_to_string(rootfs.join("usr/local/airflow/.pip-conf-sha256")).unwrap();
    assert!(
        seen.starts_with(&digest),
        "the build read the secret: {seen}"
    );
    let mut leaked = Vec::new();
    for entry in walk(&rootfs) {
        if std::fs::read(&entry).is_ok_and(|bytes| bytes.windows(5).any(|w| w == b"s3cr3")) {
            leaked.push(entry);
        }
    }
    assert_eq!(
        leaked,
        Vec::<std::path::PathBuf>::new(),
        "the secret is in the image"
    );
}

/// Every regular file under `root`, without following links.
fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![root.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => folders.push(entry.path()),
                Ok(kind) if kind.is_file() => files.push(entry.path()),
                _ => {}
            }
        }
    }
    files
}
