//! A stand-in for Astro Runtime, for tests that build project images but cannot pull from
//! quay.io: a tiny image that behaves like Astro Runtime where astro-deploy can tell.
//!
//! What it has, on `FROM scratch`:
//! - busybox (Debian's `busybox-static`) as `/bin/busybox` with links for `sh` and the usual
//!   tools, `/etc/passwd` with `root` and `astro` (50000, group 0, home `/usr/local/airflow`),
//!   `/etc/group`;
//! - `WORKDIR /usr/local/airflow` owned by `astro`, `ENV AIRFLOW_HOME=/usr/local/airflow`,
//!   `USER astro`, the label `io.astronomer.docker.runtime.version` and
//!   `ENV ASTRO_RUNTIME_VERSION`, both the version it was built as;
//! - Astro Runtime's `ONBUILD` triggers, word for word. The two scripts they run,
//!   `/usr/local/bin/install-system-packages` and `install-python-dependencies`, install
//!   nothing: they record the user they ran as and the `packages.txt` or `requirements.txt`
//!   they were given in [`SYSTEM_PACKAGES_RECORD`] and [`PYTHON_REQUIREMENTS_RECORD`], outside
//!   the project folder. A changed requirements file therefore changes what the build writes
//!   outside the project, as it does on Astro Runtime.
//! - `/usr/local/bin/pytest`: passes with `N passed` (N counts the `def test_` lines under the
//!   path it is given, default `tests/`), unless the project has [`PYTEST_FAIL_MARKER`]. Then it
//!   prints a failure report the way pytest does, with the marker file's text in it and one line
//!   on standard error, and exits 1.
//! - `/usr/local/bin/python`: understands only `python -c <snippet>` where the snippet uses
//!   `DagBag` (astro-deploy's parse check). It reports an import error for each
//!   `$AIRFLOW_HOME/dags/*.py` file that contains [`BROKEN_DAG_MARKER`] and exits 1 when there
//!   is one; otherwise it prints `parsed N DAGs from …; 0 import errors`.
//!
//! The image is built with `buildah` in Docker format (OCI images drop `ONBUILD`) and pushed to
//! a registry as `v2s2` for the same reason. Buildah runs with the `vfs` driver and `chroot`
//! isolation, which work as root without a container engine, on a storage of its own
//! ([`BuildahStore`]), so that test binaries never share or collide on storage. `vfs` copies the
//! whole filesystem for every layer, which is why the image is kept to busybox and a few files:
//! building and pushing one version takes about two seconds.
//!
//! Needs the Debian packages `buildah` and `busybox-static`; a missing one fails the test with
//! the command that installs it.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// Where the stand-in images live in a registry.
pub const RUNTIME_REPOSITORY: &str = "astronomer/astro-runtime";

/// The uid of `astro`, Astro Runtime's user; its group is 0.
pub const ASTRO_UID: u32 = 50000;

/// A project file that makes the stand-in `pytest` fail.
pub const PYTEST_FAIL_MARKER: &str = "tests/FAIL";

/// Text that makes a DAG file fail the stand-in parse check.
pub const BROKEN_DAG_MARKER: &str = "BROKEN";

/// What `install-system-packages` recorded: `uid=<id>`, then the project's `packages.txt`.
pub const SYSTEM_PACKAGES_RECORD: &str = "/opt/deps/system-packages.txt";

/// What `install-python-dependencies` recorded: `uid=<id>`, then `requirements.txt`.
pub const PYTHON_REQUIREMENTS_RECORD: &str = "/opt/deps/python-requirements.txt";

/// The label Astro Runtime images carry their version in.
pub const RUNTIME_VERSION_LABEL: &str = "io.astronomer.docker.runtime.version";

