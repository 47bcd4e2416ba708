//! A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8), installed by
//! `scripts/install-test-deps.sh`, serving plain http on loopback on a free port with its own
//! temporary storage (deletes enabled, no auth), and killed on drop.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// The binary Debian's `docker-registry` package installs.
pub const BINARY: &str = "docker-registry";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 3;
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// A running registry on `127.0.0.1`, killed when dropped.
pub struct LocalRegistry {
    child: Child,
    port: u16,
    workdir: TempDir,
}

impl LocalRegistry {
    /// Starts a registry and waits until `GET /v2/` answers 200.
    ///
    /// Panics when the binary is missing: a test that needs a registry never passes by
    /// skipping.
    pub fn start() -> LocalRegistry {
        let Some(bin) = find_on_path(BINARY) else {
            panic!(
                "`{BINARY}` is not on PATH: run `scripts/install-test-deps.sh` (it installs the \
                 Debian package `docker-registry`)"
            );
        };

        // Another process can take the free port between our probe and the registry's bind;
        // that shows as an early exit, so a few attempts on fresh ports cover it.
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&bin) {
                Ok(registry) => return registry,
                Err(failure) => failures.push(failure),
            }
        }
        panic!(
            "docker-registry did not start:\n{}",
            failures.join("\n---\n")
        );
    }

    fn try_start(bin: &Path) -> Result<LocalRegistry, String> {
        let workdir = TempDir::with_prefix("registry-").map_err(|e| format!("temp dir: {e}"))?;
        let storage = workdir.path().join("storage");
        std::fs::create_dir(&storage)
            .map_err(|e| format!("creating `{}`: {e}", storage.display()))?;
        let port = free_port()?;
        let config_path = workdir.path().join("config.yml");
        std::fs::write(&config_path, config(&storage, port))
            .map_err(|e| format!("writing `{}`: {e}", config_path.display()))?;

        let log_path = workdir.path().join("registry.log");
        let log = File::create(&log_path).map_err(|e| format!("creating log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cloning log handle: {e}"))?;
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config_path)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("spawning `{}`: {e}", bin.display()))?;
        let mut registry = LocalRegistry {
            child,
            port,
            workdir,
        };

        registry.wait_until_ready().map_err(|reason| {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            format!("{reason}\nregistry log:\n{log}")
        })?;
        Ok(registry)
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "docker-registry exited early ({status}) on port {}",
                    self.port
                ));
            }
            let last = match get_status(self.port, "/v2/") {
                Ok(200) => return Ok(()),
                Ok(status) => format!("GET /v2/ answered {status}"),
                Err(e) => e,
            };
            if Instant::now() > deadline {
                return Err(format!(
                    "docker-registry did not answer 200 on 127.0.0.1:{} within {:?} ({last})",
                    self.port, STARTUP_TIMEOUT
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `127.0.0.1:PORT`, the registry host of image references.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.host())
    }

    /// Where the registry keeps its blobs and repositories.
    pub fn storage_dir(&self) -> PathBuf {
        self.workdir.path().join("storage")
    }

    /// The registry's log so far, for a failing test to show.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.workdir.path().join("registry.log")).unwrap_or_default()
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn config(storage: &Path, port: u16) -> String {
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    )
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("reading the free port: {e}"))
}

/// Sends `GET target` over a plain socket and returns the status code.
fn get_status(port: u16, target: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| format!("connecting to port {port}: {e}"))?;
    let _ = stream.set_read_timeout(Some(PROBE_TIMEOUT));
    let request =
        format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    stream
        .write_all(request.as_bytes())
        .map_err(|e| format!("sending GET {target}: {e}"))?;

    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("reading the answer to GET {target}: {e}"))?;
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("GET {target} got no HTTP status line: {response:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_names_storage_deletes_and_the_loopback_address() {
        let text = config(Path::new("/tmp/x"), 5123);
        assert!(text.contains("rootdirectory: /tmp/x"));
        assert!(text.contains("delete:\n    enabled: true"));
        assert!(text.contains("addr: 127.0.0.1:5123"));
        assert!(text.contains("level: warn"));
    }
}
