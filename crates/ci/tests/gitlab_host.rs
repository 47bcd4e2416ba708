//! The GitLab review host against a local fake of GitLab's merge request and branch API: it
//! checks each request's method, raw path and `PRIVATE-TOKEN`, decodes the branch segment as
//! GitLab does, and answers with GitLab's documented bodies and its three kinds of 404
//! (`404 Not found`, `404 Branch Not Found`, `404 Project Not Found`).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ci::gitlab_api::{GitlabApi, GitlabToken};
use ci::gitlab_host::{GitlabReviewHost, READ_SCOPE};
use deploy::preview::{Liveness, ReviewHost};
use serde_json::{json, Value};

const TOKEN: &str = "glpat-Xy7q2LmN9pRt4VwZ8aBc";
/// A project path, which itself travels as one encoded segment.
const PROJECT: &str = "acme/airflow";
const PROJECT_URL: &str = "/api/v4/projects/acme%2Fairflow";

#[derive(Default)]
struct Fake {
    /// Merge request states by iid.
    merge_requests: BTreeMap<u64, &'static str>,
    /// Branch names as git knows them, not encoded.
    branches: Vec<String>,
    /// The token may not see the project: GitLab then says `404 Project Not Found`.
    hidden: bool,
    /// Answer every request with this status and a body that echoes the token.
    fail_with: Option<StatusCode>,
    /// `METHOD raw-path` of each request.
    seen: Vec<String>,
}

type Shared = Arc<Mutex<Fake>>;

fn not_found(message: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        axum::Json(json!({ "message": message })),
    )
        .into_response()
}

async fn handle(
    State(fake): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let mut fake = fake.lock().unwrap();
    fake.seen.push(format!("{method} {}", uri.path()));

    if let Some(status) = fake.fail_with {
        let message = format!("{} upstream failed for token {TOKEN}", status.as_u16());
        return (status, axum::Json(json!({ "message": message }))).into_response();
    }
    if headers.get("private-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        let body = json!({ "message": "401 Unauthorized" });
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let Some(rest) = uri.path().strip_prefix(PROJECT_URL) else {
        return not_found("404 Project Not Found");
    };
    if fake.hidden {
        return not_found("404 Project Not Found");
    }

    let segments: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        (Method::GET, ["merge_requests", iid]) => {
            let iid: u64 = match iid.parse() {
                Ok(iid) => iid,
                Err(_) => return not_found("404 Not found"),
            };
            match fake.merge_requests.get(&iid) {
                Some(state) => axum::Json(merge_request(iid, state)).into_response(),
                None => not_found("404 Not found"),
            }
        }
        // One segment, decoded as GitLab does: an unencoded `/` splits the name into a route
        // GitLab does not have.
        (Method::GET, ["repository", "branches", branch]) => {
            let branch = percent_decode(branch);
            match fake.branches.contains(&branch) {
                true => axum::Json(branch_body(&branch)).into_response(),
                false => not_found("404 Branch Not Found"),
            }
        }
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({ "error": "404 Not Found" })),
        )
            .into_response(),
    }
}

/// A merge request as GitLab's API documentation shows it, cut to the usual fields.
fn merge_request(iid: u64, state: &str) -> Value {
    let at = |when: bool| match when {
        true => json!("2026-11-30T09:12:00.000Z"),
        false => Value::Null,
    };
    json!({
        "id": 90_000 + iid,
        "iid": iid,
        "project_id": 4711,
        "title": "Load the orders DAG from the new bucket",
        "state": state,
        "created_at": "2026-11-28T10:21:06.000Z",
        "updated_at": "2026-11-30T09:12:00.000Z",
        "merged_at": at(state == "merged"),
        "closed_at": at(state == "closed"),
        "target_branch": "main",
        "source_branch": "feature/orders",
        "draft": false,
        "merge_status": "can_be_merged",
        "sha": "8888888888888888888888888888888888888888",
        "web_url": format!("https://gitlab.example.com/{PROJECT}/-/merge_requests/{iid}"),
    })
}

/// A branch as GitLab's API documentation shows it.
fn branch_body(name: &str) -> Value {
    json!({
        "name": name,
        "merged": false,
        "protected": false,
        "default": false,
        "developers_can_push": false,
        "developers_can_merge": false,
        "can_push": true,
        "web_url": format!("https://gitlab.example.com/{PROJECT}/-/tree/{name}"),
        "commit": {
            "id": "7b5c3cc8be40ee161ae89a06bba6229da1032a0c",
            "short_id": "7b5c3cc",
            "title": "add projects API",
            "author_name": "John Smith",
            "authored_date": "2012-06-27T05:51:39-07:00",
            "committed_date": "2012-06-28T03:44:20-07:00",
        },
    })
}

/// A path segment's `%XX` bytes, read as UTF-8.
fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8(decoded).unwrap()
}

/// The fake on a free loopback port; returns its `CI_API_V4_URL`.
async fn start(fake: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(handle).with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api/v4")
}

fn host(url: &str) -> GitlabReviewHost {
    GitlabReviewHost::new(GitlabApi::new(url, PROJECT, GitlabToken::new(TOKEN)).unwrap())
}

fn unknown_reason(liveness: Liveness) -> String {
    match liveness {
        Liveness::Unknown { reason } => reason,
        other => panic!("expected Unknown, got {other:?}"),
    }
}

