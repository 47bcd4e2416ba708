//! The setup of the image deploy tests, shared by every test that runs the binary against a
//! registry, stand-in Astro Runtimes and the emulator: Debian's `docker-registry` on loopback,
//! the runtimes of [`crate::runtime_image`] pushed to it, an emulator whose Deployments push
//! there, a Buildah storage of the test's own, and a copy of the fixture project.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use emulator::{EmulatorConfig, RunningEmulator};
use serde_json::Value;

use crate::registry::{AuthProxy, Guard, LocalRegistry};
use crate::runtime_image::{
    build_runtime_image, insecure_registries_conf, runtime_reference, BuildahStore,
};

/// Everything one test deploys with: a registry, stand-in runtimes in it, an emulator whose
/// Deployments push there, a Buildah storage, and a copy of the fixture project.
pub struct ImageSetup {
    bin: PathBuf,
    pub registry: LocalRegistry,
    /// The login in front of the registry that the Deployments push to, when there is one.
    pub push_login: Option<AuthProxy>,
    pub emulator: RunningEmulator,
    pub store: BuildahStore,
    pub registries_conf: PathBuf,
    pub project: tempfile::TempDir,
    _files: tempfile::TempDir,
}

impl ImageSetup {
    /// Starts everything; `bin` is the `astro-deploy` binary the test runs.
    pub async fn start(bin: &Path, runtime: &str) -> ImageSetup {
        Self::start_with(bin, runtime, false).await
    }

    /// Like [`ImageSetup::start`], but the Deployments push through an [`AuthProxy`] that
    /// wants Astro's login for pushes (user `cli`, the API token as password) and lets anyone
    /// pull, as the emulator's image check does.
    pub async fn start_with_push_login(bin: &Path, runtime: &str) -> ImageSetup {
        Self::start_with(bin, runtime, true).await
    }

    async fn start_with(bin: &Path, runtime: &str, push_login: bool) -> ImageSetup {
        let registry = LocalRegistry::start();
        let host = registry.host();
        let versions = ["12.1.0", "12.2.0", "12.3.0"];
        tokio::task::spawn_blocking({
            let host = host.clone();
            move || build_runtime_image(&host, &versions)
        })
        .await
        .unwrap();

        let files = tempfile::tempdir().unwrap();
        let registries_conf = files.path().join("registries.conf");
        std::fs::write(&registries_conf, insecure_registries_conf(&host)).unwrap();

        let project = tempfile::tempdir().unwrap();
        copy_tree(
            &crate::repo_root().join("tests/fixtures/image-project"),
            project.path(),
        );
        // Git keeps no empty folders, but a COPY copies them: the fixture gets one here.
        std::fs::create_dir_all(project.path().join("include/empty")).unwrap();
        let dockerfile = format!("FROM {}\n", runtime_reference(&host, runtime));
        std::fs::write(project.path().join("Dockerfile"), dockerfile).unwrap();

        let push_login = match push_login {
            true => Some(AuthProxy::start(&registry, Guard::Writes).await),
            false => None,
        };
        let config = EmulatorConfig {
            registry_host: Some(push_login.as_ref().map_or(host, AuthProxy::host)),
            rollout_delay: Duration::from_millis(100),
            ..EmulatorConfig::default()
        };
        let emulator = emulator::start(config).await.unwrap();
        if let Some(proxy) = &push_login {
            proxy.expect_login("cli", &emulator.info().api_token);
        }
        ImageSetup {
            bin: bin.to_owned(),
            registry,
            push_login,
            emulator,
            store: BuildahStore::temporary(),
            registries_conf,
            project,
            _files: files,
        }
    }

    pub fn deployment(&self) -> String {
        self.emulator.info().deployments.dags_enabled.clone()
    }

    /// Runs `astro-deploy deploy` on the project with Buildah and `extra` flags.
    pub async fn deploy(&self, extra: &[&str]) -> Run {
        self.deploy_to(&self.deployment(), extra).await
    }

