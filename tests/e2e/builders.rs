//! Building project images with a real builder: Buildah (`vfs` storage, `chroot` isolation)
//! builds `tests/fixtures/image-project` on the stand-in Astro Runtime image, pulled from a
//! real registry on loopback, and the tests look at what came out as a user's deploy would.
//!
//! The stand-in images and the project image are made once per test binary and shared. The
//! registry runs only while they are made: builds after that find the base image in Buildah's
//! storage. That storage and every other file live under one temporary folder, which a
//! watchdog removes when the test binary exits (statics are never dropped).

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use deploy::image::builder::{
    detect, parse_command, pytest_command, BuildRequest, BuildSecret, Builder, BuilderError,
    BuilderOptions, BuiltImage, ImageBuilder, Mount,
};
use e2e_tests::runtime_image::{
    build_runtime_image, insecure_registries_conf, runtime_reference, BuildahStore, ASTRO_UID,
    BROKEN_DAG_MARKER, PYTEST_FAIL_MARKER, PYTHON_REQUIREMENTS_RECORD, RUNTIME_VERSION_LABEL,
    SYSTEM_PACKAGES_RECORD,
};
use sha2::{Digest, Sha256};

const BASE_VERSION: &str = "12.2.0";
const UPGRADE_VERSION: &str = "12.3.0";
const TAG: &str = "astro-deploy-test/image-project:builders";
const GREETING: &str = "hello from a build arg";
const PIP_CONF: &str = "[global]\nindex-url = https://user:not-a-real-password@pypi.example\n";
const COMMIT_LABEL: (&str, &str) = ("io.astronomer.deploy.commit", "0123abc");

/// Adds a build argument and a build secret to what the ONBUILD triggers do.
const DOCKERFILE_TAIL: &str = "\
ARG GREETING
RUN --mount=type=secret,id=pip_conf,uid=50000 \\
    sha256sum /run/secrets/pip_conf > /usr/local/airflow/.pip-conf-sha256 \\
    && echo \"$GREETING\" > /usr/local/airflow/.greeting
";

/// What every test shares: made by the first test that asks.
struct Shared {
    run_dir: PathBuf,
    builder: ImageBuilder,
    /// The base image the project was built on, as named in its Dockerfile.
    base_image: String,
    /// `skopeo inspect` of each stand-in runtime image in the registry, by version.
    pushed_runtimes: Vec<(String, serde_json::Value)>,
    /// The copy of the fixture project that was built.
    project: PathBuf,
    project_hash_before: String,
    project_hash_after: String,
    built: BuiltImage,
    build_lines: Vec<String>,
    /// The image's filesystem, unpacked from the exported OCI layout by umoci.
    rootfs: PathBuf,
    /// The image's config, read from the OCI layout.
    config: serde_json::Value,
    _cleanup: Mutex<Child>,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

fn shared() -> &'static Shared {
    SHARED.get_or_init(make_shared)
}