fn closed(reason: &str) -> Liveness {
    Liveness::Closed {
        reason: reason.to_owned(),
    }
}

#[tokio::test]
async fn opened_and_locked_merge_requests_are_alive_and_merged_or_closed_ones_are_not() {
    let fake = Shared::new(Mutex::new(Fake {
        merge_requests: BTreeMap::from([
            (12, "opened"),
            (13, "locked"),
            (14, "merged"),
            (15, "closed"),
        ]),
        ..Fake::default()
    }));
    let host = host(&start(fake.clone()).await);

    assert_eq!(host.review_state(12).await, Liveness::Alive);
    assert_eq!(host.review_state(13).await, Liveness::Alive);
    assert_eq!(
        host.review_state(14).await,
        closed("merge request !14 merged")
    );
    assert_eq!(
        host.review_state(15).await,
        closed("merge request !15 closed")
    );

    let seen = fake.lock().unwrap().seen.clone();
    let expected: Vec<String> = (12..=15)
        .map(|iid| format!("GET {PROJECT_URL}/merge_requests/{iid}"))
        .collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_branch_with_slashes_and_non_ascii_travels_as_one_encoded_segment() {
    let fake = Shared::new(Mutex::new(Fake {
        branches: vec!["main".to_owned(), "feature/dägs-1.2".to_owned()],
        ..Fake::default()
    }));
    let host = host(&start(fake.clone()).await);

    assert_eq!(host.branch_state("feature/dägs-1.2").await, Liveness::Alive);
    assert_eq!(
        host.branch_state("feature/gone").await,
        closed("branch `feature/gone` deleted")
    );

    assert_eq!(
        fake.lock().unwrap().seen,
        [
            format!("GET {PROJECT_URL}/repository/branches/feature%2Fd%C3%A4gs-1.2"),
            format!("GET {PROJECT_URL}/repository/branches/feature%2Fgone"),
        ]
    );
}

#[tokio::test]
async fn a_merge_request_gitlab_cannot_find_is_unknown_not_closed() {
    let fake = Shared::default();
    let host = host(&start(fake).await);

    let reason = unknown_reason(host.review_state(99).await);

    assert_eq!(
        reason,
        format!(
            "could not ask GitLab about merge request !99 of project `acme%2Fairflow` (GitLab \
             answered 404: 404 Not found); the token needs the `{READ_SCOPE}` scope and at \
             least the Reporter role"
        )
    );
}

#[tokio::test]
async fn a_project_the_token_cannot_see_leaves_branches_and_merge_requests_unknown() {
    let fake = Shared::new(Mutex::new(Fake {
        merge_requests: BTreeMap::from([(12, "merged")]),
        hidden: true,
        ..Fake::default()
    }));
    let host = host(&start(fake).await);

    let branch = unknown_reason(host.branch_state("feature/x").await);
    let review = unknown_reason(host.review_state(12).await);

    for reason in [&branch, &review] {
        assert!(reason.contains("404: 404 Project Not Found"), "{reason}");
        assert!(
            reason.contains(&format!("`{READ_SCOPE}` scope")),
            "{reason}"
        );
    }
}

#[tokio::test]
async fn refusals_and_outages_are_unknown_naming_the_scope_without_the_token() {
    for status in [
        StatusCode::UNAUTHORIZED,
        StatusCode::FORBIDDEN,
        StatusCode::INTERNAL_SERVER_ERROR,
        StatusCode::BAD_GATEWAY,
    ] {
        let fake = Shared::new(Mutex::new(Fake {
            merge_requests: BTreeMap::from([(12, "closed")]),
            branches: vec!["feature/x".to_owned()],
            fail_with: Some(status),
            ..Fake::default()
        }));
        let host = host(&start(fake).await);

        let review = unknown_reason(host.review_state(12).await);
        let branch = unknown_reason(host.branch_state("feature/x").await);

        let code = status.as_u16();
        for reason in [&review, &branch] {
            let answered = format!("GitLab answered {code}: {code} upstream failed for token ***");
            assert!(reason.contains(&answered), "{reason}");
            assert!(
                reason.contains(&format!("`{READ_SCOPE}` scope")),
                "{reason}"
            );
            assert_eq!(
                code == 401,
                reason.contains("invalid or expired"),
                "{reason}"
            );
            assert!(!reason.contains(TOKEN), "the token leaked: {reason}");
        }
    }
}

#[tokio::test]
async fn a_state_gitlab_may_add_later_is_unknown() {
    let fake = Shared::new(Mutex::new(Fake {
        merge_requests: BTreeMap::from([(12, "archived")]),
        ..Fake::default()
    }));
    let host = host(&start(fake).await);

    let reason = unknown_reason(host.review_state(12).await);

    assert!(reason.contains("the state `archived`"), "{reason}");
}

#[tokio::test]
async fn gitlab_out_of_reach_is_unknown() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/api/v4", listener.local_addr().unwrap());
    drop(listener);
    let host = host(&url);

    let review = unknown_reason(host.review_state(12).await);
    let branch = unknown_reason(host.branch_state("main").await);

    assert!(
        review.starts_with("could not ask GitLab about merge request !12 of project"),
        "{review}"
    );
    assert!(
        branch.contains(&format!("`{READ_SCOPE}` scope")),
        "{branch}"
    );
}
