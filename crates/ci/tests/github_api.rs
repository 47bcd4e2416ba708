//! The GitHub API side of the adapter against a local fake of GitHub's REST API. Every request
//! is checked against GitHub's own description of the API (npm `@octokit/openapi`, installed by
//! `scripts/install-test-deps.sh`), and the fake answers with that description's examples, so
//! both the requests and what the client must parse are GitHub's.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use ci::github::{comment_marker, DeployReport, DeploymentRef, PreviewReport};
use ci::github_api::{
    ApiOutcome, DeploymentRequest, DeploymentState, GithubApi, GithubToken, COMMENT_PERMISSION,
    DEPLOYMENT_PERMISSION,
};
use ci::github_host::{GithubReviewHost, BRANCH_PERMISSION, REVIEW_PERMISSION};
use deploy::preview::{Liveness, ReviewHost};
use serde_json::{json, Value};
use spec_conformance::Spec;

const TOKEN: &str = "ghs_16C7e42F292c6912E7710c838347Ae178B4a";
const REPO: &str = "acme/airflow";
const PR: u64 = 12;

// --- GitHub's API description ------------------------------------------------------------------

/// The operations the adapter uses, cut out of GitHub's description: the whole document has
/// path templates (`{base}...{head}`) that `spec-conformance` does not take, and the cut is
/// faster to load.
const PATHS: [&str; 6] = [
    "/repos/{owner}/{repo}/issues/{issue_number}/comments",
    "/repos/{owner}/{repo}/issues/comments/{comment_id}",
    "/repos/{owner}/{repo}/deployments",
    "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
    "/repos/{owner}/{repo}/pulls/{pull_number}",
    "/repos/{owner}/{repo}/branches/{branch}",
];

struct GithubSpec {
    spec: Spec,
    examples: Value,
}

fn github_spec() -> &'static GithubSpec {
    static SPEC: OnceLock<GithubSpec> = OnceLock::new();
    SPEC.get_or_init(|| {
        let deps = std::env::var_os("ASTRO_DEPLOY_TEST_DEPS")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.test-deps"));
        let path = deps.join("node_modules/@octokit/openapi/generated/api.github.com.json");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "GitHub's REST API description `{}` cannot be read ({e}); install it with \
                 `bash scripts/install-test-deps.sh` (npm @octokit/openapi)",
                path.display()
            )
        });
        let mut doc: Value = serde_json::from_str(&text).expect("api.github.com.json is JSON");
        let paths = doc["paths"]
            .as_object_mut()
            .expect("the description has paths");
        paths.retain(|template, _| PATHS.contains(&template.as_str()));
        assert_eq!(
            paths.len(),
            PATHS.len(),
            "an operation left GitHub's description"
        );

        let spec = Spec::parse("api.github.com.json", &doc.to_string())
            .unwrap_or_else(|e| panic!("GitHub's description does not load: {e:?}"));
        let examples = doc["components"]["examples"].take();
        GithubSpec { spec, examples }
    })
}

fn example(name: &str) -> Value {
    let value = github_spec().examples[name]["value"].clone();
    assert!(
        value.is_object(),
        "GitHub's description has no example `{name}`"
    );
    value
}

/// GitHub's example pull request, made to fit its own schema: the example's requested team
/// lacks the `type` that the schema has since come to require.
fn pull_request_example() -> Value {
    let mut pull = example("pull-request");
    for team in pull["requested_teams"].as_array_mut().into_iter().flatten() {
        team["type"] = json!("organization");
    }
    pull
}

// --- A fake GitHub -----------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct Call {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    body: Option<Value>,
}

#[derive(Default)]
struct FakeState {
    base_url: String,
    /// `/api/v3` for GitHub Enterprise Server.
    prefix: String,
    comments: Vec<Value>,
    deployments: Vec<Value>,
    statuses: Vec<Value>,
    /// Pull requests by number: GitHub's example with `state` and `merged_at` set.
    pulls: BTreeMap<u64, Value>,
    /// Branch names as git knows them, not encoded.
    branches: Vec<String>,
    next_id: u64,
    refuse_comments: bool,
    refuse_deployments: bool,
    /// Every request is answered with this status and message.
    fail_with: Option<(u16, String)>,
    calls: Vec<Call>,
    violations: Vec<String>,
}

type Shared = Arc<Mutex<FakeState>>;