fn make_shared() -> Shared {
    let run_dir = tempfile::TempDir::with_prefix("builders-")
        .unwrap_or_else(|e| panic!("creating the run folder: {e}"))
        .keep();
    let cleanup = remove_at_exit(&run_dir);
    let registry = Registry::start(&run_dir);
    let registry_host = registry.host.clone();

    let runtime = build_runtime_image(&registry_host, &[BASE_VERSION, UPGRADE_VERSION]);
    eprintln!(
        "stand-in runtime images built and pushed in {:?}",
        runtime.took
    );

    let pushed_runtimes = [BASE_VERSION, UPGRADE_VERSION]
        .map(|version| {
            let reference = runtime_reference(&registry_host, version);
            (version.to_owned(), skopeo_inspect(&reference))
        })
        .to_vec();

    let builder = buildah_builder(&run_dir, &registry_host);
    let base_image = runtime_reference(&registry_host, BASE_VERSION);
    let project = copy_fixture(&run_dir.join("project"));
    write_file(
        &project.join("Dockerfile"),
        &format!("FROM {base_image}\n{DOCKERFILE_TAIL}"),
    );
    let secret = run_dir.join("pip.conf");
    write_file(&secret, PIP_CONF);

    let project_hash_before = tree_hash(&project);
    let mut request = BuildRequest::new(&project, TAG);
    request.exclude_dags = true;
    request.build_args = vec![("GREETING".to_owned(), GREETING.to_owned())];
    request.secrets = vec![
        BuildSecret::parse(&format!("id=pip_conf,src={}", secret.display()))
            .unwrap_or_else(|e| panic!("{e}")),
    ];
    request.labels = vec![(COMMIT_LABEL.0.to_owned(), COMMIT_LABEL.1.to_owned())];

    let lines = Mutex::new(Vec::new());
    let started = Instant::now();
    let built = block_on(builder.build(&request, &|line| push_line(&lines, line)))
        .unwrap_or_else(|e| panic!("{}", report(&e)));
    let build_took = started.elapsed();
    eprintln!("project image built in {build_took:?}");

    let layout = run_dir.join("layout");
    let exported = block_on(builder.export_oci_layout(TAG, &layout))
        .unwrap_or_else(|e| panic!("{}", report(&e)));
    let project_hash_after = tree_hash(&project);
    drop(registry);

    let bundle = run_dir.join("bundle");
    let image = format!("{}:{}", layout.display(), exported.reference);
    run(Command::new("umoci")
        .args(["unpack", "--image", &image])
        .arg(&bundle));
    let config = image_config(&layout, &exported.reference);

    Shared {
        builder,
        base_image,
        pushed_runtimes,
        project,
        project_hash_before,
        project_hash_after,
        built,
        build_lines: lines.into_inner().unwrap_or_else(|e| e.into_inner()),
        rootfs: bundle.join("rootfs"),
        config,
        run_dir,
        _cleanup: Mutex::new(cleanup),
    }
}

#[test]
fn the_image_has_the_project_without_dags_owned_by_astro() {
    let shared = shared();
    let home = shared.rootfs.join("usr/local/airflow");

    assert!(!home.join("dags").exists(), "dags/ is in the image");
    for file in [
        "Dockerfile",
        "README.md",
        "requirements.txt",
        "packages.txt",
        ".dockerignore",
        "include/report.sql",
        "tests/test_dag_integrity.py",
        "plugins/.gitkeep",
    ] {
        let meta = std::fs::symlink_metadata(home.join(file))
            .unwrap_or_else(|e| panic!("`{file}` is not in the image: {e}"));
        assert_eq!(
            (meta.uid(), meta.gid()),
            (ASTRO_UID, 0),
            "owner of `{file}`"
        );
    }
    for ignored in [".env", "airflow_settings.yaml"] {
        assert!(!home.join(ignored).exists(), "`{ignored}` was not left out");
    }
    assert_eq!(
        read(&home.join("include/report.sql")),
        read(&shared.project.join("include/report.sql"))
    );
}

#[test]
fn the_users_project_is_not_touched_by_a_build_without_dags() {
    let shared = shared();

    assert_eq!(shared.project_hash_before, shared.project_hash_after);
    let mut names: Vec<String> = std::fs::read_dir(&shared.project)
        .unwrap_or_else(|e| panic!("{e}"))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.contains(&"dags".to_owned()));
    assert!(
        !names
            .iter()
            .any(|name| name.contains("ignore") && name != ".dockerignore"),
        "{names:?}"
    );
    assert_eq!(
        read(&shared.project.join(".dockerignore")),
        read(&e2e_tests::repo_root().join("tests/fixtures/image-project/.dockerignore"))
    );
}

#[test]
fn the_onbuild_triggers_of_the_base_image_install_the_projects_dependencies() {
    let shared = shared();

    let system = read(
        &shared
            .rootfs
            .join(SYSTEM_PACKAGES_RECORD.trim_start_matches('/')),
    );
    let python = read(
        &shared
            .rootfs
            .join(PYTHON_REQUIREMENTS_RECORD.trim_start_matches('/')),
    );

    let packages = read(&shared.project.join("packages.txt"));
    let requirements = read(&shared.project.join("requirements.txt"));
    assert_eq!(system, format!("uid=0\n{packages}"));
    assert_eq!(python, format!("uid={ASTRO_UID}\n{requirements}"));
    let recorded = "install-python-dependencies: recorded 2 requirements";
    assert!(
        shared
            .build_lines
            .iter()
            .any(|line| line.contains(recorded)),
        "the build's lines did not reach the callback:\n{}",
        shared.build_lines.join("\n")
    );
}

