//! A proxy in front of the real registry, with a rule that decides per request whether to pass
//! it on, answer it itself (auth challenges, a token service) or break it (faults). It rewrites
//! the registry's `Location` headers to point at itself, as a gateway would.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{self, HeaderName};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use axum::Router;

/// What the proxy does with one request.
pub enum Action {
    /// Pass it to the registry and its answer back.
    Forward,
    /// Answer it here; the registry never sees it.
    Respond(Response),
    /// Pass it to the registry, then answer `status` instead: the request took effect but its
    /// answer was lost.
    ForwardThenFail(StatusCode),
    /// Pass it on, and flip a byte of the answer's body.
    ForwardCorrupted,
}

pub type Rule = Box<dyn Fn(&Parts) -> Action + Send + Sync>;

struct Shared {
    upstream: String,
    host: String,
    rule: Rule,
    http: reqwest::Client,
}

/// A running proxy on `127.0.0.1`, stopped when dropped.
pub struct Proxy {
    host: String,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy to the registry at `upstream` (`127.0.0.1:PORT`); `make_rule` gets the
    /// proxy's own host, for rules that must name it (a token realm).
    pub async fn start(upstream: &str, make_rule: impl FnOnce(&str) -> Rule) -> Proxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("binding a loopback port for the proxy");
        let port = listener.local_addr().expect("a bound address").port();
        let host = format!("127.0.0.1:{port}");
        let shared = Arc::new(Shared {
            upstream: upstream.to_owned(),
            host: host.clone(),
            rule: make_rule(&host),
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("a plain HTTP client"),
        });

        let router = Router::new().fallback(handle).with_state(shared);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        Proxy { host, task }
    }

    /// `127.0.0.1:PORT`, to use as the registry host.
    pub fn host(&self) -> &str {
        &self.host
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    match (shared.rule)(&parts) {
        Action::Respond(response) => response,
        Action::Forward => forward(&shared, parts, body, false).await,
        Action::ForwardCorrupted => forward(&shared, parts, body, true).await,
        Action::ForwardThenFail(status) => {
            let _ = forward(&shared, parts, body, false).await;
            (status, "injected failure").into_response()
        }
    }
}

async fn forward(shared: &Shared, parts: Parts, body: Body, corrupt: bool) -> Response {
    let Ok(bytes) = axum::body::to_bytes(body, 256 * 1024 * 1024).await else {
        return (StatusCode::BAD_REQUEST, "unreadable request body").into_response();
    };
    let target = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let url = format!("http://{}{target}", shared.upstream);

    let mut request = shared.http.request(parts.method.clone(), url);
    for (name, value) in &parts.headers {
        if passes(name) && name != header::AUTHORIZATION {
            request = request.header(name, value);
        }
    }
    let answer = match request.body(bytes).send().await {
        Ok(answer) => answer,
        Err(e) => return (StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    };

    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        let keep_length = parts.method == Method::HEAD && name == header::CONTENT_LENGTH;
        if name == header::LOCATION {
            let rewritten = value
                .to_str()
                .unwrap_or_default()
                .replace(&shared.upstream, &shared.host);
            response = response.header(name, rewritten);
        } else if passes(name) || keep_length {
            response = response.header(name, value);
        }
    }
    let mut body = answer.bytes().await.unwrap_or_default().to_vec();
    if corrupt {
        if let Some(first) = body.first_mut() {
            *first ^= 0xff;
        }
    }
    response
        .body(Body::from(body))
        .unwrap_or_else(|e| (StatusCode::BAD_GATEWAY, e.to_string()).into_response())
}

/// Headers that belong to one connection stay on it; lengths are recomputed.
fn passes(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host" | "connection" | "keep-alive" | "transfer-encoding" | "content-length" | "upgrade"
    )
}
