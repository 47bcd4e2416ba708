//! Building a project's image with the builder the user already has: Docker (with buildx),
//! Podman or Buildah, each driven through its command line.
//!
//! [`detect`] picks the builder: the one named by `--builder`, or the first usable of Docker,
//! Podman and Buildah on a search list given by the caller (the core reads no environment).
//! Docker counts only when `docker buildx version` works and `docker info` reaches an engine;
//! Podman and Buildah count when they are on the list.
//!
//! [`ImageBuilder::build`] builds for `linux/amd64` in Docker's image format, which keeps the
//! `ONBUILD` triggers of Astro Runtime images working. It can leave `dags/` out of the image
//! without touching the user's files: the ignore rules are the project's own plus `dags`,
//! written to a temporary folder. Buildah and Podman take them with `--ignorefile`; BuildKit
//! has no such flag but reads `<Dockerfile>.dockerignore` beside the Dockerfile, so for Docker
//! the Dockerfile is copied into the temporary folder with its own ignore file and built with
//! the project as the context.
//!
//! Buildah and Podman build one layer per instruction (`--layers`), as Docker does, so that the
//! last layer of a project image holds the project files and nothing else: the code-only route
//! replaces exactly that layer. They build without their layer cache (`--no-cache`): it reuses
//! a cached `ENV` or `LABEL` set from an `ARG` even when the argument's value changed (reported
//! upstream as buildah issue 5501), which would ship a wrong setting without a word. On CI
//! runners that start empty this costs nothing; on a runner that keeps its storage,
//! dependencies are installed again on each full build. Turning the cache back on for Buildah
//! and Podman versions with the fix would win that back.
//!
//! [`ImageBuilder::export_oci_layout`] writes the built image as an OCI image layout, so that
//! it can be pushed without the builder. Docker does this through `docker save`, which writes
//! an OCI layout only from Docker 25 on; older versions are refused with a hint.
//!
//! [`ImageBuilder::run_in_image`] runs a command in the built image with the same builder: the
//! `--pytest` and `--parse` checks ([`pytest_command`], [`parse_command`]). A check that fails
//! carries its whole output, standard error merged into standard output inside the container
//! by the image's `/bin/sh` (Astro Runtime has one), since builders relay the two streams
//! apart and would reorder their lines.
//!
//! Every builder command runs with its standard output and standard error on one pipe, so its
//! lines reach the caller's callback in the order it wrote them, and are kept: an error shows
//! the command line and its last lines. Build argument values are shown as `<redacted>` in
//! command lines, since they may carry credentials; build secrets are passed by path and their
//! contents are never read here.
//!
//! Unix only: the merged output pipe and the executable check on the search list are Unix
//! calls.

use std::ffi::{OsStr, OsString};
use std::fmt;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// The platform Astro runs images on.
pub const DEFAULT_PLATFORM: &str = "linux/amd64";

/// Where an Astro project lives inside its image.
pub const AIRFLOW_HOME: &str = "/usr/local/airflow";

/// How many of a failed command's last output lines its error shows.
pub const ERROR_TAIL_LINES: usize = 40;

/// How long the probes of [`detect`] may take; `docker info` can hang on an unreachable engine.
const PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long to keep reading output after a command exited. A process it left behind can hold
/// the pipe open; its output is not waited for beyond this.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

const REDACTED: &str = "<redacted>";

/// The ignore rules appended to the project's own when `dags/` stays out of the image. The
/// second line also covers files under `dags/` that an earlier `!` exception would bring back.
const EXCLUDE_DAGS_RULES: &str =
    "# Added by astro-deploy: DAGs are deployed apart from the image.\ndags\ndags/**\n";

/// Imports every DAG file with Airflow's `DagBag`, prints each import error in full and exits 1
/// when there is any.
///
/// It runs without a metadata database or the Deployment's connections and variables: a DAG
/// that reads them at import time fails here though it may import on Astro. Mocking them, as
/// the Astro CLI's own parse test does, would close that gap.
pub const PARSE_SNIPPET: &str = r#"import os, sys
from airflow.models.dagbag import DagBag
dags = os.path.join(os.environ.get("AIRFLOW_HOME", "/usr/local/airflow"), "dags")
bag = DagBag(dags, include_examples=False)
for path, error in sorted(bag.import_errors.items()):
    print(f"import error in {path}:\n{error}")
print(f"parsed {len(bag.dags)} DAGs from {dags}; {len(bag.import_errors)} import errors")
sys.exit(1 if bag.import_errors else 0)
"#;

/// A tool that builds images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Builder {
    /// `docker buildx build`, with a running engine.
    Docker,
    Podman,
    Buildah,
}

impl Builder {
    /// Every builder, in the order [`detect`] tries them.
    pub const ALL: [Builder; 3] = [Builder::Docker, Builder::Podman, Builder::Buildah];

    /// The builder's name, which is also the name of its program.
    pub fn name(self) -> &'static str {
        match self {
            Builder::Docker => "docker",
            Builder::Podman => "podman",
            Builder::Buildah => "buildah",
        }
    }

    /// The builder named `name` (as given to `--builder`), ignoring case and surrounding spaces.
    pub fn from_name(name: &str) -> Result<Builder, BuilderError> {
        let wanted = name.trim();
        Builder::ALL
            .into_iter()
            .find(|builder| builder.name().eq_ignore_ascii_case(wanted))
            .ok_or_else(|| BuilderError::UnknownBuilder {
                name: name.to_owned(),
            })
    }
}

impl fmt::Display for Builder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A builder that could not be used, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    pub builder: Builder,
    pub reason: String,
}