#[test]
fn build_args_secrets_and_labels_reach_the_build() {
    let shared = shared();
    let home = shared.rootfs.join("usr/local/airflow");

    assert_eq!(read(&home.join(".greeting")), format!("{GREETING}\n"));
    let secret_hash = format!("{:x}", Sha256::digest(PIP_CONF.as_bytes()));
    assert_eq!(
        read(&home.join(".pip-conf-sha256")),
        format!("{secret_hash}  /run/secrets/pip_conf\n")
    );
    assert!(!shared.rootfs.join("run/secrets/pip_conf").exists());

    let labels = &shared.config["config"]["Labels"];
    assert_eq!(labels[COMMIT_LABEL.0], COMMIT_LABEL.1, "{labels}");
    assert_eq!(labels[RUNTIME_VERSION_LABEL], BASE_VERSION, "{labels}");
    assert_eq!(shared.config["architecture"], "amd64");
    assert!(
        shared.built.image_id.starts_with("sha256:"),
        "{:?}",
        shared.built
    );
}

#[test]
fn both_runtime_versions_are_in_the_registry() {
    let shared = shared();

    assert_eq!(shared.pushed_runtimes.len(), 2);
    for (version, inspected) in &shared.pushed_runtimes {
        assert_eq!(inspected["Labels"][RUNTIME_VERSION_LABEL], version.as_str());
    }
    assert!(shared
        .base_image
        .ends_with("/astronomer/astro-runtime:12.2.0"));
}

#[test]
fn pytest_passes_in_the_built_image() {
    let shared = shared();
    let lines = Mutex::new(Vec::new());

    let outcome = block_on(
        shared
            .builder
            .run_in_image(TAG, &pytest_command(None), &[], &|line| {
                push_line(&lines, line)
            }),
    )
    .unwrap_or_else(|e| panic!("{}", report(&e)));

    assert!(outcome.passed, "{}", outcome.output);
    assert_eq!(outcome.exit_code, Some(0));
    assert!(
        outcome.output.contains(" 2 passed in "),
        "{}",
        outcome.output
    );
    assert_eq!(
        lines.into_inner().ok().map(|l| l.join("\n")),
        Some(outcome.output)
    );
}

#[test]
fn a_failing_pytest_shows_its_whole_output_in_order() {
    let shared = shared();
    let tests = shared.run_dir.join("failing-tests");
    copy_dir(&shared.project.join("tests"), &tests);
    let details: Vec<String> = (1..=60)
        .map(|n| format!("failure detail line {n:02}"))
        .collect();
    let marker = tests.join(PYTEST_FAIL_MARKER.trim_start_matches("tests/"));
    write_file(&marker, &format!("{}\n", details.join("\n")));
    let mount = Mount {
        source: tests,
        target: "/usr/local/airflow/tests".to_owned(),
        read_only: true,
    };

    let outcome = block_on(shared.builder.run_in_image(
        TAG,
        &pytest_command(Some("tests/")),
        &[mount],
        &|_| {},
    ))
    .unwrap_or_else(|e| panic!("{}", report(&e)));

    assert!(!outcome.passed);
    assert_eq!(outcome.exit_code, Some(1));
    let output = &outcome.output;
    let at = |text: &str| {
        output
            .find(text)
            .unwrap_or_else(|| panic!("`{text}` is missing from the output:\n{output}"))
    };
    assert!(at("test session starts") < at("failure detail line 01"));
    assert!(at("failure detail line 60") < at("E   AssertionError"));
    // Written to standard error between two lines of standard output.
    assert!(at("E   AssertionError") < at("test_dag_integrity.py:12: AssertionError"));
    assert!(at("test_dag_integrity.py:12: AssertionError") < at("short test summary info"));
    assert!(at("short test summary info") < at("1 failed, 1 passed"));

    let error = outcome
        .ensure_passed("pytest tests/", TAG)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        error.starts_with(&format!(
            "the check `pytest tests/` failed in image `{TAG}` (exited with code 1)"
        )),
        "{error}"
    );
    for detail in &details {
        assert!(
            error.contains(detail.as_str()),
            "`{detail}` is missing:\n{error}"
        );
    }
}