/// The busybox applets linked into `/bin`.
const APPLETS: &[&str] = &[
    "sh",
    "cat",
    "ls",
    "mkdir",
    "touch",
    "id",
    "cp",
    "mv",
    "rm",
    "ln",
    "chmod",
    "chown",
    "echo",
    "env",
    "grep",
    "find",
    "wc",
    "sort",
    "head",
    "tail",
    "sed",
    "pwd",
    "sleep",
    "test",
    "true",
    "false",
    "sha256sum",
    "whoami",
];

const BUSYBOX: &str = "/bin/busybox";

const DOCKERFILE: &str = "\
FROM scratch
COPY rootfs/ /
COPY --chown=50000:0 home/ /usr/local/airflow/
COPY --chown=50000:0 deps/ /opt/deps/
ENV PATH=/usr/local/bin:/usr/bin:/bin
ENV AIRFLOW_HOME=/usr/local/airflow
WORKDIR /usr/local/airflow
USER astro
ONBUILD COPY packages.txt .
ONBUILD USER root
ONBUILD RUN /usr/local/bin/install-system-packages
ONBUILD USER astro
ONBUILD COPY requirements.txt .
ONBUILD RUN /usr/local/bin/install-python-dependencies
ONBUILD COPY --chown=astro:0 . .
ARG RUNTIME_VERSION
LABEL io.astronomer.docker.runtime.version=$RUNTIME_VERSION
ENV ASTRO_RUNTIME_VERSION=$RUNTIME_VERSION
";

const INSTALL_SYSTEM_PACKAGES: &str = r#"#!/bin/sh
# Stand-in: records what Astro Runtime would install with apt.
set -e
{ echo "uid=$(id -u)"; cat packages.txt; } > /opt/deps/system-packages.txt
echo "install-system-packages: recorded $(grep -c . packages.txt || true) packages"
"#;

const INSTALL_PYTHON_DEPENDENCIES: &str = r#"#!/bin/sh
# Stand-in: records what Astro Runtime would install with pip.
set -e
{ echo "uid=$(id -u)"; cat requirements.txt; } > /opt/deps/python-requirements.txt
echo "install-python-dependencies: recorded $(grep -c . requirements.txt || true) requirements"
"#;

const PYTEST: &str = r#"#!/bin/sh
# Stand-in for pytest: fails when the project has tests/FAIL.
cd "${AIRFLOW_HOME:-/usr/local/airflow}" || exit 3
target="${1:-tests/}"
if [ ! -e "$target" ]; then
    echo "ERROR: file or directory not found: $target"
    exit 4
fi
count=$(grep -r "^def test_" "$target" | wc -l)
echo "============================= test session starts =============================="
echo "platform linux -- Python 3.12.7, pytest-8.3.3, pluggy-1.5.0"
echo "rootdir: $PWD"
echo "collected $count items"
echo
if [ -e tests/FAIL ]; then
    echo "=================================== FAILURES ==================================="
    echo "_____________________________ test_dags_have_tags ______________________________"
    cat tests/FAIL
    echo "E   AssertionError: example_etl has no tags"
    echo "tests/test_dag_integrity.py:12: AssertionError" >&2
    echo "=========================== short test summary info ============================"
    echo "FAILED tests/test_dag_integrity.py::test_dags_have_tags - AssertionError"
    echo "==================== 1 failed, $((count - 1)) passed in 0.42s ====================="
    exit 1
fi
echo "============================== $count passed in 0.12s ==============================="
"#;

const PYTHON: &str = r#"#!/bin/sh
# Stand-in for python: runs only astro-deploy's parse check, `python -c <DagBag snippet>`.
if [ "$1" != "-c" ]; then
    echo "python stand-in: only -c is supported" >&2
    exit 2
fi
case "$2" in
    *DagBag*) ;;
    *) echo "python stand-in: only the DagBag parse check is supported" >&2; exit 2 ;;
