//! A real Azure Blob Storage server for tests: Azurite, installed by
//! `scripts/install-test-deps.sh`, started on loopback on a free port with its own temporary
//! storage and killed on drop. It also signs the SAS URLs Astro hands out for uploads, with the
//! emulator's well-known account key.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tempfile::TempDir;
use time::macros::format_description;
use time::OffsetDateTime;

/// The emulator's well-known storage account.
pub const ACCOUNT: &str = "devstoreaccount1";

/// The emulator's well-known, publicly documented account key: not a secret.
pub const ACCOUNT_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// The `sv` of every SAS signed here. From 2020-12-06 on, the service SAS string-to-sign carries
/// the encryption scope (`ses`) line; Azurite checks signatures with the same layout.
pub const SAS_VERSION: &str = "2020-12-06";

const STARTUP_TIMEOUT: Duration = Duration::from_secs(20);
const START_ATTEMPTS: usize = 3;
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// A running Azurite blob service on `127.0.0.1`, killed when dropped.
pub struct Azurite {
    child: Child,
    port: u16,
    workdir: TempDir,
}

impl Azurite {
    /// Starts Azurite and waits until its port answers.
    ///
    /// Panics when the binary is missing: a test that needs Azurite never passes by skipping.
    pub fn start() -> Azurite {
        let bin = azurite_bin();
        if !bin.is_file() {
            panic!(
                "azurite is not installed at `{}`: run `scripts/install-test-deps.sh` \
                 (or set ASTRO_DEPLOY_TEST_DEPS to where it installed them)",
                bin.display()
            );
        }

        // Another process can take the free port between our probe and Azurite's bind; that
        // shows as an early exit, so a few attempts on fresh ports cover it.
        let mut failures = Vec::new();
        for _ in 0..START_ATTEMPTS {
            match Self::try_start(&bin) {
                Ok(azurite) => return azurite,
                Err(failure) => failures.push(failure),
            }
        }
        panic!("azurite did not start:\n{}", failures.join("\n---\n"));
    }

    fn try_start(bin: &Path) -> Result<Azurite, String> {
        let workdir = TempDir::with_prefix("azurite-").map_err(|e| format!("temp dir: {e}"))?;
        let data = workdir.path().join("data");
        std::fs::create_dir(&data).map_err(|e| format!("creating `{}`: {e}", data.display()))?;
        let log_path = workdir.path().join("azurite.log");
        let log = File::create(&log_path).map_err(|e| format!("creating log: {e}"))?;
        let log_err = log
            .try_clone()
            .map_err(|e| format!("cloning log handle: {e}"))?;
        let port = free_port()?;

        let child = Command::new(bin)
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .arg("--location")
            .arg(&data)
            .args(["--skipApiVersionCheck", "--disableTelemetry", "--silent"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("spawning `{}`: {e} (is node on PATH?)", bin.display()))?;
        let mut azurite = Azurite {
            child,
            port,
            workdir,
        };

        azurite.wait_until_listening().map_err(|reason| {
            let log = std::fs::read_to_string(&log_path).unwrap_or_default();
            format!("{reason}\nazurite log:\n{log}")
        })?;
        Ok(azurite)
    }

    fn wait_until_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + STARTUP_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "azurite exited early ({status}) on port {}",
                    self.port
                ));
            }
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "azurite did not answer on 127.0.0.1:{} within {:?}",
                    self.port, STARTUP_TIMEOUT
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The port Azurite listens on, on `127.0.0.1`.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The account's base URL: `http://127.0.0.1:PORT/devstoreaccount1`.
    pub fn account_url(&self) -> String {
        format!("http://127.0.0.1:{}/{ACCOUNT}", self.port)
    }

    /// Where Azurite keeps its blobs and its log, for a test that wants to look.
    pub fn workdir(&self) -> &Path {
        self.workdir.path()
    }

    /// Creates `container` unless it exists, authorized by an account SAS (a service SAS cannot
    /// create containers).
    ///
    /// Blocking on purpose, over a plain socket, so that it works from sync and async tests
    /// alike without nesting runtimes.
    pub fn create_container(&self, container: &str) {
        check_container_name(container);
        let expiry = sas_time(OffsetDateTime::now_utc() + Duration::from_secs(300));
        let sas = account_sas("c", "b", "c", &expiry);
        let target = format!("/{ACCOUNT}/{container}?restype=container&{sas}");

        let status = put_empty(self.port, &target);

        // 409 is ContainerAlreadyExists: creating is idempotent for the tests.
        if status != 201 && status != 409 {
            panic!("creating container `{container}` answered {status}");
        }
    }

    /// A URL like the one Astro hands out for an upload:
    /// `http://127.0.0.1:PORT/devstoreaccount1/CONTAINER/BLOB?<service SAS>`, with a blob-level
    /// service SAS (`sr=b`) granting `permissions` (Azure's order: `racwd`) for `ttl` from now.
    ///
    /// Creates the container first if it does not exist.
    pub fn blob_url_with_sas(
        &self,
        container: &str,
        blob: &str,
        permissions: &str,
        ttl: Duration,
    ) -> String {
        self.create_container(container);

        let expiry = sas_time(OffsetDateTime::now_utc() + ttl);
        let signature = sign(&blob_sas_string_to_sign(
            container,
            blob,
            permissions,
            &expiry,
        ));
        let query = query_string(&[
            ("sp", permissions),
            ("se", &expiry),
            ("sv", SAS_VERSION),
            ("sr", "b"),
            ("sig", &signature),
        ]);
        format!(
            "{}/{container}/{}?{query}",
            self.account_url(),
            encode_path(blob)
        )
    }

    /// Reads a blob back through a SAS URL (which must grant `r`). Panics unless it answers 200.
    pub async fn get_blob(&self, url_with_sas: &str) -> Vec<u8> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .unwrap_or_else(|e| panic!("building an HTTP client: {e}"));
        let response = client
            .get(url_with_sas)
            .header("x-ms-version", SAS_VERSION)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET of blob `{url_with_sas}` failed: {e}"));

        let status = response.status();
        let body = response
            .bytes()
            .await
            .unwrap_or_else(|e| panic!("reading blob `{url_with_sas}`: {e}"));
        if status != reqwest::StatusCode::OK {
            panic!(
                "GET of blob `{url_with_sas}` answered {status}: {}",
                String::from_utf8_lossy(&body)
            );
        }
        body.to_vec()
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `azurite-blob` under the test dependencies directory.
pub fn azurite_bin() -> PathBuf {
    crate::test_deps_dir()
        .join("node_modules")
        .join(".bin")
        .join("azurite-blob")
}

