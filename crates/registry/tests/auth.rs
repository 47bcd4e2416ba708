//! Authentication against registries that ask for it, as Astro's does: a proxy in front of the
//! real registry answers 401 with a Bearer challenge and runs a token service that takes only
//! Basic `cli:<password>` (or a Basic-only gate); authorized requests reach the registry.

mod common;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse as _, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use common::proxy::{Action, Proxy, Rule};
use common::{reference, skopeo_inspect, TestImage};
use e2e_tests::registry::LocalRegistry;
use registry::{
    push_image, BlobOrigin, Credentials, Error, LayerSource, NoProgress, RegistryClient,
    RegistryConfig,
};

const PASSWORD: &str = "astro-api-token-s3cr3t";
const SERVICE: &str = "test-registry";

/// What the token service saw and gave out.
#[derive(Default)]
struct TokenService {
    /// The scopes of each token request, in order.
    requests: Vec<Vec<String>>,
    /// Token → the scopes it grants.
    granted: HashMap<String, Vec<String>>,
    challenges: usize,
}

type Shared = Arc<Mutex<TokenService>>;

fn basic(username: &str, password: &str) -> String {
    format!("Basic {}", BASE64.encode(format!("{username}:{password}")))
}

/// The scopes a registry request needs: pull (reads) or pull,push on its repository, and pull
/// on a mount's source.
fn needed_scopes(parts: &Parts) -> Vec<String> {
    let path = parts.uri.path().trim_start_matches("/v2/");
    let repository = ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .find_map(|marker| path.split_once(marker).map(|(repo, _)| repo.to_owned()));
    let Some(repository) = repository else {
        return Vec::new();
    };
    let reads = parts.method == Method::GET || parts.method == Method::HEAD;
    let actions = if reads { "pull" } else { "pull,push" };
    let mut scopes = vec![format!("repository:{repository}:{actions}")];
    let query = parts.uri.query().unwrap_or("");
    if let Some((_, from)) =
        url::form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "from")
    {
        scopes.push(format!("repository:{from}:pull"));
    }
    scopes
}

/// Whether `granted` covers `needed`: same repository, every action.
fn covers(granted: &[String], needed: &str) -> bool {
    let Some((repository, actions)) = needed.rsplit_once(':') else {
        return false;
    };
    granted.iter().any(|scope| {
        scope.rsplit_once(':').is_some_and(|(r, a)| {
            let have: BTreeSet<&str> = a.split(',').collect();
            r == repository && actions.split(',').all(|want| have.contains(want))
        })
    })
}

