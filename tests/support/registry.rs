//! A real OCI registry for tests: Debian's `docker-registry` (distribution 2.8), installed by
//! `scripts/install-test-deps.sh`, serving plain http on loopback on a free port with its own
//! temporary storage (deletes enabled, no auth), and killed on drop.
//!
//! [`AuthProxy`] puts a login in front of one: it answers `401` with a `Basic` challenge until a
//! request carries the login it expects, records every `Authorization` it is sent, and passes
//! the rest on. Tests read from the record which registry was given which credentials.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};

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

/// Which requests an [`AuthProxy`] wants a login for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Pushes only: anyone may pull, as from a public repository.
    Writes,
    /// Every request, as a private registry.
    Everything,
}

/// A login in front of a [`LocalRegistry`], on its own loopback port, that records what it is
/// sent. Stops when dropped.
pub struct AuthProxy {
    port: u16,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

struct ProxyState {
    guard: Guard,
    upstream: String,
    expected: Mutex<Option<String>>,
    seen: Mutex<Vec<String>>,
    http: reqwest::Client,
}

impl AuthProxy {
    /// Starts a proxy to `upstream` that wants a login for the requests `guard` names; any
    /// login passes until [`AuthProxy::expect_login`] names one.
    pub async fn start(upstream: &LocalRegistry, guard: Guard) -> AuthProxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .unwrap_or_else(|e| panic!("binding the auth proxy: {e}"));
        let port = listener.local_addr().map(|a| a.port()).unwrap_or_default();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|e| panic!("building the proxy's client: {e}"));
        let state = Arc::new(ProxyState {
            guard,
            upstream: upstream.url(),
            expected: Mutex::new(None),
            seen: Mutex::new(Vec::new()),
            http,
        });
        let shared = Arc::clone(&state);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared), port));
            }
        });
        AuthProxy { port, state, task }
    }

    /// From now on only `user` with `password` gets in.
    pub fn expect_login(&self, user: &str, password: &str) {
        let value = format!("Basic {}", BASE64.encode(format!("{user}:{password}")));
        *lock(&self.state.expected) = Some(value);
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Every `Authorization` received, in order: `user:password` for Basic, else as sent.
    pub fn authorizations(&self) -> Vec<String> {
        lock(&self.state.seen)
            .iter()
            .map(|value| {
                value
                    .strip_prefix("Basic ")
                    .and_then(|encoded| BASE64.decode(encoded).ok())
                    .map(|pair| String::from_utf8_lossy(&pair).into_owned())
                    .unwrap_or_else(|| value.clone())
            })
            .collect()
    }
}

impl Drop for AuthProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// One HTTP/1.1 request as read off the socket.
struct ProxiedRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl ProxiedRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves one connection's requests, one after another, until the client closes it.
async fn serve(stream: tokio::net::TcpStream, state: Arc<ProxyState>, port: u16) {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    while let Some(request) = read_request(&mut reader).await {
        let answer = answer(&request, &state, port).await;
        if write.write_all(&answer).await.is_err() {
            return;
        }
        if request
            .header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
        {
            return;
        }
    }
}

async fn read_request(
    reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> Option<ProxiedRequest> {
    let mut line = String::new();
    reader.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let target = parts.next()?.to_owned();

    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok().filter(|n| *n > 0)?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    let mut request = ProxiedRequest {
        method,
        target,
        headers,
        body: Vec::new(),
    };

    let chunked = request
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    if chunked {
        request.body = read_chunked(reader).await?;
    } else if let Some(length) = request.header("content-length") {
        let mut body = vec![0; length.parse().ok()?];
        reader.read_exact(&mut body).await.ok()?;
        request.body = body;
    }
    Some(request)
}

async fn read_chunked(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).await.ok()?;
        let size = usize::from_str_radix(line.trim().split(';').next()?, 16).ok()?;
        if size == 0 {
            // Trailers, up to the empty line that ends the message.
            loop {
                let mut trailer = String::new();
                reader.read_line(&mut trailer).await.ok()?;
                if trailer.trim().is_empty() {
                    return Some(body);
                }
            }
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await.ok()?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).await.ok()?;
    }
}

/// The raw answer to `request`: a challenge, or the upstream registry's answer.
async fn answer(request: &ProxiedRequest, state: &ProxyState, port: u16) -> Vec<u8> {
    let authorization = request.header("authorization").map(str::to_owned);
    if let Some(value) = &authorization {
        lock(&state.seen).push(value.clone());
    }
    let guarded = match state.guard {
        Guard::Everything => true,
        Guard::Writes => request.method != "GET" && request.method != "HEAD",
    };
    let expected = lock(&state.expected).clone();
    let let_in = match (&authorization, &expected) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(sent), Some(expected)) => sent == expected,
    };
    if guarded && !let_in {
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
        let mut answer = format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"test\"\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        )
        .into_bytes();
        answer.extend_from_slice(body);
        return answer;
    }
    forward(request, state, port).await
}

async fn forward(request: &ProxiedRequest, state: &ProxyState, port: u16) -> Vec<u8> {
    let own = format!("127.0.0.1:{port}");
    let method =
        reqwest::Method::from_bytes(request.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let mut upstream = state
        .http
        .request(method, format!("{}{}", state.upstream, request.target))
        // The registry writes its `Location` headers for the host it was asked as.
        .header("host", &own)
        .body(request.body.clone());
    for (name, value) in &request.headers {
        let hop = ["host", "connection", "content-length", "transfer-encoding"];
        if !hop.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            upstream = upstream.header(name, value);
        }
    }
    let response = match upstream.send().await {
        Ok(response) => response,
        Err(e) => {
            let text = format!("the proxy could not reach the registry: {e}");
            return format!(
                "HTTP/1.1 502 Bad Gateway\r\nContent-Length: {}\r\n\r\n{text}",
                text.len()
            )
            .into_bytes();
        }
    };

    let status = response.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    let is_head = request.method == "HEAD";
    for (name, value) in response.headers() {
        let skip = ["connection", "transfer-encoding", "content-length"];
        let keep_length = is_head && name.as_str() == "content-length";
        if skip.contains(&name.as_str()) && !keep_length {
            continue;
        }
        let value = String::from_utf8_lossy(value.as_bytes())
            .replace(&state.upstream, &format!("http://{own}"));
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let body = response.bytes().await.unwrap_or_default();
    if !is_head {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut answer = head.into_bytes();
    if !is_head {
        answer.extend_from_slice(&body);
    }
    answer
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
