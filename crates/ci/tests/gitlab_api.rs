//! The GitLab API side of the adapter against a local fake of GitLab's notes API: it checks each
//! request's method, path, `PRIVATE-TOKEN` and JSON body, pages with `x-next-page` as GitLab
//! does, and keeps the notes, so a second run must find the first run's note.

use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ci::github::comment_marker;
use ci::gitlab_api::{ApiOutcome, GitlabApi, GitlabToken, Note, NOTE_SCOPE};
use serde_json::{json, Value};

const TOKEN: &str = "glpat-Xy7q2LmN9pRt4VwZ8aBc";
const PROJECT: &str = "4711";
const MR: u64 = 12;
const NOTES: &str = "/api/v4/projects/4711/merge_requests/12/notes";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: Method,
    path: String,
    query: String,
    token: Option<String>,
    body: Option<Value>,
}

#[derive(Default)]
struct Fake {
    notes: Vec<(u64, String)>,
    seen: Vec<Seen>,
    /// Answer every request with this status and a GitLab error body.
    refuse: Option<StatusCode>,
}

type Shared = Arc<Mutex<Fake>>;

async fn handle(
    State(fake): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut fake = fake.lock().unwrap();
    let body: Option<Value> = (!body.is_empty()).then(|| serde_json::from_slice(&body).unwrap());
    fake.seen.push(Seen {
        method: method.clone(),
        path: uri.path().to_owned(),
        query: uri.query().unwrap_or_default().to_owned(),
        token: headers
            .get("private-token")
            .map(|v| v.to_str().unwrap().to_owned()),
        body: body.clone(),
    });

    if let Some(status) = fake.refuse {
        let message = json!({ "message": format!("{} Forbidden", status.as_u16()) });
        return (status, axum::Json(message)).into_response();
    }
    if headers.get("private-token").and_then(|v| v.to_str().ok()) != Some(TOKEN) {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"message":"401 Unauthorized"}"#,
        )
            .into_response();
    }

    let text = |body: &Option<Value>| {
        body.as_ref()
            .and_then(|b| b["body"].as_str())
            .map(str::to_owned)
    };
    match (method, uri.path()) {
        (Method::GET, NOTES) => {
            let query = uri.query().unwrap_or_default();
            let param = |name: &str| {
                query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix(&format!("{name}=")))
                    .and_then(|v| v.parse::<usize>().ok())
            };
            let (page, per_page) = (param("page").unwrap_or(1), param("per_page").unwrap_or(20));
            let start = (page - 1) * per_page;
            let items: Vec<Value> = fake
                .notes
                .iter()
                .skip(start)
                .take(per_page)
                .map(|(id, body)| json!({ "id": id, "body": body, "system": false }))
                .collect();
            let next = match start + per_page < fake.notes.len() {
                true => (page + 1).to_string(),
                false => String::new(),
            };
            ([("x-next-page", next)], axum::Json(Value::Array(items))).into_response()
        }
        (Method::POST, NOTES) => {
            let Some(text) = text(&body) else {
                return (StatusCode::BAD_REQUEST, r#"{"error":"body is missing"}"#).into_response();
            };
            let id = 9000 + fake.notes.len() as u64;
            fake.notes.push((id, text.clone()));
            (
                StatusCode::CREATED,
                axum::Json(json!({ "id": id, "body": text })),
            )
                .into_response()
        }
        (Method::PUT, path) if path.starts_with(&format!("{NOTES}/")) => {
            let id: u64 = path[NOTES.len() + 1..].parse().unwrap();
            let Some(text) = text(&body) else {
                return (StatusCode::BAD_REQUEST, r#"{"error":"body is missing"}"#).into_response();
            };
            match fake.notes.iter_mut().find(|(n, _)| *n == id) {
                Some(note) => {
                    note.1 = text.clone();
                    axum::Json(json!({ "id": id, "body": text })).into_response()
                }
                None => (StatusCode::NOT_FOUND, r#"{"message":"404 Not found"}"#).into_response(),
            }
        }
        _ => (StatusCode::NOT_FOUND, r#"{"error":"404 Not Found"}"#).into_response(),
    }
}

/// The fake on a free loopback port; returns its `CI_API_V4_URL`.
async fn start(fake: Shared) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(handle).with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/api/v4/")
}

fn api(url: &str) -> GitlabApi {
    GitlabApi::new(url, PROJECT, GitlabToken::new(TOKEN)).unwrap()
}

fn done(outcome: ApiOutcome<Note>) -> Note {
    match outcome {
        ApiOutcome::Done(note) => note,
        ApiOutcome::NotPermitted(refused) => panic!("refused: {refused:?}"),
    }
}

#[tokio::test]
async fn the_first_run_creates_the_note_and_the_second_updates_it() {
    let fake = Shared::default();
    let url = start(fake.clone()).await;
    let marker = comment_marker("cm4r2x0q5000008l4a1b2c3d4");

    let first = done(
        api(&url)
            .upsert_mr_note(MR, &marker, &format!("{marker}\nfirst deploy"))
            .await
            .unwrap(),
    );
    let second = done(
        api(&url)
            .upsert_mr_note(MR, &marker, "second deploy")
            .await
            .unwrap(),
    );

    assert!(first.created);
    assert!(!second.created);
    assert_eq!(first.id, second.id);
    let fake = fake.lock().unwrap();
    assert_eq!(
        fake.notes,
        [(first.id, format!("{marker}\nsecond deploy"))],
        "one note, updated, with the marker in front"
    );

    let calls: Vec<(Method, String)> = fake
        .seen
        .iter()
        .map(|s| (s.method.clone(), s.path.clone()))
        .collect();
    assert_eq!(
        calls,
        [
            (Method::GET, NOTES.to_owned()),
            (Method::POST, NOTES.to_owned()),
            (Method::GET, NOTES.to_owned()),
            (Method::PUT, format!("{NOTES}/{}", first.id)),
        ]
    );
    assert!(fake.seen.iter().all(|s| s.token.as_deref() == Some(TOKEN)));
    assert_eq!(fake.seen[0].query, "per_page=100&page=1");
    assert_eq!(
        fake.seen[1].body,
        Some(json!({ "body": format!("{marker}\nfirst deploy") }))
    );
    assert_eq!(
        fake.seen[3].body,
        Some(json!({ "body": format!("{marker}\nsecond deploy") }))
    );
}

#[tokio::test]
async fn a_note_on_the_second_page_is_found_and_updated() {
    let marker = comment_marker("cm4r2x0q5000008l4a1b2c3d4");
    let other = comment_marker("another-deployment");
    let mut notes: Vec<(u64, String)> = (1..=130).map(|id| (id, format!("review {id}"))).collect();
    notes[5].1 = format!("{other}\nanother Deployment's note");
    notes.push((131, format!("{marker}\nold report")));
    let fake = Shared::new(Mutex::new(Fake {
        notes,
        ..Fake::default()
    }));
    let url = start(fake.clone()).await;

    let note = done(
        api(&url)
            .upsert_mr_note(MR, &marker, "new report")
            .await
            .unwrap(),
    );

    assert_eq!(
        note,
        Note {
            id: 131,
            created: false
        }
    );
    let fake = fake.lock().unwrap();
    let queries: Vec<&str> = fake.seen.iter().map(|s| s.query.as_str()).collect();
    assert_eq!(queries, ["per_page=100&page=1", "per_page=100&page=2", ""]);
    assert_eq!(fake.seen[2].method, Method::PUT);
    assert_eq!(fake.notes.len(), 131, "no duplicate note");
    assert_eq!(fake.notes[130].1, format!("{marker}\nnew report"));
    assert_eq!(
        fake.notes[5].1,
        format!("{other}\nanother Deployment's note")
    );
}

#[tokio::test]
async fn a_refused_token_is_not_permitted_with_the_scope_and_never_leaks() {
    for status in [
        StatusCode::FORBIDDEN,
        StatusCode::UNAUTHORIZED,
        StatusCode::NOT_FOUND,
    ] {
        let fake = Shared::new(Mutex::new(Fake {
            refuse: Some(status),
            ..Fake::default()
        }));
        let url = start(fake.clone()).await;
        let marker = comment_marker("dep");

        let outcome = api(&url)
            .upsert_mr_note(MR, &marker, "report")
            .await
            .unwrap();

        let ApiOutcome::NotPermitted(refused) = outcome else {
            panic!("{status}: not refused: {outcome:?}");
        };
        assert_eq!(refused.status, status.as_u16());
        assert_eq!(
            refused.warning(),
            format!(
                "GitLab did not let the token comment on merge request !12 of project `4711` \
                 ({}: {} Forbidden); the deploy itself is not affected",
                status.as_u16(),
                status.as_u16()
            )
        );
        assert!(refused.hint().contains(&format!("`{NOTE_SCOPE}` scope")));
        assert!(refused.hint().contains("Reporter role"));
        for text in [refused.warning(), refused.hint(), format!("{refused:?}")] {
            assert!(!text.contains(TOKEN), "the token leaked: {text}");
        }
        assert!(fake.lock().unwrap().notes.is_empty());
    }
}

#[tokio::test]
async fn errors_and_debug_output_never_show_the_token() {
    // An echo of the token in an error body, as a misconfigured proxy might send.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(|headers: HeaderMap| async move {
        let token = headers["private-token"].to_str().unwrap().to_owned();
        let body = json!({ "message": format!("bad gateway for token {token}") });
        (StatusCode::BAD_GATEWAY, axum::Json(body))
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let api = api(&format!("http://{addr}/api/v4"));

    let error = api
        .upsert_mr_note(MR, "<!-- m -->", "report")
        .await
        .unwrap_err();

    let mut chain = format!("{error} {error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&format!(" {cause}"));
        source = cause.source();
    }
    assert!(
        chain.contains("GitLab answered 502: bad gateway for token ***"),
        "{chain}"
    );
    assert!(!chain.contains(TOKEN), "the token leaked: {chain}");
    assert!(!format!("{api:?}").contains(TOKEN));
    assert_eq!(format!("{:?}", GitlabToken::new(TOKEN)), "GitlabToken(***)");
}

#[tokio::test]
async fn a_url_that_is_not_http_is_refused_up_front() {
    let error = GitlabApi::new("gitlab.com/api/v4", PROJECT, GitlabToken::new(TOKEN)).unwrap_err();

    assert_eq!(
        error.to_string(),
        "setting up the GitLab API client for `gitlab.com/api/v4`"
    );
    assert!(error.hint().unwrap().contains("CI_API_V4_URL"));
}