#[test]
fn the_parse_check_reads_the_mounted_dags_and_reports_import_errors() {
    let shared = shared();
    let parse = parse_command();

    let without_dags = block_on(shared.builder.run_in_image(TAG, &parse, &[], &|_| {}))
        .unwrap_or_else(|e| panic!("{}", report(&e)));
    let mounted = Mount::project_dags(&shared.project);
    let with_dags = block_on(
        shared
            .builder
            .run_in_image(TAG, &parse, &[mounted], &|_| {}),
    )
    .unwrap_or_else(|e| panic!("{}", report(&e)));

    let broken = shared.run_dir.join("broken-project");
    std::fs::create_dir_all(&broken).unwrap_or_else(|e| panic!("{e}"));
    copy_dir(&shared.project.join("dags"), &broken.join("dags"));
    write_file(
        &broken.join("dags/broken.py"),
        &format!("import {BROKEN_DAG_MARKER}\n"),
    );
    let mounted = Mount::project_dags(&broken);
    let failed = block_on(
        shared
            .builder
            .run_in_image(TAG, &parse, &[mounted], &|_| {}),
    )
    .unwrap_or_else(|e| panic!("{}", report(&e)));

    let dags = "/usr/local/airflow/dags";
    assert!(without_dags
        .output
        .ends_with(&format!("parsed 0 DAGs from {dags}; 0 import errors")));
    assert!(with_dags.passed, "{}", with_dags.output);
    assert!(with_dags
        .output
        .ends_with(&format!("parsed 2 DAGs from {dags}; 0 import errors")));
    assert!(!failed.passed);
    assert_eq!(failed.exit_code, Some(1));
    assert!(failed
        .output
        .contains(&format!("import error in {dags}/broken.py:")));
    assert!(failed
        .output
        .contains("ModuleNotFoundError: No module named 'BROKEN'"));
}

#[test]
fn a_failed_build_shows_its_command_and_last_lines_but_no_build_arg_value() {
    let shared = shared();
    let project = shared.run_dir.join("failing-project");
    std::fs::create_dir_all(&project).unwrap_or_else(|e| panic!("{e}"));
    write_file(&project.join("requirements.txt"), "");
    write_file(&project.join("packages.txt"), "");
    write_file(
        &project.join("Dockerfile"),
        &format!(
            "FROM {}\nRUN echo \"failing on purpose\" && exit 3\n",
            shared.base_image
        ),
    );
    let mut request = BuildRequest::new(&project, "astro-deploy-test/failing:1");
    request.build_args = vec![("TOKEN".to_owned(), "s3cr3t-build-arg-value".to_owned())];

    let error = block_on(shared.builder.build(&request, &|_| {}))
        .err()
        .unwrap_or_else(|| panic!("the build passed"));

    let text = error.to_string();
    assert!(
        matches!(error, BuilderError::CommandFailed { .. }),
        "{text}"
    );
    assert!(
        text.contains(" bud --isolation chroot --format docker "),
        "{text}"
    );
    assert!(text.contains("--build-arg 'TOKEN=<redacted>'"), "{text}");
    assert!(text.contains("failing on purpose"), "{text}");
    assert!(!text.contains("s3cr3t"), "{text}");
}

#[test]
fn detect_skips_a_docker_without_engine_and_finds_buildah() {
    let bin = fake_bin(
        "no-engine",
        "echo 'github.com/docker/buildx v0.23.0'",
        NO_ENGINE,
    );

    let found = block_on(detect(None, bin.as_os_str())).unwrap_or_else(|e| panic!("{e}"));
    let docker = block_on(detect(Some("docker"), bin.as_os_str())).err();

    assert_eq!(found.builder(), Builder::Buildah);
    assert_eq!(found.program(), bin.join("buildah"));
    let docker = docker.map(|e| e.to_string()).unwrap_or_default();
    assert_eq!(
        docker,
        format!(
            "the image builder `docker` cannot be used: `{}` reaches no engine: Cannot connect \
             to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?",
            bin.join("docker").display()
        )
    );
}

#[test]
fn detect_prefers_a_working_docker() {
    let bin = fake_bin(
        "engine",
        "echo 'github.com/docker/buildx v0.23.0'",
        "echo 28.2.2",
    );

    let found = block_on(detect(None, bin.as_os_str())).unwrap_or_else(|e| panic!("{e}"));

    assert_eq!(found.builder(), Builder::Docker);
}