impl fmt::Display for Unusable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.builder, self.reason)
    }
}

/// Settings of the builder itself, the same for every command it runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuilderOptions {
    /// Arguments put before the subcommand of every call: `--storage-driver vfs`, `--root DIR`
    /// or `--registries-conf FILE` for Buildah and Podman, `--context NAME` for Docker.
    pub extra_global_args: Vec<String>,
}

/// A file given to the build as a secret: `RUN --mount=type=secret,id=ID` reads it, and it is
/// not stored in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildSecret {
    pub id: String,
    pub src: PathBuf,
}

impl BuildSecret {
    /// Parses the `--build-secret` syntax of Docker: `id=NAME,src=PATH`, with `source` for
    /// `src` and an optional `type=file` (the only type supported).
    pub fn parse(input: &str) -> Result<BuildSecret, BuilderError> {
        let invalid = |reason: String| BuilderError::InvalidBuildSecret {
            input: input.to_owned(),
            reason,
        };

        let mut id = None;
        let mut src = None;
        for field in input.split(',') {
            let Some((key, value)) = field.split_once('=') else {
                return Err(invalid(format!("`{field}` is not KEY=VALUE")));
            };
            let slot = match key.trim() {
                "id" => &mut id,
                "src" | "source" => &mut src,
                "type" if value == "file" => continue,
                "type" => return Err(invalid(format!("the type `{value}` is not `file`"))),
                other => return Err(invalid(format!("`{other}` is not a known key"))),
            };
            if value.is_empty() {
                return Err(invalid(format!("`{key}` is empty")));
            }
            if slot.replace(value.to_owned()).is_some() {
                return Err(invalid(format!("`{key}` is given twice")));
            }
        }

        match (id, src) {
            (Some(id), Some(src)) => Ok(BuildSecret {
                id,
                src: PathBuf::from(src),
            }),
            (None, _) => Err(invalid("it has no `id`".to_owned())),
            (_, None) => Err(invalid("it has no `src`".to_owned())),
        }
    }
}

/// What to build.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildRequest {
    /// The build context.
    pub project_root: PathBuf,
    /// `None` means `project_root/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    pub tag: String,
    pub platform: String,
    pub build_args: Vec<(String, String)>,
    pub secrets: Vec<BuildSecret>,
    pub labels: Vec<(String, String)>,
    /// Leaves `dags/` out of the image, for Deployments that get their DAGs as a bundle.
    pub exclude_dags: bool,
}

impl BuildRequest {
    /// A request for `project_root` with its `Dockerfile`, for [`DEFAULT_PLATFORM`], with
    /// nothing else set.
    pub fn new(project_root: impl Into<PathBuf>, tag: impl Into<String>) -> BuildRequest {
        BuildRequest {
            project_root: project_root.into(),
            dockerfile: None,
            tag: tag.into(),
            platform: DEFAULT_PLATFORM.to_owned(),
            build_args: Vec::new(),
            secrets: Vec::new(),
            labels: Vec::new(),
            exclude_dags: false,
        }
    }

    /// The Dockerfile that is built.
    pub fn dockerfile_path(&self) -> PathBuf {
        match &self.dockerfile {
            Some(path) => path.clone(),
            None => self.project_root.join("Dockerfile"),
        }
    }
}

/// An image the builder now holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltImage {
    pub tag: String,
    /// The image id the builder reported, `sha256:<hex>` of the image's config.
    pub image_id: String,
}

/// An OCI image layout written by [`ImageBuilder::export_oci_layout`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OciLayout {
    pub dir: PathBuf,
    /// The `org.opencontainers.image.ref.name` of the image in `index.json`: its tag.
    pub reference: String,
}

/// A folder of the machine bound into the container of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub source: PathBuf,
    /// An absolute path inside the image.
    pub target: String,
    pub read_only: bool,
}

impl Mount {
    /// The project's `dags/`, read-only where the image expects it: how [`parse_command`] sees
    /// the DAGs of an image built without them.
    pub fn project_dags(project_root: &Path) -> Mount {
        Mount {
            source: project_root.join("dags"),
            target: format!("{AIRFLOW_HOME}/dags"),
            read_only: true,
        }
    }
}

/// How a command run in an image ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub passed: bool,
    /// `None` when the command was ended by a signal.
    pub exit_code: Option<i32>,
    /// Standard output and standard error together, in the order written, in full.
    pub output: String,
}

impl CheckOutcome {
    /// `self` when the check passed, else an error that carries the whole output. `check` names
    /// the check for the user, like `pytest tests/` or `parse`.
    pub fn ensure_passed(self, check: &str, image: &str) -> Result<Self, BuilderError> {
        if self.passed {
            return Ok(self);
        }
        Err(BuilderError::CheckFailed {
            check: check.to_owned(),
            image: image.to_owned(),
            exit_code: self.exit_code,
            output: self.output,
        })
    }
}

/// `argv` run by the image's `/bin/sh` with standard error sent to standard output. Builders
/// relay a container's two streams through pipes of their own, which reorders lines across
/// them; merged inside the container, they arrive as written.
fn merged_output(argv: &[String]) -> Vec<String> {
    let shell = ["/bin/sh", "-c", "exec \"$@\" 2>&1", "check"];
    shell
        .into_iter()
        .map(str::to_owned)
        .chain(argv.iter().cloned())
        .collect()
}

/// `pytest PATH` (default `tests/`), run from the project folder in the image.
pub fn pytest_command(path: Option<&str>) -> Vec<String> {
    vec!["pytest".to_owned(), path.unwrap_or("tests/").to_owned()]
}