struct FakeGithub {
    url: String,
    state: Shared,
}

impl FakeGithub {
    async fn start(prefix: &str) -> FakeGithub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a loopback port");
        let address = listener.local_addr().expect("the bound address");
        let base_url = format!("http://{address}");
        let state = Arc::new(Mutex::new(FakeState {
            base_url: base_url.clone(),
            prefix: prefix.to_owned(),
            next_id: 1000,
            ..FakeState::default()
        }));
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeGithub {
            url: format!("{base_url}{prefix}"),
            state,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, FakeState> {
        self.state.lock().expect("the fake's state")
    }

    fn api(&self) -> GithubApi {
        GithubApi::new(&self.url, REPO, GithubToken::new(TOKEN)).expect("a client")
    }

    /// `METHOD path` of every call, in order.
    fn calls(&self) -> Vec<String> {
        let state = self.state();
        state
            .calls
            .iter()
            .map(|c| format!("{} {}", c.method, c.path))
            .collect()
    }

    fn assert_conforms(&self) {
        let state = self.state();
        assert!(
            state.violations.is_empty(),
            "the exchanges depart from GitHub's API description:\n{}",
            state.violations.join("\n")
        );
    }

    /// Comments by other people, so that finding the marker needs more than one page.
    fn seed_comments(&self, count: usize) {
        let mut state = self.state();
        for n in 0..count {
            let id = state.next_id();
            let comment = state.comment(id, &format!("Looks good to me ({n})"), "octocat");
            state.comments.push(comment);
        }
    }
}

impl FakeState {
    fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn add_pull(&mut self, number: u64, state: &str, merged_at: Option<&str>) {
        let mut pull = pull_request_example();
        pull["number"] = json!(number);
        pull["state"] = json!(state);
        pull["merged_at"] = json!(merged_at);
        pull["merged"] = json!(merged_at.is_some());
        self.pulls.insert(number, pull);
    }

    fn comment(&self, id: u64, body: &str, login: &str) -> Value {
        let mut comment = example("issue-comment");
        comment["id"] = json!(id);
        comment["body"] = json!(body);
        comment["url"] = json!(format!(
            "https://api.github.com/repos/{REPO}/issues/comments/{id}"
        ));
        comment["html_url"] = json!(format!(
            "https://github.com/{REPO}/pull/{PR}#issuecomment-{id}"
        ));
        comment["issue_url"] = json!(format!("https://api.github.com/repos/{REPO}/issues/{PR}"));
        comment["user"]["login"] = json!(login);
        if login.ends_with("[bot]") {
            comment["user"]["type"] = json!("Bot");
        }
        comment
    }

    fn error(status: u16, message: &str) -> (u16, Value, Option<String>) {
        let body = json!({
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": status.to_string(),
        });
        (status, body, None)
    }