#[test]
fn a_missing_builder_is_refused_with_what_was_tried_and_a_hint() {
    let bin = fake_bin(
        "no-buildx",
        "echo \"docker: unknown command: docker buildx\" >&2; exit 1",
        NO_ENGINE,
    );
    let empty = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));

    let podman = block_on(detect(Some("podman"), bin.as_os_str())).err();
    let none = block_on(detect(None, empty.path().as_os_str())).err();
    let no_buildx = block_on(detect(Some("Docker"), bin.as_os_str())).err();

    let podman = podman.unwrap_or_else(|| panic!("podman was found"));
    assert_eq!(
        podman.to_string(),
        "the image builder `podman` cannot be used: not found on PATH"
    );
    assert!(podman.hint().unwrap_or_default().contains("--builder"));
    let none = none.unwrap_or_else(|| panic!("a builder was found in an empty folder"));
    assert_eq!(
        none.to_string(),
        "no image builder was found; tried docker (not found on PATH), podman (not found on \
         PATH), buildah (not found on PATH)"
    );
    assert!(none
        .hint()
        .unwrap_or_default()
        .contains("or pass --builder"));
    let no_buildx = no_buildx.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        no_buildx.ends_with("has no buildx plugin: docker: unknown command: docker buildx"),
        "{no_buildx}"
    );
}

const NO_ENGINE: &str =
    "echo 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. \
                         Is the docker daemon running?' >&2; exit 1";

/// A folder with a fake `docker` (answering `buildx version` and `info` with the given shell
/// lines) and a link to the real `buildah`.
fn fake_bin(name: &str, buildx: &str, info: &str) -> PathBuf {
    let bin = shared_or_temp_dir().join(format!("bin-{name}"));
    std::fs::create_dir_all(&bin).unwrap_or_else(|e| panic!("{e}"));
    let docker = bin.join("docker");
    write_file(
        &docker,
        &format!("#!/bin/sh\ncase \"$1\" in\n  buildx) {buildx} ;;\n  info) {info} ;;\nesac\n"),
    );
    set_executable(&docker);
    let buildah = which("buildah");
    let link = bin.join("buildah");
    if !link.exists() {
        std::os::unix::fs::symlink(&buildah, &link).unwrap_or_else(|e| panic!("{e}"));
    }
    bin
}

/// Detection tests need no image: they use a folder of their own, removed with the process.
fn shared_or_temp_dir() -> PathBuf {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap_or_else(|e| panic!("{e}")))
        .path()
        .to_path_buf()
}

fn buildah_builder(run_dir: &Path, registry_host: &str) -> ImageBuilder {
    let registries_conf = run_dir.join("registries.conf");
    write_file(&registries_conf, &insecure_registries_conf(registry_host));
    let mut global_args = BuildahStore::at(&run_dir.join("storage")).global_args();
    global_args.push("--registries-conf".to_owned());
    global_args.push(registries_conf.display().to_string());

    ImageBuilder::new(Builder::Buildah, which("buildah")).with_options(BuilderOptions {
        extra_global_args: global_args,
    })
}

/// Starts a shell that removes `dir` when this process exits: its stdin is a pipe from this
/// process, which the kernel closes then.
fn remove_at_exit(dir: &Path) -> Child {
    Command::new("sh")
        .args(["-c", "read _ignored; rm -rf \"$1\"", "cleanup"])
        .arg(dir)
        .stdin(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("starting the cleanup shell: {e}"))
}

/// `docker-registry` on a free loopback port, storing under `run_dir`; killed when dropped.
///
/// A stopgap until `tests/support/registry.rs` lands: it is written the same way, so switching
/// is a matter of calling `LocalRegistry::start()`.
struct Registry {
    child: Child,
    host: String,
}

impl Registry {
    fn start(run_dir: &Path) -> Registry {
        let port = TcpListener::bind(("127.0.0.1", 0))
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .unwrap_or_else(|e| panic!("finding a free port: {e}"));
        let host = format!("127.0.0.1:{port}");
        let config = run_dir.join("registry.yml");
        write_file(
            &config,
            &format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    \
                 rootdirectory: {}\nhttp:\n  addr: {host}\n",
                run_dir.join("registry").display()
            ),
        );
        let log_path = run_dir.join("registry.log");
        let log = std::fs::File::create(&log_path).unwrap_or_else(|e| panic!("{e}"));
        let log_err = log.try_clone().unwrap_or_else(|e| panic!("{e}"));

        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .unwrap_or_else(|e| {
                panic!("starting docker-registry: {e}; `apt-get install docker-registry`")
            });
        let registry = Registry { child, host };