/// `python -c` [`PARSE_SNIPPET`]: imports every DAG under `$AIRFLOW_HOME/dags` and fails on
/// import errors. An image built without `dags/` needs [`Mount::project_dags`].
pub fn parse_command() -> Vec<String> {
    vec![
        "python".to_owned(),
        "-c".to_owned(),
        PARSE_SNIPPET.to_owned(),
    ]
}

#[derive(Debug, thiserror::Error)]
pub enum BuilderError {
    #[error("`{name}` is not an image builder this tool knows (docker, podman, buildah)")]
    UnknownBuilder { name: String },

    #[error("the image builder `{builder}` cannot be used: {reason}")]
    Unavailable { builder: Builder, reason: String },

    #[error("no image builder was found; tried {}", list(.tried))]
    NoneFound { tried: Vec<Unusable> },

    #[error("`{input}` is not a build secret: {reason}")]
    InvalidBuildSecret { input: String, reason: String },

    #[error("the source `{}` of build secret `{id}` is not a file", .path.display())]
    SecretSourceMissing { id: String, path: PathBuf },

    #[error("the Dockerfile `{}` does not exist", .0.display())]
    NoDockerfile(PathBuf),

    #[error(
        "the path `{}` cannot be passed to {builder}: it contains `{character}`",
        .path.display()
    )]
    UnsupportedPath {
        path: PathBuf,
        builder: Builder,
        character: char,
    },

    #[error("{action} `{}`", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("starting `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "`{command}` {}; its last lines of output:\n{}",
        ended(.exit_code),
        .last_lines.join("\n")
    )]
    CommandFailed {
        command: String,
        exit_code: Option<i32>,
        last_lines: Vec<String>,
    },

    #[error("reading the output of `{command}`")]
    Output {
        command: String,
        #[source]
        source: io::Error,
    },

    #[error("`{command}` did not finish within {}s", .after.as_secs())]
    TimedOut { command: String, after: Duration },

    #[error("`docker save` of `{image}` wrote no OCI image layout (no `oci-layout` file)")]
    NotOciLayout { image: String },

    #[error(
        "the check `{check}` failed in image `{image}` ({}); its full output:\n{output}",
        ended(.exit_code)
    )]
    CheckFailed {
        check: String,
        image: String,
        exit_code: Option<i32>,
        output: String,
    },
}

fn list(tried: &[Unusable]) -> String {
    let names: Vec<String> = tried.iter().map(Unusable::to_string).collect();
    names.join(", ")
}

fn ended(exit_code: &Option<i32>) -> String {
    match exit_code {
        Some(code) => format!("exited with code {code}"),
        None => "was ended by a signal".to_owned(),
    }
}

impl BuilderError {
    pub fn hint(&self) -> Option<&'static str> {
        let hint = match self {
            BuilderError::UnknownBuilder { .. } => "pass --builder docker, podman or buildah",
            BuilderError::Unavailable {
                builder: Builder::Docker,
                ..
            } => {
                "start the Docker engine and install the buildx plugin, or pass --builder \
                 podman or --builder buildah"
            }
            BuilderError::Unavailable { .. } => {
                "install it, or pass --builder naming a builder that is installed"
            }
            BuilderError::NoneFound { .. } => {
                "install Docker (with buildx and a running engine), Podman or Buildah, or pass \
                 --builder naming one that is installed"
            }
            BuilderError::InvalidBuildSecret { .. } => "write it as id=NAME,src=PATH",
            BuilderError::SecretSourceMissing { .. } => "check the `src` path of the secret",
            BuilderError::NoDockerfile(_) => "an Astro project has a Dockerfile at its root",
            BuilderError::UnsupportedPath { .. } => "move or rename it",
            BuilderError::NotOciLayout { .. } => {
                "Docker writes an OCI layout with `docker save` from version 25 on: upgrade \
                 Docker, or build with --builder podman or --builder buildah"
            }
            BuilderError::CheckFailed { .. } => "the output above says what failed",
            BuilderError::Io { .. }
            | BuilderError::Spawn { .. }
            | BuilderError::Output { .. }
            | BuilderError::CommandFailed { .. }
            | BuilderError::TimedOut { .. } => return None,
        };
        Some(hint)
    }
}

/// Finds the builder to use: `preferred` when given (an error says why it cannot be used),
/// else the first usable of [`Builder::ALL`]. `search_path` is a `PATH`-like list of folders.
pub async fn detect(
    preferred: Option<&str>,
    search_path: &OsStr,
) -> Result<ImageBuilder, BuilderError> {
    if let Some(name) = preferred {
        let builder = Builder::from_name(name)?;
        return match probe(builder, search_path).await {
            Ok(program) => Ok(ImageBuilder::new(builder, program)),
            Err(reason) => Err(BuilderError::Unavailable { builder, reason }),
        };
    }

    let mut tried = Vec::new();
    for builder in Builder::ALL {
        match probe(builder, search_path).await {
            Ok(program) => {
                tracing::debug!(%builder, program = %program.display(), "image builder found");
                return Ok(ImageBuilder::new(builder, program));
            }
            Err(reason) => {
                tracing::debug!(%builder, %reason, "image builder skipped");
                tried.push(Unusable { builder, reason });
            }
        }
    }
    Err(BuilderError::NoneFound { tried })
}