    pub async fn deploy_to(&self, deployment_id: &str, extra: &[&str]) -> Run {
        let args = self.deploy_args(deployment_id, extra);
        self.run(&args).await
    }

    /// The arguments of `astro-deploy deploy` to `deployment_id` with `extra` flags.
    pub fn deploy_args(&self, deployment_id: &str, extra: &[&str]) -> Vec<String> {
        let mut args: Vec<String> = vec![
            "deploy".into(),
            "--deployment-id".into(),
            deployment_id.to_owned(),
            "--project".into(),
            self.project.path().display().to_string(),
            "--output".into(),
            "json".into(),
        ];
        args.extend(self.builder_flags());
        args.extend(extra.iter().map(|arg| arg.to_string()));
        args
    }

    /// The flags that make the binary build with this setup's Buildah storage and registry.
    pub fn builder_flags(&self) -> Vec<String> {
        let mut globals = self.store.global_args();
        globals.push("--registries-conf".into());
        globals.push(self.registries_conf.display().to_string());
        let mut flags = vec!["--builder".to_owned(), "buildah".to_owned()];
        flags.extend(
            globals
                .into_iter()
                .map(|arg| format!("--builder-arg={arg}")),
        );
        flags
    }

    /// Runs the binary with `args` against the emulator as a generic CI job (`CI=true`, no
    /// GitHub or GitLab variables), and checks that the token appears nowhere in what it
    /// printed.
    pub async fn run(&self, args: &[String]) -> Run {
        self.run_with_env(args, &[]).await
    }

    /// [`ImageSetup::run`] with `env` set as well.
    pub async fn run_with_env(&self, args: &[String], env: &[(&str, &str)]) -> Run {
        let token = self.emulator.info().api_token.clone();
        let output = tokio::process::Command::new(&self.bin)
            .args(args)
            .envs(env.iter().copied())
            .env("ASTRO_API_URL", self.emulator.base_url())
            .env("ASTRO_API_TOKEN", &token)
            .env("CI", "true")
            .env_remove("GITHUB_ACTIONS")
            .env_remove("GITLAB_CI")
            .output()
            .await
            .unwrap();
        let run = Run {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        };
        assert!(
            !run.stdout.contains(&token) && !run.stderr.contains(&token),
            "token leaked"
        );
        run
    }

    pub fn write(&self, relative: &str, content: &str) {
        let path = self.project.path().join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    pub fn posted_deploys(&self) -> usize {
        let exchanges = self.emulator.exchanges();
        exchanges
            .iter()
            .filter(|e| e.method == "POST" && e.path.ends_with("/deploys"))
            .count()
    }

    /// Unpacks a pushed image with skopeo and umoci, independently of astro-deploy's code.
    pub fn unpack(&self, reference: &str, into: &Path) -> PathBuf {
        let layout = into.join("layout");
        let bundle = into.join("bundle");
        std::fs::create_dir_all(into).unwrap();
        run_tool(Command::new("skopeo").args([
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{reference}"),
            &format!("oci:{}:image", layout.display()),
        ]));
        run_tool(Command::new("umoci").args([
            "unpack",
            "--image",
            &format!("{}:image", layout.display()),
            &bundle.display().to_string(),
        ]));
        bundle.join("rootfs")
    }
}

/// What one run of the binary printed and how it exited.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\n{}",
                self.stdout, self.stderr
            )
        })
    }

    pub fn ok(self) -> Value {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self.json()
    }
}

pub fn run_tool(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("{command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Copies a tree with its modes, keeping symlinks as symlinks.
pub fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        let kind = entry.file_type().unwrap();
        if kind.is_symlink() {
            let link = std::fs::read_link(entry.path()).unwrap();
            std::os::unix::fs::symlink(link, &target).unwrap();
        } else if kind.is_dir() {
            std::fs::create_dir_all(&target).unwrap();
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}