        let deadline = Instant::now() + Duration::from_secs(15);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if Instant::now() > deadline {
                panic!(
                    "docker-registry did not listen on {}; its log:\n{}",
                    registry.host,
                    std::fs::read_to_string(&log_path).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn skopeo_inspect(reference: &str) -> serde_json::Value {
    let output = run(Command::new("skopeo").args([
        "inspect",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]));
    serde_json::from_str(&output).unwrap_or_else(|e| panic!("{e}: {output}"))
}

/// The image config of `reference` in the OCI layout at `layout`.
fn image_config(layout: &Path, reference: &str) -> serde_json::Value {
    let blob = |digest: &serde_json::Value| -> serde_json::Value {
        let digest = digest.as_str().unwrap_or_default();
        let path = layout.join("blobs").join(digest.replacen(':', "/", 1));
        serde_json::from_str(&read(&path)).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let index: serde_json::Value = serde_json::from_str(&read(&layout.join("index.json")))
        .unwrap_or_else(|e| panic!("index.json: {e}"));
    let manifest = index["manifests"]
        .as_array()
        .and_then(|manifests| {
            manifests
                .iter()
                .find(|m| m["annotations"]["org.opencontainers.image.ref.name"] == reference)
        })
        .unwrap_or_else(|| panic!("`{reference}` is not in the layout's index: {index}"));
    blob(&blob(&manifest["digest"])["config"]["digest"])
}

/// sha256 over every path, kind, mode and content under `root`, in path order.
fn tree_hash(root: &Path) -> String {
    let mut entries = BTreeMap::new();
    collect(root, root, &mut entries);
    let mut hasher = Sha256::new();
    for (path, entry) in entries {
        hasher.update(path.as_bytes());
        hasher.update([0]);
        hasher.update(&entry);
        hasher.update([0]);
    }
    format!("{:x}", hasher.finalize())
}

fn collect(root: &Path, dir: &Path, entries: &mut BTreeMap<String, Vec<u8>>) {
    let listing = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in listing {
        let path = entry.unwrap_or_else(|e| panic!("{e}")).path();
        let meta = std::fs::symlink_metadata(&path).unwrap_or_else(|e| panic!("{e}"));
        let name = path
            .strip_prefix(root)
            .unwrap_or(&path)
            .display()
            .to_string();
        let mut entry = format!("{:o}:", meta.mode()).into_bytes();
        if meta.is_dir() {
            entries.insert(name, entry);
            collect(root, &path, entries);
        } else if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&path).unwrap_or_else(|e| panic!("{e}"));
            entry.extend(target.display().to_string().into_bytes());
            entries.insert(name, entry);
        } else {
            entry.extend(std::fs::read(&path).unwrap_or_else(|e| panic!("{e}")));
            entries.insert(name, entry);
        }
    }
}

fn copy_fixture(to: &Path) -> PathBuf {
    copy_dir(
        &e2e_tests::repo_root().join("tests/fixtures/image-project"),
        to,
    );
    to.to_path_buf()
}

fn copy_dir(from: &Path, to: &Path) {
    run(Command::new("cp").arg("-a").arg(from).arg(to));
}

fn which(program: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| panic!("`{program}` is not on PATH: `apt-get install {program}`"))
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("starting {command:?}: {e}"));
    if !output.status.success() {
        panic!(
            "{command:?} failed ({}):\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("building a runtime: {e}"))
        .block_on(future)
}

fn push_line(lines: &Mutex<Vec<String>>, line: &str) {
    if let Ok(mut lines) = lines.lock() {
        lines.push(line.to_owned());
    }
}

/// An error as the CLI shows it: the message, its causes and the hint.
fn report(error: &BuilderError) -> String {
    let mut text = format!("error: {error}");
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(&format!("\n  caused by: {cause}"));
        source = cause.source();
    }
    if let Some(hint) = error.hint() {
        text.push_str(&format!("\nhint: {hint}"));
    }
    text
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading `{}`: {e}", path.display()))
}

fn write_file(path: &Path, contents: &str) {
    let mut file =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    file.write_all(contents.as_bytes())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

fn set_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}