    fn answer(
        &mut self,
        method: &Method,
        segments: &[&str],
        call: &Call,
    ) -> (u16, Value, Option<String>) {
        if let Some((status, message)) = self.fail_with.clone() {
            return Self::error(status, &message);
        }
        let refused = "Resource not accessible by integration";
        match (method.as_str(), segments) {
            ("GET", ["repos", _, _, "issues", _, "comments"]) => self.list_comments(call),
            ("POST", ["repos", _, _, "issues", _, "comments"]) if self.refuse_comments => {
                Self::error(403, refused)
            }
            ("POST", ["repos", _, _, "issues", _, "comments"]) => {
                let id = self.next_id();
                let body = call
                    .body
                    .as_ref()
                    .and_then(|b| b["body"].as_str())
                    .unwrap_or("");
                let comment = self.comment(id, body, "github-actions[bot]");
                self.comments.push(comment.clone());
                (201, comment, None)
            }
            ("PATCH", ["repos", _, _, "issues", "comments", id]) => {
                let body = call
                    .body
                    .as_ref()
                    .and_then(|b| b["body"].as_str())
                    .unwrap_or("");
                let found = self
                    .comments
                    .iter_mut()
                    .find(|c| c["id"].as_u64() == id.parse().ok());
                match found {
                    Some(comment) => {
                        comment["body"] = json!(body);
                        comment["updated_at"] = json!("2026-12-03T18:40:00Z");
                        (200, comment.clone(), None)
                    }
                    None => Self::error(404, "Not Found"),
                }
            }
            ("GET", ["repos", _, _, "deployments"]) => {
                let environment = call
                    .query
                    .iter()
                    .find(|(k, _)| k == "environment")
                    .map(|(_, v)| percent_decode(v));
                let listed: Vec<Value> = self
                    .deployments
                    .iter()
                    .rev()
                    .filter(|d| {
                        environment.is_none() || d["environment"].as_str() == environment.as_deref()
                    })
                    .cloned()
                    .collect();
                (200, Value::Array(listed), None)
            }
            ("POST", ["repos", _, _, "deployments"]) if self.refuse_deployments => {
                Self::error(403, refused)
            }
            ("POST", ["repos", _, _, "deployments"]) => {
                let request = call.body.clone().unwrap_or_default();
                let id = self.next_id();
                let mut deployment = example("deployment-simple-example");
                deployment["id"] = json!(id);
                deployment["ref"] = request["ref"].clone();
                deployment["environment"] = request["environment"].clone();
                deployment["original_environment"] = request["environment"].clone();
                deployment["description"] = request["description"].clone();
                deployment["transient_environment"] = request["transient_environment"].clone();
                self.deployments.push(deployment.clone());
                (201, deployment, None)
            }
            ("POST", ["repos", _, _, "deployments", deployment, "statuses"]) => {
                let known = self
                    .deployments
                    .iter()
                    .any(|d| d["id"].as_u64() == deployment.parse().ok());
                if !known {
                    return Self::error(404, "Not Found");
                }
                let request = call.body.clone().unwrap_or_default();
                let id = self.next_id();
                let mut status = example("deployment-status");
                status["id"] = json!(id);
                status["state"] = request["state"].clone();
                // What the request leaves out keeps the example's value.
                for (field, from) in [
                    ("description", "description"),
                    ("environment_url", "environment_url"),
                    ("log_url", "log_url"),
                    ("target_url", "log_url"),
                ] {
                    if let Some(value) = request[from].as_str() {
                        status[field] = json!(value);
                    }
                }
                self.statuses.push(status.clone());
                (201, status, None)
            }
            ("GET", ["repos", _, _, "pulls", number]) => {
                match number.parse().ok().and_then(|n: u64| self.pulls.get(&n)) {
                    Some(pull) => (200, pull.clone(), None),
                    None => Self::error(404, "Not Found"),
                }
            }
            // One segment, decoded as GitHub does: `feature%2Fx` is the branch `feature/x`. An
            // unencoded `/` splits the name and falls through to a plain `Not Found`.
            ("GET", ["repos", _, _, "branches", branch]) => {
                let branch = percent_decode(branch);
                match self.branches.contains(&branch) {
                    true => {
                        let mut found = example("branch-get");
                        found["name"] = json!(branch);
                        (200, found, None)
                    }
                    false => Self::error(404, "Branch not found"),
                }
            }
            _ => Self::error(404, "Not Found"),
        }
    }