/// The program of `builder` when it is usable, else why not.
async fn probe(builder: Builder, search_path: &OsStr) -> Result<PathBuf, String> {
    let Some(program) = find_program(builder.name(), search_path) else {
        return Err("not found on PATH".to_owned());
    };
    if builder != Builder::Docker {
        return Ok(program);
    }

    let docker = ImageBuilder::new(Builder::Docker, program.clone());
    for (args, failure) in [
        (&["buildx", "version"][..], "has no buildx plugin"),
        (
            &["info", "--format", "{{.ServerVersion}}"][..],
            "reaches no engine",
        ),
    ] {
        let mut command = docker.command();
        command.args(args.iter().copied());
        let answer = run_captured(&command, Some(PROBE_TIMEOUT))
            .await
            .map_err(|error| format!("`{command}` failed: {error}"))?;
        if !answer.status.success() || answer.stdout.trim().is_empty() {
            let said = answer
                .stderr
                .lines()
                .map(str::trim)
                .find(|line| !line.is_empty());
            let said = said.unwrap_or("no output");
            return Err(format!("`{}` {failure}: {said}", program.display()));
        }
    }
    Ok(program)
}

/// The first executable file named `name` in the folders of `search_path`.
fn find_program(name: &str, search_path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(search_path)
        .filter(|dir| !dir.as_os_str().is_empty())
        .map(|dir| dir.join(name))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .map(|meta| meta.is_file() && meta.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn last_line(text: &str) -> Option<&str> {
    text.lines().map(str::trim).rfind(|line| !line.is_empty())
}

/// A builder program and its options: builds, exports and runs images.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageBuilder {
    builder: Builder,
    program: PathBuf,
    options: BuilderOptions,
}

impl ImageBuilder {
    pub fn new(builder: Builder, program: impl Into<PathBuf>) -> ImageBuilder {
        ImageBuilder {
            builder,
            program: program.into(),
            options: BuilderOptions::default(),
        }
    }

    pub fn with_options(mut self, options: BuilderOptions) -> ImageBuilder {
        self.options = options;
        self
    }

    pub fn builder(&self) -> Builder {
        self.builder
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn options(&self) -> &BuilderOptions {
        &self.options
    }

    /// Builds `request`, passing each line the builder writes to `on_line`.
    pub async fn build(
        &self,
        request: &BuildRequest,
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<BuiltImage, BuilderError> {
        let dockerfile = request.dockerfile_path();
        if !dockerfile.is_file() {
            return Err(BuilderError::NoDockerfile(dockerfile));
        }
        for secret in &request.secrets {
            if !secret.src.is_file() {
                return Err(BuilderError::SecretSourceMissing {
                    id: secret.id.clone(),
                    path: secret.src.clone(),
                });
            }
        }

        let prepared = self.prepare(request, &dockerfile)?;
        let command = self.build_command(request, &prepared)?;
        tracing::info!(builder = %self.builder, tag = %request.tag, "building the image");
        run_streaming(&command, on_line)
            .await?
            .ensure_success(&command)?;

        let image_id =
            std::fs::read_to_string(&prepared.iid_file).map_err(|source| BuilderError::Io {
                action: "reading the image id the builder wrote to",
                path: prepared.iid_file.clone(),
                source,
            })?;
        Ok(BuiltImage {
            tag: request.tag.clone(),
            image_id: image_id.trim().to_owned(),
        })
    }

    /// Writes `image` into the OCI image layout `dir` (created when missing; an existing
    /// layout gets the image added), named by its tag.
    pub async fn export_oci_layout(
        &self,
        image: &str,
        dir: &Path,
    ) -> Result<OciLayout, BuilderError> {
        let reference = tag_of(image).to_owned();
        let layout = OciLayout {
            dir: dir.to_path_buf(),
            reference,
        };

        match self.builder {
            Builder::Buildah | Builder::Podman => {
                // The transport splits `oci:DIR:REF` at the first colon.
                self.refuse_in_path(dir, ':')?;
                let mut destination = OsString::from("oci:");
                destination.push(dir.as_os_str());
                destination.push(format!(":{}", layout.reference));

                let mut command = self.command();
                command.args(["push", image]).arg_os(destination);
                run_streaming(&command, &|_| {})
                    .await?
                    .ensure_success(&command)?;
            }
            Builder::Docker => self.docker_save(image, dir).await?,
        }
        Ok(layout)
    }

    /// Runs `argv` in a container of `image`, which the builder must already hold, passing each
    /// line of output to `on_line`. A command that fails is an outcome, not an error; an error
    /// means the builder could not run it. The image needs `/bin/sh`, which merges the
    /// command's standard error into its standard output so that the lines keep their order.
    pub async fn run_in_image(
        &self,
        image: &str,
        argv: &[String],
        mounts: &[Mount],
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<CheckOutcome, BuilderError> {
        let argv = &merged_output(argv);
        let finished = match self.builder {
            Builder::Buildah => self.buildah_run(image, argv, mounts, on_line).await?,
            Builder::Podman | Builder::Docker => {
                let command = self.run_command(image, argv, mounts)?;
                let finished = run_streaming(&command, on_line).await?;
                // 125 is the engine's own failure (no such image, bad flag), not the check's.
                if finished.status.code() == Some(125) {
                    return Err(finished.failure(&command));
                }
                finished
            }
        };

        Ok(CheckOutcome {
            passed: finished.status.success(),
            exit_code: finished.status.code(),
            output: finished.lines.join("\n"),
        })
    }

    /// `buildah from`, `buildah run`, then `buildah rm`, whatever the run gave.
    async fn buildah_run(
        &self,
        image: &str,
        argv: &[String],
        mounts: &[Mount],
        on_line: &(dyn Fn(&str) + Sync),
    ) -> Result<Finished, BuilderError> {
        let mut from = self.command();
        from.args(["from", "--pull=never", "--quiet", image]);
        let created = run_captured(&from, None).await?;
        let container = match last_line(&created.stdout) {
            Some(container) if created.status.success() => container.to_owned(),
            _ => return Err(created.failure(&from)),
        };

        let mut run = self.command();
        run.args(["run", "--isolation", "chroot"]);
        for mount in mounts {
            run.arg("--mount").arg_os(self.mount_spec(mount)?);
        }
        run.arg(&container)
            .arg("--")
            .args(argv.iter().map(String::as_str));
        let finished = run_streaming(&run, on_line).await;

        let mut remove = self.command();
        remove.args(["rm", &container]);
        match run_captured(&remove, None).await {
            Ok(removed) if removed.status.success() => {}
            Ok(removed) => tracing::warn!("{}", removed.failure(&remove)),
            Err(error) => tracing::warn!("{error}"),
        }
        finished
    }

    fn run_command(
        &self,
        image: &str,
        argv: &[String],
        mounts: &[Mount],
    ) -> Result<CommandLine, BuilderError> {
        let mut command = self.command();
        let pull_never = match self.builder {
            Builder::Docker => ["--pull", "never"].as_slice(),
            _ => ["--pull=never"].as_slice(),
        };
        command
            .args(["run", "--rm"])
            .args(pull_never.iter().copied());
        command.args(["--platform", DEFAULT_PLATFORM]);
        for mount in mounts {
            command.arg("--mount").arg_os(self.mount_spec(mount)?);
        }
        command.arg(image).args(argv.iter().map(String::as_str));
        Ok(command)
    }

    /// `type=bind,src=…,dst=…[,ro]`, which Docker, Podman and Buildah all read.
    fn mount_spec(&self, mount: &Mount) -> Result<OsString, BuilderError> {
        self.refuse_in_path(&mount.source, ',')?;
        self.refuse_in_path(Path::new(&mount.target), ',')?;

        let mut spec = OsString::from("type=bind,src=");
        spec.push(mount.source.as_os_str());
        spec.push(format!(",dst={}", mount.target));
        if mount.read_only {
            spec.push(",ro");
        }
        Ok(spec)
    }

    async fn docker_save(&self, image: &str, dir: &Path) -> Result<(), BuilderError> {
        let scratch = temp_dir()?;
        let tarball = scratch.path().join("image.tar");
        let mut command = self.command();
        command
            .args(["save", "--output"])
            .arg_os(tarball.as_os_str())
            .arg(image);
        run_streaming(&command, &|_| {})
            .await?
            .ensure_success(&command)?;

        let (tarball_path, dir_path) = (tarball.clone(), dir.to_path_buf());
        let unpacked = tokio::task::spawn_blocking(move || unpack(&tarball_path, &dir_path))
            .await
            .map_err(|join| BuilderError::Io {
                action: "unpacking the saved image into",
                path: dir.to_path_buf(),
                source: io::Error::other(join),
            })?;
        unpacked?;

        if !dir.join("oci-layout").is_file() {
            return Err(BuilderError::NotOciLayout {
                image: image.to_owned(),
            });
        }
        Ok(())
    }

    /// A temporary folder holding what the build needs besides the project: the image id file
    /// and, when `dags/` stays out, the ignore rules (and for Docker, a copy of the Dockerfile
    /// they sit beside).
    fn prepare(&self, request: &BuildRequest, dockerfile: &Path) -> Result<Prepared, BuilderError> {
        let dir = temp_dir()?;
        let iid_file = dir.path().join("image-id");
        let mut prepared = Prepared {
            dockerfile: dockerfile.to_path_buf(),
            ignore_file: None,
            iid_file,
            folder: dir,
        };
        if !request.exclude_dags {
            return Ok(prepared);
        }

        let rules = self.ignore_rules_without_dags(&request.project_root)?;
        let folder = prepared.folder.path().to_path_buf();
        match self.builder {
            Builder::Buildah | Builder::Podman => {
                let ignore_file = folder.join("ignore");
                write(&ignore_file, &rules)?;
                prepared.ignore_file = Some(ignore_file);
            }
            Builder::Docker => {
                let copy = folder.join("Dockerfile");
                std::fs::copy(dockerfile, &copy).map_err(|source| BuilderError::Io {
                    action: "copying the Dockerfile",
                    path: dockerfile.to_path_buf(),
                    source,
                })?;
                write(&folder.join("Dockerfile.dockerignore"), &rules)?;
                prepared.dockerfile = copy;
            }
        }
        Ok(prepared)
    }

    /// The project's ignore rules, as this builder reads them, followed by the rules that leave
    /// `dags/` out.
    fn ignore_rules_without_dags(&self, project_root: &Path) -> Result<Vec<u8>, BuilderError> {
        // Buildah and Podman prefer `.containerignore`; Docker knows only `.dockerignore`.
        let names: &[&str] = match self.builder {
            Builder::Docker => &[".dockerignore"],
            Builder::Buildah | Builder::Podman => &[".containerignore", ".dockerignore"],
        };

        let mut rules = Vec::new();
        for name in names {
            let path = project_root.join(name);
            match std::fs::read(&path) {
                Ok(text) => {
                    rules = text;
                    break;
                }
                Err(error) if error.kind() == io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(BuilderError::Io {
                        action: "reading",
                        path,
                        source,
                    })
                }
            }
        }

        if !rules.is_empty() && !rules.ends_with(b"\n") {
            rules.push(b'\n');
        }
        rules.extend_from_slice(EXCLUDE_DAGS_RULES.as_bytes());
        Ok(rules)
    }

    fn build_command(
        &self,
        request: &BuildRequest,
        prepared: &Prepared,
    ) -> Result<CommandLine, BuilderError> {
        let mut command = self.command();
        // One layer per instruction, as Docker makes them: the code-only route replaces the
        // last layer, which must then hold the project files and nothing else (Buildah and
        // Podman would otherwise squash a build's steps into one layer). No cache: Buildah
        // 1.28 reuses cached steps whose build argument changed (buildah issue 5501).
        match self.builder {
            Builder::Buildah => {
                command.args(["bud", "--isolation", "chroot", "--format", "docker"]);
                command.args(["--layers", "--no-cache"]);
            }
            Builder::Podman => {
                command.args(["build", "--format", "docker", "--layers", "--no-cache"]);
            }
            Builder::Docker => {
                command.args(["buildx", "build", "--load", "--progress", "plain"]);
            }
        }
        command.args(["--platform", &request.platform]);
        command.arg("-f").arg_os(prepared.dockerfile.as_os_str());
        command.args(["-t", &request.tag]);
        command
            .arg("--iidfile")
            .arg_os(prepared.iid_file.as_os_str());

        for (key, value) in &request.build_args {
            command
                .arg("--build-arg")
                .arg_redacted(format!("{key}={value}"), format!("{key}={REDACTED}"));
        }
        for secret in &request.secrets {
            self.refuse_in_path(&secret.src, ',')?;
            let mut spec = OsString::from(format!("id={},src=", secret.id));
            spec.push(secret.src.as_os_str());
            command.arg("--secret").arg_os(spec);
        }
        for (key, value) in &request.labels {
            command.arg("--label").arg(&format!("{key}={value}"));
        }
        if let Some(ignore_file) = &prepared.ignore_file {
            command.arg("--ignorefile").arg_os(ignore_file.as_os_str());
        }

        command.arg_os(request.project_root.as_os_str());
        Ok(command)
    }

    /// The program with the global options, ready for a subcommand.
    fn command(&self) -> CommandLine {
        let mut command = CommandLine::new(&self.program);
        command.args(self.options.extra_global_args.iter().map(String::as_str));
        command
    }

    fn refuse_in_path(&self, path: &Path, character: char) -> Result<(), BuilderError> {
        if path.to_string_lossy().contains(character) {
            return Err(BuilderError::UnsupportedPath {
                path: path.to_path_buf(),
                builder: self.builder,
                character,
            });
        }
        Ok(())
    }
}

/// The temporary files of one build; removed when dropped.
struct Prepared {
    dockerfile: PathBuf,
    ignore_file: Option<PathBuf>,
    iid_file: PathBuf,
    folder: tempfile::TempDir,
}

fn temp_dir() -> Result<tempfile::TempDir, BuilderError> {
    tempfile::TempDir::with_prefix("astro-deploy-build-").map_err(|source| BuilderError::Io {
        action: "creating a temporary folder in",
        path: std::env::temp_dir(),
        source,
    })
}

fn write(path: &Path, contents: &[u8]) -> Result<(), BuilderError> {
    std::fs::write(path, contents).map_err(|source| BuilderError::Io {
        action: "writing",
        path: path.to_path_buf(),
        source,
    })
}

/// Unpacks a `docker save` archive; the `tar` crate refuses entries that leave `dir`.
fn unpack(tarball: &Path, dir: &Path) -> Result<(), BuilderError> {
    let io_error = |action, path: &Path| {
        let path = path.to_path_buf();
        move |source| BuilderError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io_error("creating", dir))?;
    let file = std::fs::File::open(tarball).map_err(io_error("opening", tarball))?;
    tar::Archive::new(file)
        .unpack(dir)
        .map_err(io_error("unpacking the saved image into", dir))
}

/// The tag of an image reference (`latest` when it names none), without a digest.
fn tag_of(image: &str) -> &str {
    let name = image.split('@').next().unwrap_or(image);
    let last_part = name.rsplit('/').next().unwrap_or(name);
    match last_part.rsplit_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag,
        _ => "latest",
    }
}

/// A program and its arguments, with how each argument is shown in logs and errors.
#[derive(Debug, Clone)]
struct CommandLine {
    program: PathBuf,
    args: Vec<OsString>,
    shown: Vec<String>,
}

impl CommandLine {
    fn new(program: &Path) -> CommandLine {
        CommandLine {
            program: program.to_path_buf(),
            args: Vec::new(),
            shown: Vec::new(),
        }
    }

    fn arg(&mut self, arg: &str) -> &mut CommandLine {
        self.arg_os(OsString::from(arg))
    }

    fn arg_os(&mut self, arg: impl Into<OsString>) -> &mut CommandLine {
        let arg = arg.into();
        self.shown.push(arg.to_string_lossy().into_owned());
        self.args.push(arg);
        self
    }

    fn arg_redacted(&mut self, arg: String, shown: String) -> &mut CommandLine {
        self.args.push(arg.into());
        self.shown.push(shown);
        self
    }

    fn args<'a>(&mut self, args: impl IntoIterator<Item = &'a str>) -> &mut CommandLine {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    fn to_command(&self) -> Command {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}

impl fmt::Display for CommandLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", quote(&self.program.to_string_lossy()))?;
        for arg in &self.shown {
            write!(f, " {}", quote(arg))?;
        }
        Ok(())
    }
}

/// `text` as a shell would need it, so that a shown command line can be copied and run.
fn quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,@%+".contains(c));
    if plain {
        text.to_owned()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// A command that ran to its end, with every line it wrote.
struct Finished {
    status: ExitStatus,
    lines: Vec<String>,
}

impl Finished {
    fn ensure_success(self, command: &CommandLine) -> Result<Finished, BuilderError> {
        if self.status.success() {
            Ok(self)
        } else {
            Err(self.failure(command))
        }
    }

    fn failure(&self, command: &CommandLine) -> BuilderError {
        let skip = self.lines.len().saturating_sub(ERROR_TAIL_LINES);
        BuilderError::CommandFailed {
            command: command.to_string(),
            exit_code: self.status.code(),
            last_lines: self.lines[skip..].to_vec(),
        }
    }
}

/// Runs `command` with standard output and standard error on one pipe, handing each line to
/// `on_line` as it comes.
async fn run_streaming(
    command: &CommandLine,
    on_line: &(dyn Fn(&str) + Sync),
) -> Result<Finished, BuilderError> {
    let spawn_error = |source| BuilderError::Spawn {
        command: command.to_string(),
        source,
    };
    let (sender, receiver) = tokio::net::unix::pipe::pipe().map_err(spawn_error)?;
    let stdout = sender.into_blocking_fd().map_err(spawn_error)?;
    let stderr = stdout.try_clone().map_err(spawn_error)?;

    let mut process = command.to_command();
    process.stdout(stdout).stderr(stderr);
    let mut child = process.spawn().map_err(spawn_error)?;
    // Our copies of the pipe's write end must go, or the end of output never comes.
    drop(process);

    let mut reader = BufReader::new(receiver);
    let mut lines = Vec::new();
    let mut line = Vec::new();
    let mut status = None;
    loop {
        // `read_until` keeps what it read in `line` when the other branch wins, so no output
        // is lost by switching to the draining read.
        let read = match status {
            None => tokio::select! {
                read = reader.read_until(b'\n', &mut line) => read,
                exited = child.wait() => {
                    status = Some(exited.map_err(spawn_error)?);
                    continue;
                }
            },
            Some(_) => {
                match tokio::time::timeout(DRAIN_GRACE, reader.read_until(b'\n', &mut line)).await {
                    Ok(read) => read,
                    Err(_) => break,
                }
            }
        };
        let read = read.map_err(|source| BuilderError::Output {
            command: command.to_string(),
            source,
        })?;
        if read == 0 && line.is_empty() {
            break;
        }
        keep_line(&mut line, &mut lines, on_line);
    }
    // A line cut short by the end of the drain.
    if !line.is_empty() {
        keep_line(&mut line, &mut lines, on_line);
    }

    let status = match status {
        Some(status) => status,
        None => child.wait().await.map_err(spawn_error)?,
    };
    Ok(Finished { status, lines })
}

fn keep_line(line: &mut Vec<u8>, lines: &mut Vec<String>, on_line: &(dyn Fn(&str) + Sync)) {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    on_line(text);
    lines.push(text.to_owned());
    line.clear();
}

/// What a short command wrote, standard output and standard error apart.
struct Captured {
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Captured {
    fn failure(&self, command: &CommandLine) -> BuilderError {
        let all: Vec<String> = self
            .stdout
            .lines()
            .chain(self.stderr.lines())
            .map(str::to_owned)
            .collect();
        let skip = all.len().saturating_sub(ERROR_TAIL_LINES);
        BuilderError::CommandFailed {
            command: command.to_string(),
            exit_code: self.status.code(),
            last_lines: all[skip..].to_vec(),
        }
    }
}

async fn run_captured(
    command: &CommandLine,
    limit: Option<Duration>,
) -> Result<Captured, BuilderError> {
    let output = command.to_command().output();
    let output = match limit {
        None => output.await,
        Some(limit) => {
            tokio::time::timeout(limit, output)
                .await
                .map_err(|_| BuilderError::TimedOut {
                    command: command.to_string(),
                    after: limit,
                })?
        }
    };
    let output = output.map_err(|source| BuilderError::Spawn {
        command: command.to_string(),
        source,
    })?;
    Ok(Captured {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(root: &Path) -> BuildRequest {
        let mut request = BuildRequest::new(root, "example/project:1");
        request.build_args = vec![("PIP_INDEX_URL".into(), "https://user:pass@pypi".into())];
        request.secrets = vec![BuildSecret {
            id: "pipconf".into(),
            src: PathBuf::from("/run/pip.conf"),
        }];
        request.labels = vec![("io.astro.commit".into(), "abc".into())];
        request.exclude_dags = true;
        request
    }

    fn prepared(dockerfile: &str, ignore_file: Option<&str>) -> Prepared {
        Prepared {
            dockerfile: PathBuf::from(dockerfile),
            ignore_file: ignore_file.map(PathBuf::from),
            iid_file: PathBuf::from("/tmp/b/image-id"),
            folder: temp_dir().unwrap_or_else(|e| panic!("{e}")),
        }
    }

    #[test]
    fn secrets_parse_with_and_without_type() {
        let plain = BuildSecret::parse("id=pipconf,src=/run/pip.conf");
        let typed = BuildSecret::parse("type=file,source=/run/pip.conf,id=pipconf");

        let expected = BuildSecret {
            id: "pipconf".into(),
            src: PathBuf::from("/run/pip.conf"),
        };
        assert_eq!(plain.ok(), Some(expected.clone()));
        assert_eq!(typed.ok(), Some(expected));
    }

    #[test]
    fn bad_secrets_are_refused_naming_the_input() {
        for (input, reason) in [
            ("id=a", "no `src`"),
            ("src=/x", "no `id`"),
            ("type=env,id=a,src=X", "type `env`"),
            ("id=a,src=/x,mode=0400", "`mode` is not a known key"),
            ("id=a,id=b,src=/x", "given twice"),
            ("id=,src=/x", "`id` is empty"),
            ("pipconf", "not KEY=VALUE"),
        ] {
            let error = BuildSecret::parse(input).err().map(|e| e.to_string());
            let error = error.unwrap_or_else(|| panic!("`{input}` was accepted"));
            assert!(error.contains(&format!("`{input}`")), "{error}");
            assert!(error.contains(reason), "{error}");
        }
    }

    #[test]
    fn builders_are_named_case_insensitively() {
        assert_eq!(Builder::from_name(" Podman ").ok(), Some(Builder::Podman));
        let error = Builder::from_name("kaniko").err().map(|e| e.to_string());
        assert_eq!(
            error.as_deref(),
            Some("`kaniko` is not an image builder this tool knows (docker, podman, buildah)")
        );
    }

    #[test]
    fn buildah_builds_in_docker_format_with_the_ignore_file_and_hides_build_arg_values() {
        let builder =
            ImageBuilder::new(Builder::Buildah, "/usr/bin/buildah").with_options(BuilderOptions {
                extra_global_args: vec!["--storage-driver".into(), "vfs".into()],
            });
        let command = builder
            .build_command(
                &request(Path::new("/p")),
                &prepared("/p/Dockerfile", Some("/tmp/b/ignore")),
            )
            .unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(
            command.to_string(),
            "/usr/bin/buildah --storage-driver vfs bud --isolation chroot --format docker \
             --layers --no-cache --platform linux/amd64 -f /p/Dockerfile -t example/project:1 \
             --iidfile /tmp/b/image-id --build-arg 'PIP_INDEX_URL=<redacted>' --secret \
             id=pipconf,src=/run/pip.conf --label io.astro.commit=abc --ignorefile \
             /tmp/b/ignore /p"
        );
        assert!(command
            .args
            .contains(&OsString::from("PIP_INDEX_URL=https://user:pass@pypi")));
    }

    #[test]
    fn docker_builds_with_buildx_from_the_copied_dockerfile() {
        let builder = ImageBuilder::new(Builder::Docker, "docker");
        let mut request = request(Path::new("/p"));
        request.build_args.clear();
        let command = builder
            .build_command(&request, &prepared("/tmp/b/Dockerfile", None))
            .unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(
            command.to_string(),
            "docker buildx build --load --progress plain --platform linux/amd64 -f \
             /tmp/b/Dockerfile -t example/project:1 --iidfile /tmp/b/image-id --secret \
             id=pipconf,src=/run/pip.conf --label io.astro.commit=abc /p"
        );
    }

    #[test]
    fn podman_and_docker_run_checks_without_pulling() {
        let mounts = [Mount::project_dags(Path::new("/p"))];
        let argv = pytest_command(None);

        let podman = ImageBuilder::new(Builder::Podman, "podman")
            .run_command("img:1", &argv, &mounts)
            .map(|c| c.to_string());
        let docker = ImageBuilder::new(Builder::Docker, "docker")
            .run_command("img:1", &argv, &mounts)
            .map(|c| c.to_string());

        assert_eq!(
            podman.ok().as_deref(),
            Some(
                "podman run --rm --pull=never --platform linux/amd64 --mount \
                 type=bind,src=/p/dags,dst=/usr/local/airflow/dags,ro img:1 pytest tests/"
            )
        );
        assert_eq!(
            docker.ok().as_deref(),
            Some(
                "docker run --rm --pull never --platform linux/amd64 --mount \
                 type=bind,src=/p/dags,dst=/usr/local/airflow/dags,ro img:1 pytest tests/"
            )
        );
    }

    #[test]
    fn paths_the_builder_would_misread_are_refused() {
        let builder = ImageBuilder::new(Builder::Podman, "podman");
        let mount = Mount {
            source: PathBuf::from("/p/a,b"),
            target: "/x".into(),
            read_only: false,
        };

        let error = builder.mount_spec(&mount).err().map(|e| e.to_string());

        assert_eq!(
            error.as_deref(),
            Some("the path `/p/a,b` cannot be passed to podman: it contains `,`")
        );
    }

    #[test]
    fn ignore_rules_keep_the_projects_and_add_dags() {
        let project = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(project.path().join(".dockerignore"), "*.env\n!dags/keep.py")
            .unwrap_or_else(|e| panic!("{e}"));
        let builder = ImageBuilder::new(Builder::Docker, "docker");

        let rules = builder
            .ignore_rules_without_dags(project.path())
            .unwrap_or_else(|e| panic!("{e}"));

        assert_eq!(
            String::from_utf8_lossy(&rules),
            format!("*.env\n!dags/keep.py\n{EXCLUDE_DAGS_RULES}")
        );
    }

    #[test]
    fn oci_references_are_the_tag() {
        assert_eq!(
            tag_of("127.0.0.1:5000/astronomer/astro-runtime:12.2.0"),
            "12.2.0"
        );
        assert_eq!(tag_of("127.0.0.1:5000/project"), "latest");
        assert_eq!(tag_of("project:abc@sha256:00"), "abc");
    }

    #[test]
    fn shown_arguments_are_quoted_for_a_shell() {
        assert_eq!(quote("a b'c"), r"'a b'\''c'");
        assert_eq!(quote("id=x,src=/a/b"), "id=x,src=/a/b");
        assert_eq!(quote(""), "''");
    }
}