/// The service SAS string-to-sign for a blob (`sr=b`), version 2020-12-06 and later: sp, st,
/// se, canonicalized resource, si, sip, spr, sv, sr, snapshot time, ses, rscc, rscd, rsce,
/// rscl, rsct. Unused fields stay as empty lines.
pub fn blob_sas_string_to_sign(
    container: &str,
    blob: &str,
    permissions: &str,
    expiry: &str,
) -> String {
    let resource = format!("/blob/{ACCOUNT}/{container}/{blob}");
    [
        permissions,
        "",
        expiry,
        &resource,
        "",
        "",
        "",
        SAS_VERSION,
        "b",
        "",
        "",
        "",
        "",
        "",
        "",
        "",
    ]
    .join("\n")
}

/// An account SAS query string (2020-12-06 layout: account, sp, ss, srt, st, se, sip, spr, sv,
/// ses, each followed by a newline).
fn account_sas(permissions: &str, services: &str, resource_types: &str, expiry: &str) -> String {
    let string_to_sign = [
        ACCOUNT,
        permissions,
        services,
        resource_types,
        "",
        expiry,
        "",
        "",
        SAS_VERSION,
        "",
        "",
    ]
    .join("\n");
    query_string(&[
        ("sv", SAS_VERSION),
        ("ss", services),
        ("srt", resource_types),
        ("sp", permissions),
        ("se", expiry),
        ("sig", &sign(&string_to_sign)),
    ])
}

/// HMAC-SHA256 of `string_to_sign` with the account key, base64-encoded.
pub fn sign(string_to_sign: &str) -> String {
    let key = BASE64
        .decode(ACCOUNT_KEY)
        .unwrap_or_else(|e| panic!("the well-known account key is valid base64: {e}"));
    let mut mac = Hmac::<Sha256>::new_from_slice(&key)
        .unwrap_or_else(|e| panic!("HMAC takes keys of any length: {e}"));
    mac.update(string_to_sign.as_bytes());
    BASE64.encode(mac.finalize().into_bytes())
}

/// A SAS time: UTC, whole seconds, `YYYY-MM-DDThh:mm:ssZ`.
fn sas_time(at: OffsetDateTime) -> String {
    at.format(format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
    ))
    .unwrap_or_else(|e| panic!("formatting SAS time: {e}"))
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Percent-encodes a blob name for the URL path, keeping `/` as the separator it is in blob
/// names.
fn encode_path(blob: &str) -> String {
    let mut encoded = String::with_capacity(blob.len());
    for byte in blob.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                encoded.push(char::from(byte))
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}

fn check_container_name(container: &str) {
    let valid = (3..=63).contains(&container.len())
        && container
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !valid {
        panic!("`{container}` is not a valid container name (3-63 of a-z, 0-9, -)");
    }
}

fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("finding a free port: {e}"))?;
    listener
        .local_addr()
        .map(|addr| addr.port())
        .map_err(|e| format!("reading the free port: {e}"))
}

/// Sends `PUT target` with an empty body and returns the status code.
fn put_empty(port: u16, target: &str) -> u16 {
    let mut stream = TcpStream::connect(("127.0.0.1", port))
        .unwrap_or_else(|e| panic!("connecting to azurite on port {port}: {e}"));
    let _ = stream.set_read_timeout(Some(REQUEST_TIMEOUT));
    let request = format!(
        "PUT {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-ms-version: {SAS_VERSION}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n"
    );
    stream
        .write_all(request.as_bytes())
        .unwrap_or_else(|e| panic!("sending PUT {target}: {e}"));

    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .unwrap_or_else(|e| panic!("reading the answer to PUT {target}: {e}"));
    response
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("PUT {target} got no HTTP status line: {response:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_string_to_sign_has_the_16_lines_of_2020_12_06() {
        let s =
            blob_sas_string_to_sign("bundles", "dags/a b.tar.gz", "rcw", "2030-01-01T00:00:00Z");

        assert_eq!(s.split('\n').count(), 16);
        assert!(s.starts_with("rcw\n\n2030-01-01T00:00:00Z\n/blob/devstoreaccount1/bundles/"));
        assert!(s.contains("\n2020-12-06\nb\n"));
    }

    #[test]
    fn blob_names_keep_slashes_and_encode_the_rest() {
        assert_eq!(encode_path("dags/a b+c.tar.gz"), "dags/a%20b%2Bc.tar.gz");
    }
}