    fn list_comments(&self, call: &Call) -> (u16, Value, Option<String>) {
        let param = |name: &str, default: usize| {
            call.query
                .iter()
                .find(|(k, _)| k == name)
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(default)
        };
        let per_page = param("per_page", 30).clamp(1, 100);
        let page = param("page", 1).max(1);
        let items: Vec<Value> = self
            .comments
            .iter()
            .skip((page - 1) * per_page)
            .take(per_page)
            .cloned()
            .collect();

        let pages = self.comments.len().div_ceil(per_page).max(1);
        let link_to = |page: usize, rel: &str| {
            format!(
                "<{}{}?per_page={per_page}&page={page}>; rel=\"{rel}\"",
                self.base_url, call.path
            )
        };
        let mut links = Vec::new();
        if page < pages {
            links.push(link_to(page + 1, "next"));
            links.push(link_to(pages, "last"));
        }
        let link = (!links.is_empty()).then(|| links.join(", "));
        (200, Value::Array(items), link)
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

    let full_path = uri.path().to_owned();
    let Some(path) = full_path
        .strip_prefix(state.prefix.as_str())
        .map(str::to_owned)
    else {
        let violation = format!("{method} {full_path}: not under `{}`", state.prefix);
        state.violations.push(violation);
        return (StatusCode::NOT_FOUND, "not under the API prefix").into_response();
    };
    let query: Vec<(String, String)> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let json_body = match body.is_empty() {
        true => None,
        false => match serde_json::from_slice::<Value>(&body) {
            Ok(value) => Some(value),
            Err(error) => {
                state
                    .violations
                    .push(format!("{method} {path}: body is not JSON: {error}"));
                None
            }
        },
    };
    let call = Call {
        method: method.to_string(),
        path: path.clone(),
        query: query.clone(),
        body: json_body.clone(),
    };
    state.calls.push(call.clone());

    let spec = &github_spec().spec;
    for violation in spec.check_request(method.as_str(), &path, &query, json_body.as_ref()) {
        state.violations.push(violation.to_string());
    }
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if authorization != format!("Bearer {TOKEN}") {
        state
            .violations
            .push(format!("{method} {path}: authorization `{authorization}`"));
        let (status, body, _) = FakeState::error(401, "Bad credentials");
        return reply(status, &body, None);
    }

    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (status, answer, link) = state.answer(&method, &segments, &call);
    // GitHub's description leaves out some refusals GitHub does send (403 on creating a
    // deployment): only successful answers are held to it.
    if (200..300).contains(&status) {
        for violation in spec.check_response(method.as_str(), &path, status, Some(&answer)) {
            state.violations.push(violation.to_string());
        }
    }
    reply(status, &answer, link)
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
    String::from_utf8(decoded).expect("a branch name is UTF-8")
}

fn reply(status: u16, body: &Value, link: Option<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (
        status,
        [("content-type", "application/json; charset=utf-8")],
        body.to_string(),
    )
        .into_response();
    if let Some(link) = link.and_then(|l| l.parse().ok()) {
        response.headers_mut().insert("link", link);
    }
    response
}

// --- What the adapter sends --------------------------------------------------------------------

fn report() -> DeployReport {
    DeployReport::failed(
        DeploymentRef {
            id: "cm4r2x0q5000008l4a1b2c3d4".to_owned(),
            name: Some("analytics-dev".to_owned()),
            workspace_id: None,
            airflow_url: Some("https://acme.astronomer.run/d8fe2wmv".to_owned()),
        },
        "creating the deploy: Astro answered 500",
        None,
    )
}

fn comment_body(text: &str) -> String {
    format!("{}\n{text}", comment_marker("cm4r2x0q5000008l4a1b2c3d4"))
}

fn pr_comments(fake: &FakeGithub) -> Vec<(u64, String)> {
    fake.state()
        .comments
        .iter()
        .map(|c| {
            (
                c["id"].as_u64().unwrap_or(0),
                c["body"].as_str().unwrap_or("").to_owned(),
            )
        })
        .filter(|(_, body)| body.contains("astro-deploy:"))
        .collect()
}

// --- Tests -------------------------------------------------------------------------------------

#[tokio::test]
async fn the_first_run_creates_the_comment_and_the_second_updates_it() {
    let fake = FakeGithub::start("").await;
    fake.seed_comments(120);
    // Someone quoting the marker is not the adapter's comment.
    {
        let mut state = fake.state();
        let id = state.next_id();
        let quoted = format!(
            "as the bot said: {}",
            comment_marker("cm4r2x0q5000008l4a1b2c3d4")
        );
        let comment = state.comment(id, &quoted, "octocat");
        state.comments.push(comment);
    }
    let api = fake.api();
    let marker = comment_marker("cm4r2x0q5000008l4a1b2c3d4");

    let first = api
        .upsert_pr_comment(PR, &marker, &comment_body("deploy one"))
        .await
        .expect("the first comment");
    let ApiOutcome::Done(first) = first else {
        panic!("the comment was refused: {first:?}");
    };
    assert!(first.created);
    assert_eq!(
        first.url,
        format!(
            "https://github.com/{REPO}/pull/{PR}#issuecomment-{}",
            first.id
        )
    );

    let second = api
        .upsert_pr_comment(PR, &marker, &comment_body("deploy two"))
        .await
        .expect("the second comment");
    let ApiOutcome::Done(second) = second else {
        panic!("the comment was refused: {second:?}");
    };
    assert!(!second.created, "the second run must update, not add");
    assert_eq!(second.id, first.id);

    let ours: Vec<_> = pr_comments(&fake)
        .into_iter()
        .filter(|(_, body)| body.starts_with("<!--"))
        .collect();
    assert_eq!(ours, vec![(first.id, comment_body("deploy two"))]);
    assert_eq!(fake.state().comments.len(), 122);

    let comments = format!("/repos/{REPO}/issues/{PR}/comments");
    assert_eq!(
        fake.calls(),
        vec![
            format!("GET {comments}"),
            format!("GET {comments}"),
            format!("POST {comments}"),
            format!("GET {comments}"),
            format!("GET {comments}"),
            format!("PATCH /repos/{REPO}/issues/comments/{}", first.id),
        ]
    );
    let pages: Vec<Vec<(String, String)>> = fake
        .state()
        .calls
        .iter()
        .filter(|c| c.method == "GET")
        .map(|c| c.query.clone())
        .collect();
    assert_eq!(
        pages[1],
        vec![
            ("per_page".into(), "100".into()),
            ("page".into(), "2".into())
        ]
    );
    fake.assert_conforms();
}

#[tokio::test]
async fn a_body_without_the_marker_gets_it_and_is_still_found_again() {
    let fake = FakeGithub::start("").await;
    let api = fake.api();
    let marker = comment_marker("d9");

    let first = api.upsert_pr_comment(PR, &marker, "plain text").await;
    let second = api
        .upsert_pr_comment(PR, &marker, "plain text, again")
        .await;

    let (Ok(ApiOutcome::Done(first)), Ok(ApiOutcome::Done(second))) = (first, second) else {
        panic!("the comments were refused");
    };
    assert!(first.created && !second.created);
    assert_eq!(first.id, second.id);
    let bodies: Vec<String> = fake
        .state()
        .comments
        .iter()
        .map(|c| c["body"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(bodies, vec![format!("{marker}\nplain text, again")]);
    fake.assert_conforms();
}

#[tokio::test]
async fn a_refused_comment_is_a_warning_naming_the_permission() {
    let fake = FakeGithub::start("").await;
    fake.state().refuse_comments = true;

    let outcome = fake
        .api()
        .upsert_pr_comment(PR, &comment_marker("d1"), &comment_body("x"))
        .await
        .expect("a refusal is not an error");

    let ApiOutcome::NotPermitted(refused) = outcome else {
        panic!("expected a refusal, got {outcome:?}");
    };
    assert_eq!(refused.status, 403);
    assert_eq!(refused.permission, COMMENT_PERMISSION);
    assert_eq!(
        refused.warning(),
        "GitHub did not let the token comment on pull request #12 of `acme/airflow` (403: \
         Resource not accessible by integration); the deploy itself is not affected"
    );
    assert!(
        refused.hint().contains("`pull-requests: write`"),
        "{}",
        refused.hint()
    );
    fake.assert_conforms();
}

#[tokio::test]
async fn records_a_deployment_and_its_status() {
    let fake = FakeGithub::start("").await;
    let report = report();
    let (deployment, status) =
        DeploymentRequest::for_report(&report, "feature/dags", Some("https://github.com/run/1"))
            .expect("a failed deploy is recorded");
    assert_eq!(status.state, DeploymentState::Failure);

    let outcome = fake
        .api()
        .record_deployment(&deployment, &status)
        .await
        .expect("the deployment is recorded");
    let ApiOutcome::Done(recorded) = outcome else {
        panic!("refused: {outcome:?}");
    };

    let state = fake.state();
    assert_eq!(state.deployments.len(), 1);
    assert_eq!(
        state.deployments[0]["id"].as_u64(),
        Some(recorded.deployment_id)
    );
    let bodies: Vec<(String, Value)> = state
        .calls
        .iter()
        .map(|c| {
            (
                format!("{} {}", c.method, c.path),
                c.body.clone().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(
        bodies,
        vec![
            (
                format!("POST /repos/{REPO}/deployments"),
                json!({
                    "ref": "feature/dags",
                    "task": "deploy",
                    "auto_merge": false,
                    "required_contexts": [],
                    "environment": "analytics-dev",
                    "description": "astro-deploy: the deploy failed",
                    "transient_environment": false,
                }),
            ),
            (
                format!(
                    "POST /repos/{REPO}/deployments/{}/statuses",
                    recorded.deployment_id
                ),
                json!({
                    "state": "failure",
                    "environment_url": "https://acme.astronomer.run/d8fe2wmv",
                    "log_url": "https://github.com/run/1",
                    "description": "astro-deploy: the deploy failed",
                }),
            ),
        ]
    );
    assert_eq!(state.statuses[0]["id"].as_u64(), Some(recorded.status_id));
    drop(state);
    fake.assert_conforms();
}

#[tokio::test]
async fn a_preview_is_a_transient_environment() {
    let fake = FakeGithub::start("").await;
    let mut report = report();
    report.preview = Some(PreviewReport {
        id: "cpreview1".to_owned(),
        url: None,
    });
    let (deployment, status) =
        DeploymentRequest::for_report(&report, "feature/x", None).expect("a preview is recorded");

    let outcome = fake.api().record_deployment(&deployment, &status).await;
    assert!(matches!(outcome, Ok(ApiOutcome::Done(_))), "{outcome:?}");
    let state = fake.state();
    let body = state.calls[0].body.clone().unwrap_or_default();
    assert_eq!(body["transient_environment"], json!(true));
    drop(state);
    fake.assert_conforms();
}

#[tokio::test]
async fn deleting_a_preview_marks_only_its_environment_inactive() {
    let fake = FakeGithub::start("").await;
    let api = fake.api();
    let preview = |name: &str| {
        let mut report = report();
        report.deployment.name = Some(name.to_owned());
        report.preview = Some(PreviewReport {
            id: "cpreview1".to_owned(),
            url: None,
        });
        DeploymentRequest::for_report(&report, "feature/x", None).expect("a preview is recorded")
    };
    for name in [
        "preview-feature-x-1a2b3c4d",
        "preview-feature-x-1a2b3c4d",
        "preview-other",
    ] {
        let (deployment, status) = preview(name);
        assert_eq!(
            deployment.production,
            Some(false),
            "a preview is never production"
        );
        let outcome = api.record_deployment(&deployment, &status).await;
        assert!(matches!(outcome, Ok(ApiOutcome::Done(_))), "{outcome:?}");
    }

    let marked = api
        .deactivate_environment("preview-feature-x-1a2b3c4d")
        .await
        .expect("the environment is marked");

    assert!(matches!(marked, ApiOutcome::Done(2)), "{marked:?}");
    let state = fake.state();
    let inactive: Vec<&Value> = state
        .statuses
        .iter()
        .filter(|s| s["state"] == json!("inactive"))
        .collect();
    assert_eq!(
        inactive.len(),
        2,
        "one inactive status for each of its deployments"
    );
    let other_ids: Vec<u64> = state
        .deployments
        .iter()
        .filter(|d| d["environment"] == json!("preview-other"))
        .filter_map(|d| d["id"].as_u64())
        .collect();
    let touched_other = state.calls.iter().any(|c| {
        other_ids
            .iter()
            .any(|id| c.path.contains(&format!("/deployments/{id}/statuses")) && c.method == "POST")
            && c.body
                .as_ref()
                .is_some_and(|b| b["state"] == json!("inactive"))
    });
    assert!(
        !touched_other,
        "another preview's environment stays as it is"
    );
    drop(state);
    fake.assert_conforms();
}

#[tokio::test]
async fn a_token_without_deployments_write_gets_a_warning() {
    let fake = FakeGithub::start("").await;
    fake.state().refuse_deployments = true;
    let (deployment, status) = DeploymentRequest::for_report(&report(), "main", None)
        .expect("a failed deploy is recorded");

    let outcome = fake
        .api()
        .record_deployment(&deployment, &status)
        .await
        .expect("a refusal is not an error");

    let ApiOutcome::NotPermitted(refused) = outcome else {
        panic!("expected a refusal, got {outcome:?}");
    };
    assert_eq!(refused.status, 403);
    assert_eq!(refused.permission, DEPLOYMENT_PERMISSION);
    assert!(
        refused.hint().contains("`deployments: write`"),
        "{}",
        refused.hint()
    );
    assert!(refused
        .warning()
        .contains("create a GitHub Deployment of `main`"));
    assert_eq!(
        fake.calls(),
        vec![format!("POST /repos/{REPO}/deployments")]
    );
    fake.assert_conforms();
}

#[tokio::test]
async fn a_skipped_run_records_no_deployment() {
    let skipped = DeployReport::skipped(DeploymentRef::default(), "no file under dags/ changed");
    assert_eq!(DeploymentRequest::for_report(&skipped, "main", None), None);
}

#[tokio::test]
async fn the_api_url_may_carry_a_path_as_on_github_enterprise_server() {
    let fake = FakeGithub::start("/api/v3").await;

    let outcome = fake
        .api()
        .upsert_pr_comment(PR, &comment_marker("d1"), &comment_body("x"))
        .await;

    assert!(matches!(outcome, Ok(ApiOutcome::Done(_))), "{outcome:?}");
    assert_eq!(
        fake.calls(),
        vec![
            format!("GET /repos/{REPO}/issues/{PR}/comments"),
            format!("POST /repos/{REPO}/issues/{PR}/comments"),
        ]
    );
    fake.assert_conforms();
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let fake = FakeGithub::start("").await;
    let echo = format!("token `{TOKEN}` is not valid here");
    let (deployment, status) =
        DeploymentRequest::for_report(&report(), "main", None).expect("a deployment");

    let mut seen = BTreeMap::new();
    for code in [500, 401, 422] {
        fake.state().fail_with = Some((code, echo.clone()));
        let api = fake.api();
        let error = api
            .record_deployment(&deployment, &status)
            .await
            .expect_err("GitHub failed the call");
        let mut text = format!("{error} {error:?} {api:?} {:?}", error.hint());
        let mut source = std::error::Error::source(&error);
        while let Some(cause) = source {
            text.push_str(&format!(" {cause}"));
            source = cause.source();
        }
        assert!(!text.contains(TOKEN), "the token leaked: {text}");
        seen.insert(code, text);
    }
    assert!(
        seen[&500].contains("GitHub answered 500: token `***` is not valid here"),
        "{}",
        seen[&500]
    );
    assert!(seen[&401].contains("invalid or expired"), "{}", seen[&401]);

    fake.state().fail_with = Some((403, echo));
    let refused = fake
        .api()
        .upsert_pr_comment(PR, &comment_marker("d1"), "x")
        .await
        .expect("a refusal is not an error");
    let ApiOutcome::NotPermitted(refused) = refused else {
        panic!("expected a refusal, got {refused:?}");
    };
    assert!(!format!("{refused:?} {}", refused.warning()).contains(TOKEN));
}

#[test]
fn a_repository_is_owner_slash_name() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let _entered = runtime.enter();
    for bad in [
        "acme",
        "acme/",
        "/airflow",
        "acme/air/flow",
        "acme/../x",
        "a b/c",
    ] {
        let error =
            GithubApi::new("https://api.github.com", bad, GithubToken::new(TOKEN)).expect_err(bad);
        assert_eq!(
            error.to_string(),
            format!("reading the repository name `{bad}` (expected `owner/name`)")
        );
    }
    let error =
        GithubApi::new("ftp://example.com", REPO, GithubToken::new(TOKEN)).expect_err("not http");
    assert_eq!(
        error.to_string(),
        "setting up the GitHub API client for `ftp://example.com`"
    );
    assert_eq!(format!("{:?}", GithubToken::new(TOKEN)), "GithubToken(***)");
}

// --- The review host ---------------------------------------------------------------------------

fn host(fake: &FakeGithub) -> GithubReviewHost {
    GithubReviewHost::new(fake.api())
}

fn unknown_reason(liveness: Liveness) -> String {
    match liveness {
        Liveness::Unknown { reason } => reason,
        other => panic!("expected Unknown, got {other:?}"),
    }
}

#[tokio::test]
async fn an_open_pull_request_is_alive_and_a_closed_one_says_whether_it_was_merged() {
    let fake = FakeGithub::start("").await;
    {
        let mut state = fake.state();
        state.add_pull(12, "open", None);
        state.add_pull(13, "closed", Some("2026-11-30T09:12:00Z"));
        state.add_pull(14, "closed", None);
    }
    let host = host(&fake);

    assert_eq!(host.review_state(12).await, Liveness::Alive);
    assert_eq!(
        host.review_state(13).await,
        Liveness::Closed {
            reason: "pull request #13 merged".to_owned()
        }
    );
    assert_eq!(
        host.review_state(14).await,
        Liveness::Closed {
            reason: "pull request #14 closed".to_owned()
        }
    );
    assert_eq!(
        fake.calls(),
        [12, 13, 14].map(|n| format!("GET /repos/{REPO}/pulls/{n}"))
    );
    fake.assert_conforms();
}

#[tokio::test]
async fn an_open_pull_request_that_github_reports_as_merged_too_is_still_alive() {
    // GitHub's own example has `state: open` with a `merged_at`: `state` decides.
    let fake = FakeGithub::start("").await;
    let mut pull = pull_request_example();
    pull["number"] = json!(PR);
    assert_eq!(pull["state"], json!("open"));
    assert!(pull["merged_at"].is_string());
    fake.state().pulls.insert(PR, pull);

    assert_eq!(host(&fake).review_state(PR).await, Liveness::Alive);
    fake.assert_conforms();
}

#[tokio::test]
async fn a_branch_with_slashes_and_non_ascii_travels_as_one_encoded_segment() {
    let fake = FakeGithub::start("/api/v3").await;
    fake.state().branches = vec!["main".to_owned(), "feature/dägs-1.2".to_owned()];
    let host = host(&fake);

    assert_eq!(host.branch_state("feature/dägs-1.2").await, Liveness::Alive);
    assert_eq!(
        host.branch_state("feature/gone").await,
        Liveness::Closed {
            reason: "branch `feature/gone` deleted".to_owned()
        }
    );
    assert_eq!(
        fake.calls(),
        vec![
            format!("GET /repos/{REPO}/branches/feature%2Fd%C3%A4gs-1.2"),
            format!("GET /repos/{REPO}/branches/feature%2Fgone"),
        ]
    );
    fake.assert_conforms();
}

#[tokio::test]
async fn a_pull_request_github_cannot_find_is_unknown_not_closed() {
    let fake = FakeGithub::start("").await;

    let reason = unknown_reason(host(&fake).review_state(99).await);

    assert_eq!(
        reason,
        format!(
            "could not ask GitHub about pull request #99 of `{REPO}` (GitHub answered 404: Not \
             Found); the token needs `{REVIEW_PERMISSION}`"
        )
    );
    fake.assert_conforms();
}

#[tokio::test]
async fn a_404_that_does_not_name_the_branch_is_unknown() {
    // What a repository the token cannot see looks like: GitHub hides it behind `Not Found`.
    let fake = FakeGithub::start("").await;
    fake.state().fail_with = Some((404, "Not Found".to_owned()));

    let reason = unknown_reason(host(&fake).branch_state("feature/x").await);

    assert!(
        reason.contains("GitHub answered 404: Not Found"),
        "{reason}"
    );
    assert!(
        reason.ends_with(&format!("needs `{BRANCH_PERMISSION}`")),
        "{reason}"
    );
}

#[tokio::test]
async fn refusals_and_outages_are_unknown_naming_the_permission_without_the_token() {
    let fake = FakeGithub::start("").await;
    fake.state().add_pull(PR, "closed", None);
    fake.state().branches = vec!["feature/x".to_owned()];
    let echo = format!("token `{TOKEN}` is not valid here");

    for code in [401, 403, 500, 503] {
        fake.state().fail_with = Some((code, echo.clone()));
        let host = host(&fake);

        let review = unknown_reason(host.review_state(PR).await);
        let branch = unknown_reason(host.branch_state("feature/x").await);

        let answered = format!("GitHub answered {code}: token `***` is not valid here");
        assert!(review.contains(&answered), "{code}: {review}");
        assert!(branch.contains(&answered), "{code}: {branch}");
        assert!(
            review.contains(&format!("`{REVIEW_PERMISSION}`")),
            "{review}"
        );
        assert!(
            branch.contains(&format!("`{BRANCH_PERMISSION}`")),
            "{branch}"
        );
        assert_eq!(
            code == 401,
            review.contains("invalid or expired"),
            "{review}"
        );
        assert!(!format!("{review}{branch}").contains(TOKEN));
    }
}

#[tokio::test]
async fn github_out_of_reach_is_unknown() {
    // A port that was just free: nothing listens there.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding a loopback port");
    let url = format!(
        "http://{}",
        listener.local_addr().expect("the bound address")
    );
    drop(listener);
    let api = GithubApi::new(&url, REPO, GithubToken::new(TOKEN)).expect("a client");
    let host = GithubReviewHost::new(api);

    let review = unknown_reason(host.review_state(PR).await);
    let branch = unknown_reason(host.branch_state("main").await);

    assert!(
        review.starts_with(&format!(
            "could not ask GitHub about pull request #12 of `{REPO}`"
        )),
        "{review}"
    );
    assert!(
        review.ends_with(&format!("`{REVIEW_PERMISSION}`")),
        "{review}"
    );
    assert!(
        branch.ends_with(&format!("`{BRANCH_PERMISSION}`")),
        "{branch}"
    );
}