esac
dags="${AIRFLOW_HOME:-/usr/local/airflow}/dags"
parsed=0
errors=0
for file in "$dags"/*.py; do
    [ -f "$file" ] || continue
    if grep -q BROKEN "$file"; then
        errors=$((errors + 1))
        echo "import error in $file:"
        echo "Traceback (most recent call last):"
        echo "  File \"$file\", line 1, in <module>"
        echo "ModuleNotFoundError: No module named 'BROKEN'"
    else
        parsed=$((parsed + 1))
    fi
done
echo "parsed $parsed DAGs from $dags; $errors import errors"
[ "$errors" -eq 0 ]
"#;

/// A Buildah storage (`vfs`) of its own: a root and a run root.
pub struct BuildahStore {
    root: PathBuf,
    runroot: PathBuf,
    _temp: Option<TempDir>,
}

impl BuildahStore {
    /// A storage in a new temporary folder, removed when dropped.
    pub fn temporary() -> BuildahStore {
        let temp = TempDir::with_prefix("buildah-store-")
            .unwrap_or_else(|e| panic!("creating a temporary folder for buildah: {e}"));
        let mut store = BuildahStore::at(temp.path());
        store._temp = Some(temp);
        store
    }

    /// A storage under `dir`, which the caller removes.
    pub fn at(dir: &Path) -> BuildahStore {
        BuildahStore {
            root: dir.join("root"),
            runroot: dir.join("runroot"),
            _temp: None,
        }
    }

    /// The global options that point buildah at this storage.
    pub fn global_args(&self) -> Vec<String> {
        vec![
            "--storage-driver".to_owned(),
            "vfs".to_owned(),
            "--root".to_owned(),
            self.root.display().to_string(),
            "--runroot".to_owned(),
            self.runroot.display().to_string(),
        ]
    }
}

/// The stand-in images pushed by [`build_runtime_image`].
#[derive(Debug, Clone)]
pub struct RuntimeImages {
    /// `HOST/astronomer/astro-runtime:VERSION`, one per version, in the order asked.
    pub references: Vec<String>,
    /// How long building and pushing all of them took.
    pub took: Duration,
}

/// `HOST/astronomer/astro-runtime:VERSION`.
pub fn runtime_reference(registry_host: &str, version: &str) -> String {
    format!("{registry_host}/{RUNTIME_REPOSITORY}:{version}")
}

/// A `registries.conf` that lets buildah and podman pull from the plain-HTTP registry at
/// `registry_host`, for their `--registries-conf` option.
pub fn insecure_registries_conf(registry_host: &str) -> String {
    format!("[[registry]]\nlocation = \"{registry_host}\"\ninsecure = true\n")
}

/// Builds the stand-in Astro Runtime image once per version and pushes each to the plain-HTTP
/// registry at `registry_host` (`127.0.0.1:PORT`). Panics, with the command and its output,
/// when anything fails.
pub fn build_runtime_image(registry_host: &str, versions: &[&str]) -> RuntimeImages {
    let started = Instant::now();
    let context = TempDir::with_prefix("runtime-image-")
        .unwrap_or_else(|e| panic!("creating a temporary folder: {e}"));
    write_context(context.path());
    let store = BuildahStore::temporary();

    let mut references = Vec::new();
    for version in versions {
        let reference = runtime_reference(registry_host, version);
        let mut build = buildah(&store);
        build
            .args(["bud", "--isolation", "chroot", "--format", "docker"])
            .args(["--platform", "linux/amd64"])
            .args(["--build-arg", &format!("RUNTIME_VERSION={version}")])
            .args(["-t", &reference])
            .arg(context.path());
        run(&mut build);

        let mut push = buildah(&store);
        push.args(["push", "--tls-verify=false", "--format", "v2s2", &reference])
            .arg(format!("docker://{reference}"));
        run(&mut push);
        references.push(reference);
    }

    RuntimeImages {
        references,
        took: started.elapsed(),
    }
}

/// The build context: `Dockerfile`, `rootfs/` (copied to `/`), and the empty `home/` and
/// `deps/` that become `/usr/local/airflow` and `/opt/deps`, owned by `astro`.
fn write_context(dir: &Path) {
    let rootfs = dir.join("rootfs");
    for folder in [
        "rootfs/bin",
        "rootfs/etc",
        "rootfs/usr/local/bin",
        "home",
        "deps",
    ] {
        create_dir(&dir.join(folder));
    }
    write(&dir.join("Dockerfile"), DOCKERFILE, 0o644);

    copy_static_busybox(&rootfs.join("bin/busybox"));
    for applet in APPLETS {
        let link = rootfs.join("bin").join(applet);
        std::os::unix::fs::symlink("busybox", &link)
            .unwrap_or_else(|e| panic!("linking `{}`: {e}", link.display()));
    }

    write(
        &rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nastro:x:50000:0::/usr/local/airflow:/bin/sh\n",
        0o644,
    );
    write(
        &rootfs.join("etc/group"),
        "root:x:0:\nastro:x:50000:\n",
        0o644,
    );

    let bin = rootfs.join("usr/local/bin");
    write(
        &bin.join("install-system-packages"),
        INSTALL_SYSTEM_PACKAGES,
        0o755,
    );
    write(
        &bin.join("install-python-dependencies"),
        INSTALL_PYTHON_DEPENDENCIES,
        0o755,
    );
    write(&bin.join("pytest"), PYTEST, 0o755);
    write(&bin.join("python"), PYTHON, 0o755);
}

/// Copies `/bin/busybox`, refusing a dynamically linked one: a `FROM scratch` image has no C
/// library, and every `RUN` in it would fail with a puzzling "no such file".
fn copy_static_busybox(to: &Path) {
    let binary = std::fs::read(BUSYBOX).unwrap_or_else(|e| {
        panic!("reading `{BUSYBOX}`: {e}; install it with `apt-get install busybox-static`")
    });
    if has_program_interpreter(&binary) {
        panic!(
            "`{BUSYBOX}` is dynamically linked; the stand-in runtime image needs \
             `apt-get install busybox-static`"
        );
    }
    std::fs::write(to, &binary).unwrap_or_else(|e| panic!("writing `{}`: {e}", to.display()));
    set_mode(to, 0o755);
}

/// Whether a 64-bit little-endian ELF file names a program interpreter (`PT_INTERP`), as
/// dynamically linked programs do. Anything else counts as static.
fn has_program_interpreter(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    let is_elf64_le = elf.len() > 64 && elf.starts_with(b"\x7fELF") && elf[4] == 2 && elf[5] == 1;
    if !is_elf64_le {
        return false;
    }
    let read = |at: usize, len: usize| -> Option<u64> {
        let bytes = elf.get(at..at + len)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0, |value, byte| value << 8 | u64::from(*byte)),
        )
    };
    let (Some(table), Some(entry_size), Some(entries)) = (read(32, 8), read(54, 2), read(56, 2))
    else {
        return false;
    };
    (0..entries).any(|index| {
        let at = table + index * entry_size;
        usize::try_from(at).ok().and_then(|at| read(at, 4)) == Some(u64::from(PT_INTERP))
    })
}

fn buildah(store: &BuildahStore) -> Command {
    let mut command = Command::new("buildah");
    command.args(store.global_args());
    command
}

/// Runs `command`, panicking with its output unless it succeeds.
fn run(command: &mut Command) {
    let shown = format!("{command:?}");
    let output = command.output().unwrap_or_else(|e| {
        panic!("starting {shown}: {e}; install buildah with `apt-get install buildah`")
    });
    if !output.status.success() {
        panic!(
            "{shown} failed ({}):\n{}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn create_dir(path: &Path) {
    std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("creating `{}`: {e}", path.display()));
}

fn write(path: &Path, contents: &str, mode: u32) {
    std::fs::write(path, contents).unwrap_or_else(|e| panic!("writing `{}`: {e}", path.display()));
    set_mode(path, mode);
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("setting the mode of `{}`: {e}", path.display()));
}
