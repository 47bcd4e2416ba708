//! A small stand-in for GitHub's REST API, for end-to-end runs of `ci github` and
//! `ci github-preview`: it keeps pull request comments, Deployments and their statuses in
//! memory and records every call, so that a test can assert what a workflow run would have left
//! on GitHub. That each request and answer matches GitHub's API description is proven against
//! `@octokit/openapi` in `crates/ci/tests/github_api.rs`; this fake only has to be faithful
//! enough for the client to read its answers.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One request the fake answered.
#[derive(Debug, Clone)]
pub struct GithubCall {
    pub method: String,
    pub path: String,
    pub query: String,
    pub body: Option<Value>,
}

#[derive(Default)]
pub struct GithubState {
    pub comments: Vec<Value>,
    pub deployments: Vec<Value>,
    pub statuses: Vec<Value>,
    pub calls: Vec<GithubCall>,
    /// Pull requests by number: `open` or `closed`, and whether merged.
    pub pulls: Vec<(u64, &'static str, bool)>,
    /// Branches that exist, as git names them.
    pub branches: Vec<String>,
    /// Answer Deployment writes 403, as GitHub does for a token without `deployments: write`.
    pub refuse_deployments: bool,
    next_id: u64,
}

impl GithubState {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

type Shared = Arc<Mutex<GithubState>>;

pub struct FakeGithub {
    url: String,
    state: Shared,
}

impl FakeGithub {
    /// Listens on a free loopback port until the test ends.
    pub async fn start() -> FakeGithub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("the address"));
        let state: Shared = Arc::default();
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGithub { url, state }
    }

    /// The value for `GITHUB_API_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, GithubState> {
        self.state.lock().expect("the fake's state")
    }
}

async fn handle(State(state): State<Shared>, method: Method, uri: Uri, body: Bytes) -> Response {
    let mut state = state.lock().expect("the fake's state");
    let call = GithubCall {
        method: method.to_string(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        body: serde_json::from_slice(&body).ok(),
    };
    state.calls.push(call.clone());

    let segments: Vec<&str> = call.path.trim_matches('/').split('/').collect();
    let request = call.body.clone().unwrap_or_default();
    let (status, answer) = match (method.as_str(), segments.as_slice()) {
        ("GET", ["repos", _, _, "issues", _, "comments"]) => (200, json!(state.comments)),
        ("POST", ["repos", _, _, "issues", _, "comments"]) => {
            let id = state.next_id();
            let comment = json!({
                "id": id,
                "body": request["body"],
                "html_url": format!("https://github.invalid/comment/{id}"),
            });
            state.comments.push(comment.clone());
            (201, comment)
        }
        ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            match state.comments.iter_mut().find(|c| c["id"] == json!(id)) {
                Some(comment) => {
                    comment["body"] = request["body"].clone();
                    (200, comment.clone())
                }
                None => (404, json!({"message": "Not Found"})),
            }
        }
        ("GET", ["repos", _, _, "deployments"]) => {
            let environment = call
                .query
                .split('&')
                .find_map(|pair| pair.strip_prefix("environment="))
                .map(percent_decode);
            let listed: Vec<Value> = state
                .deployments
                .iter()
                .rev()
                .filter(|d| {
                    environment
                        .as_deref()
                        .is_none_or(|e| d["environment"] == json!(e))
                })
                .cloned()
                .collect();
            (200, json!(listed))
        }
        ("POST", ["repos", _, _, "deployments"]) if state.refuse_deployments => (
            403,
            json!({"message": "Resource not accessible by integration"}),
        ),
        ("POST", ["repos", _, _, "deployments"]) => {
            let id = state.next_id();
            let mut deployment = request.clone();
            deployment["id"] = json!(id);
            state.deployments.push(deployment.clone());
            (201, deployment)
        }
        ("POST", ["repos", _, _, "deployments", deployment, "statuses"]) => {
            let id = state.next_id();
            let mut status = request.clone();
            status["id"] = json!(id);
            status["deployment_id"] = json!(deployment.parse::<u64>().unwrap_or(0));
            state.statuses.push(status.clone());
            (201, status)
        }
        ("GET", ["repos", _, _, "pulls", number]) => {
            let number: u64 = number.parse().unwrap_or(0);
            match state.pulls.iter().find(|(n, _, _)| *n == number) {
                Some((number, pull_state, merged)) => (
                    200,
                    json!({
                        "number": number,
                        "state": pull_state,
                        "merged_at": merged.then_some("2026-12-04T05:00:00Z"),
                    }),
                ),
                None => (404, json!({"message": "Not Found"})),
            }
        }
        // One segment: a branch's `/` arrives encoded.
        ("GET", ["repos", _, _, "branches", branch]) => {
            let branch = percent_decode(branch);
            match state.branches.contains(&branch) {
                true => (200, json!({"name": branch})),
                false => (404, json!({"message": "Branch not found"})),
            }
        }
        _ => (404, json!({"message": "Not Found"})),
    };
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(answer)).into_response()
}

/// `%2F` and friends back to text, as GitHub reads a query value.
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        let hex = bytes
            .get(at + 1..at + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[at], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(byte)) => {
                out.push(byte);
                at += 3;
            }
            (byte, _) => {
                out.push(byte);
                at += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