fn json(status: StatusCode, body: serde_json::Value) -> Action {
    Action::Respond(
        (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response(),
    )
}

/// A Bearer-protected registry: the token endpoint at `/token`, everything else gated.
fn bearer_gate(shared: Shared) -> impl FnOnce(&str) -> Rule {
    move |host: &str| {
        let realm = format!("http://{host}/token");
        Box::new(move |parts: &Parts| {
            let mut service = shared.lock().unwrap();
            if parts.uri.path() == "/token" {
                return token_endpoint(&mut service, parts);
            }

            let needed = needed_scopes(parts);
            let presented = parts
                .headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer "))
                .and_then(|token| service.granted.get(token));
            if presented.is_some_and(|granted| needed.iter().all(|n| covers(granted, n))) {
                return Action::Forward;
            }

            service.challenges += 1;
            let scope = needed
                .first()
                .map(|s| format!(",scope=\"{s}\""))
                .unwrap_or_default();
            let challenge = format!("Bearer realm=\"{realm}\",service=\"{SERVICE}\"{scope}");
            Action::Respond(
                (
                    StatusCode::UNAUTHORIZED,
                    [(header::WWW_AUTHENTICATE, challenge)],
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                )
                    .into_response(),
            )
        })
    }
}

/// Grants the scopes asked for to `cli:PASSWORD`, pull scopes only to anonymous callers, and
/// refuses other credentials, echoing them back as a careless server might.
fn token_endpoint(service: &mut TokenService, parts: &Parts) -> Action {
    let query = parts.uri.query().unwrap_or("");
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let scopes: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "scope")
        .map(|(_, v)| v.clone())
        .collect();
    assert!(
        pairs.iter().any(|(k, v)| k == "service" && v == SERVICE),
        "{pairs:?}"
    );
    service.requests.push(scopes.clone());

    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let granted = match authorization {
        Some(value) if value == basic("cli", PASSWORD) => scopes,
        None => scopes
            .into_iter()
            .filter(|s| s.ends_with(":pull"))
            .collect(),
        Some(value) => {
            let presented = value
                .strip_prefix("Basic ")
                .and_then(|b| BASE64.decode(b).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            let body = serde_json::json!({"details": format!("bad credentials `{presented}`")});
            return json(StatusCode::UNAUTHORIZED, body);
        }
    };

    let token = format!("token-{}", service.granted.len() + 1);
    service.granted.insert(token.clone(), granted);
    json(
        StatusCode::OK,
        serde_json::json!({"token": token, "expires_in": 300}),
    )
}

fn authenticated_client(host: &str, password: &str) -> RegistryClient {
    RegistryClient::new(RegistryConfig {
        credentials: Some(Credentials::new("cli", password)),
        // One layer at a time, so the token requests can be counted exactly.
        parallel_layers: 1,
        ..common::quick_config(host)
    })
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_through_token_auth_asks_for_push_and_mount_scopes_once_each() {
    let registry = LocalRegistry::start();
    let image = TestImage::small();
    // The base image goes straight to the registry; the deploy goes through the gate.
    let direct = common::client(&registry.host());
    let base = reference(&registry.host(), "astro/base", "1");
    push_image(&direct, &image.source(), &base, &NoProgress)
        .await
        .unwrap();
    let shared = Shared::default();
    let gate = Proxy::start(&registry.host(), bearer_gate(shared.clone())).await;

    let mut source = image.source();
    for layer in &mut source.layers {
        *layer = LayerSource::file(
            layer.media_type.clone(),
            layer.digest.clone(),
            layer.size,
            layer.file.clone().unwrap(),
        )
        .with_origin(BlobOrigin {
            registry: gate.host().to_owned(),
            repository: "astro/base".into(),
        });
    }
    let target = reference(gate.host(), "cxyz/dep-abc", "deploy-1");
    let client = authenticated_client(gate.host(), PASSWORD);
    let report = push_image(&client, &source, &target, &NoProgress)
        .await
        .expect("the push gets through the token gate");

    assert_eq!(report.layers_mounted, 2);
    let service = shared.lock().unwrap();
    assert_eq!(
        service.requests,
        vec![
            vec!["repository:cxyz/dep-abc:pull,push".to_owned()],
            vec![
                "repository:cxyz/dep-abc:pull,push".to_owned(),
                "repository:astro/base:pull".to_owned()
            ],
        ],
        "one token per scope, each reused while it lasts"
    );
    assert_eq!(
        service.challenges, 1,
        "later requests carry a token from the start"
    );
    drop(service);

    let pushed = reference(&registry.host(), "cxyz/dep-abc", "deploy-1");
    assert_eq!(
        skopeo_inspect(&pushed, &[])["Digest"],
        report.manifest_digest.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_pulls_get_a_token_without_credentials() {
    let registry = LocalRegistry::start();
    let image = TestImage::small();
    push_image(
        &common::client(&registry.host()),
        &image.source(),
        &reference(&registry.host(), "public/app", "1"),
        &NoProgress,
    )
    .await
    .unwrap();
    let shared = Shared::default();
    let gate = Proxy::start(&registry.host(), bearer_gate(shared.clone())).await;

    let manifest = common::client(gate.host())
        .get_manifest("public/app", "1")
        .await
        .unwrap();
    assert!(!manifest.bytes.is_empty());
    assert_eq!(
        shared.lock().unwrap().requests,
        vec![vec!["repository:public/app:pull".to_owned()]]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_password_is_reported_without_ever_showing_it() {
    let registry = LocalRegistry::start();
    let gate = Proxy::start(&registry.host(), bearer_gate(Shared::default())).await;
    let wrong = "wrong-token-do-not-print";
    let client = authenticated_client(gate.host(), wrong);

    let target = reference(gate.host(), "cxyz/dep-abc", "deploy-1");
    let err = push_image(&client, &TestImage::small().source(), &target, &NoProgress)
        .await
        .unwrap_err();

    assert!(
        matches!(err, Error::TokenRefused { status: 401, .. }),
        "{err:?}"
    );
    let shown = format!("{err}\n{err:?}\n{:?}\n{client:?}", err.hint());
    assert!(!shown.contains(wrong), "the password leaked: {shown}");
    assert!(
        shown.contains("<redacted>"),
        "the echoed password was scrubbed: {shown}"
    );
    assert!(
        err.to_string().contains(&format!("`{}`", gate.host())),
        "{err}"
    );
    assert!(err.hint().unwrap().contains("`cli`"), "{:?}", err.hint());
}

/// A registry that wants Basic credentials on every request.
fn basic_gate(challenges: Arc<Mutex<usize>>) -> impl FnOnce(&str) -> Rule {
    move |_host: &str| {
        Box::new(move |parts: &Parts| {
            let authorization = parts.headers.get(header::AUTHORIZATION);
            if authorization.is_some_and(|v| v.to_str().ok() == Some(&basic("cli", PASSWORD))) {
                return Action::Forward;
            }
            *challenges.lock().unwrap() += 1;
            let response: Response = (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"Registry Realm\"")],
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
            )
                .into_response();
            Action::Respond(response)
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_challenges_are_answered_with_the_credentials() {
    let registry = LocalRegistry::start();
    let challenges = Arc::new(Mutex::new(0));
    let gate = Proxy::start(&registry.host(), basic_gate(challenges.clone())).await;
    let target = reference(gate.host(), "astro/app", "1");

    let report = push_image(
        &authenticated_client(gate.host(), PASSWORD),
        &TestImage::small().source(),
        &target,
        &NoProgress,
    )
    .await
    .unwrap();
    assert_eq!(report.layers_uploaded, 2);
    assert_eq!(
        *challenges.lock().unwrap(),
        1,
        "Basic goes on every later request"
    );

    let err = common::client(gate.host())
        .get_manifest("astro/app", "1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(err.hint().unwrap().contains("`cli`"), "{:?}", err.hint());

    let err = authenticated_client(gate.host(), "wrong-basic-password")
        .get_manifest("astro/app", "1")
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(!format!("{err:?}").contains("wrong-basic-password"));
}
