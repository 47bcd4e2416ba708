//! A small stand-in for GitLab's merge request notes API, for end-to-end runs of the GitLab
//! template: it keeps notes in memory and requires the token it was started with, so that a
//! test can assert what a pipeline left on the merge request. That the requests match GitLab's
//! API is held in `crates/ci/tests/gitlab_api.rs`.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

#[derive(Default)]
pub struct GitlabState {
    /// Notes by merge request iid: `(iid, note id, body)`.
    pub notes: Vec<(u64, u64, String)>,
    token: String,
}

type Shared = Arc<Mutex<GitlabState>>;

pub struct FakeGitlab {
    url: String,
    state: Shared,
}

impl FakeGitlab {
    /// Listens on a free loopback port; only `token` (as `PRIVATE-TOKEN`) is let in.
    pub async fn start(token: &str) -> FakeGitlab {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let url = format!(
            "http://{}/api/v4",
            listener.local_addr().expect("the address")
        );
        let state: Shared = Arc::new(Mutex::new(GitlabState {
            token: token.to_owned(),
            ..GitlabState::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGitlab { url, state }
    }

    /// The value for `CI_API_V4_URL`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The notes of merge request `iid`, in order.
    pub fn notes(&self, iid: u64) -> Vec<String> {
        let state = self.state.lock().expect("the fake's state");
        state
            .notes
            .iter()
            .filter(|(of, _, _)| *of == iid)
            .map(|(_, _, body)| body.clone())
            .collect()
    }
}

async fn handle(
    State(state): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut state = state.lock().expect("the fake's state");
    let token = headers.get("private-token").and_then(|v| v.to_str().ok());
    if token != Some(state.token.as_str()) {
        let refused = json!({"message": "401 Unauthorized"});
        return (StatusCode::UNAUTHORIZED, axum::Json(refused)).into_response();
    }
    let text = serde_json::from_slice::<Value>(&body)
        .ok()
        .and_then(|b| b["body"].as_str().map(str::to_owned));
    let path = uri.path().trim_start_matches("/api/v4/");
    let segments: Vec<&str> = path.split('/').collect();

    match (method, segments.as_slice()) {
        (Method::GET, ["projects", _, "merge_requests", iid, "notes"]) => {
            let iid: u64 = iid.parse().unwrap_or(0);
            let listed: Vec<Value> = state
                .notes
                .iter()
                .filter(|(of, _, _)| *of == iid)
                .map(|(_, id, body)| json!({"id": id, "body": body, "system": false}))
                .collect();
            ([("x-next-page", "")], axum::Json(Value::Array(listed))).into_response()
        }
        (Method::POST, ["projects", _, "merge_requests", iid, "notes"]) => {
            let (Ok(iid), Some(text)) = (iid.parse::<u64>(), text) else {
                return (StatusCode::BAD_REQUEST, "a note needs a body").into_response();
            };
            let id = 9000 + state.notes.len() as u64;
            state.notes.push((iid, id, text.clone()));
            let created = json!({"id": id, "body": text});
            (StatusCode::CREATED, axum::Json(created)).into_response()
        }
        (Method::PUT, ["projects", _, "merge_requests", _, "notes", id]) => {
            let id: u64 = id.parse().unwrap_or(0);
            let Some(text) = text else {
                return (StatusCode::BAD_REQUEST, "a note needs a body").into_response();
            };
            match state.notes.iter_mut().find(|(_, n, _)| *n == id) {
                Some(note) => {
                    note.2 = text.clone();
                    axum::Json(json!({"id": id, "body": text})).into_response()
                }
                None => (StatusCode::NOT_FOUND, "404 Not found").into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, "404 Not Found").into_response(),
    }
}
