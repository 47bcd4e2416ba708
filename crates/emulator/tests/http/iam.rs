//! The IAM API's tokens: the seed's own, create with expiry, rotate, delete, who may do what,
//! and that IAM decides which tokens authorize.

use std::time::Duration;

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{answer, error_message, start, Harness};

fn iam_url(harness: &Harness, rest: &str) -> String {
    format!(
        "{}/iam/v1beta1/organizations/{}/tokens{rest}",
        harness.emulator.base_url(),
        harness.org()
    )
}

/// The `apiTokenId` claim of a JWT.
fn token_id(token: &str) -> String {
    let claims = token.split('.').nth(1).expect("a JWT has claims");
    let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: Value =
        serde_json::from_slice(&engine.decode(claims).expect("base64url")).expect("JSON claims");
    claims["apiTokenId"]
        .as_str()
        .expect("an apiTokenId claim")
        .to_owned()
}

async fn send(
    harness: &Harness,
    method: Method,
    url: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = harness.call(method, url, token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request.send().await).await
}

async fn create(harness: &Harness, body: Value) -> Value {
    let url = iam_url(harness, "");
    let (status, token) = send(
        harness,
        Method::POST,
        &url,
        &harness.api_token(),
        Some(body),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{token}");
    token
}

fn value_of(token: &Value) -> String {
    token["token"]
        .as_str()
        .expect("a create or rotate answers the value")
        .to_owned()
}

#[tokio::test]
async fn the_seeded_token_is_an_iam_token_that_can_read_itself() {
    let harness = start().await;
    let seeded = harness.api_token();
    let id = token_id(&seeded);

    let (status, token) = send(
        &harness,
        Method::GET,
        &iam_url(&harness, &format!("/{id}")),
        &seeded,
        None,
    )
    .await;

    assert_eq!(status, StatusCode::OK, "{token}");
    assert_eq!(token["id"], id);
    assert_eq!(token["type"], "ORGANIZATION");
    assert_eq!(
        token["roles"],
        json!([{ "entityId": harness.org(), "entityType": "ORGANIZATION",
                 "role": "ORGANIZATION_OWNER" }])
    );
    assert!(token["endAt"].is_string(), "{token}");
    assert!(token.get("token").is_none(), "a read never shows the value");

    let (status, list) = send(&harness, Method::GET, &iam_url(&harness, ""), &seeded, None).await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let ids: Vec<&Value> = list["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| &t["id"])
        .collect();
    assert_eq!(ids, [&json!(id)]);
    assert_eq!(list["totalCount"], 1);
}

#[tokio::test]
async fn a_created_token_expires_as_asked_and_authorizes_until_it_is_deleted() {
    let harness = start().await;
    let workspace = harness.workspace();
    let created = create(
        &harness,
        json!({
            "name": "ci", "type": "WORKSPACE", "role": "WORKSPACE_OPERATOR",
            "entityId": workspace, "tokenExpiryPeriodInDays": 30,
        }),
    )
    .await;
    let value = value_of(&created);

    assert_eq!(created["expiryPeriodInDays"], 30);
    let end_at = created["endAt"].as_str().expect("an endAt");
    let end_at =
        time::OffsetDateTime::parse(end_at, &time::format_description::well_known::Rfc3339)
            .expect("an RFC 3339 endAt");
    let days = (end_at - time::OffsetDateTime::now_utc()).whole_days();
    assert!((29..=30).contains(&days), "{created}");
    assert_eq!(created["roles"][0]["entityId"], workspace);
    assert_eq!(token_id(&value), created["id"].as_str().expect("an id"));

    let workspace_url = harness.org_url(&format!("/workspaces/{workspace}"));
    let (status, _) = send(&harness, Method::GET, &workspace_url, &value, None).await;
    assert_eq!(status, StatusCode::OK, "the new token authorizes");

    let url = iam_url(
        &harness,
        &format!("/{}", created["id"].as_str().expect("an id")),
    );
    let (status, _) = send(&harness, Method::DELETE, &url, &harness.api_token(), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = send(&harness, Method::GET, &workspace_url, &value, None).await;
    let message = error_message(status, &body, StatusCode::UNAUTHORIZED);
    assert!(message.contains("does not exist"), "{message}");
    assert!(!message.contains(&value), "{message}");
    let (status, _) = send(&harness, Method::GET, &url, &harness.api_token(), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_token_without_expiry_has_no_end() {
    let harness = start().await;
    let created = create(
        &harness,
        json!({ "name": "forever", "type": "ORGANIZATION", "role": "ORGANIZATION_MEMBER" }),
    )
    .await;

    assert!(created.get("endAt").is_none(), "{created}");
    assert!(created.get("expiryPeriodInDays").is_none(), "{created}");
}

#[tokio::test]
async fn a_rotated_away_value_is_refused_everywhere_and_the_new_one_works() {
    let harness = start().await;
    let created = create(
        &harness,
        json!({ "name": "deployer", "type": "ORGANIZATION", "role": "ORGANIZATION_OWNER",
                "tokenExpiryPeriodInDays": 7 }),
    )
    .await;
    let old = value_of(&created);
    let id = created["id"].as_str().expect("an id").to_owned();

    // The token rotates itself, as `astro-deploy token rotate` does.
    let rotate = iam_url(&harness, &format!("/{id}/rotate"));
    let (status, rotated) = send(&harness, Method::POST, &rotate, &old, None).await;
    assert_eq!(status, StatusCode::OK, "{rotated}");
    let new = value_of(&rotated);
    assert_ne!(new, old);
    assert_eq!(rotated["id"], id, "a rotation keeps the token's id");
    assert_ne!(rotated["shortToken"], created["shortToken"]);

    let deployment = harness.deployment_url(&harness.enabled(), "");
    let (status, _) = send(&harness, Method::GET, &deployment, &new, None).await;
    assert_eq!(status, StatusCode::OK, "the new value authorizes");
    for url in [deployment, iam_url(&harness, "")] {
        let (status, body) = send(&harness, Method::GET, &url, &old, None).await;
        let message = error_message(status, &body, StatusCode::UNAUTHORIZED);
        assert!(message.contains("was rotated"), "{message}");
        assert!(!message.contains(&old), "{message}");
    }

    let airflow = harness
        .emulator
        .airflow_api_url(&harness.enabled())
        .expect("an Airflow");
    let airflow = format!("http://{airflow}/pools");
    let (status, _) = send(&harness, Method::GET, &airflow, &old, None).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "Airflow refuses the old value too"
    );
}

#[tokio::test]
async fn who_may_use_iam() {
    let harness = start().await;
    let workspace = harness.workspace();
    let deployment_token = harness.emulator.mint_token(
        Some(vec![format!("deploymentId:{}", harness.enabled())]),
        Duration::from_secs(600),
    );
    let member = create(
        &harness,
        json!({ "name": "reader", "type": "WORKSPACE", "role": "WORKSPACE_MEMBER",
                "entityId": workspace }),
    )
    .await;
    let member = value_of(&member);
    let list = iam_url(&harness, "");

    let (status, body) = send(&harness, Method::GET, &list, &deployment_token, None).await;
    let message = error_message(status, &body, StatusCode::FORBIDDEN);
    assert!(message.contains("Deployment API token"), "{message}");

    let (status, page) = send(&harness, Method::GET, &list, &member, None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let kinds: Vec<&Value> = page["tokens"]
        .as_array()
        .expect("tokens")
        .iter()
        .map(|t| &t["type"])
        .collect();
    assert!(
        kinds.iter().all(|kind| **kind != "ORGANIZATION"),
        "a Workspace token sees no Organization token: {page}"
    );
    assert!(
        kinds.len() >= 2,
        "it sees itself and the Deployment token: {page}"
    );

    let body = json!({ "name": "x", "type": "WORKSPACE", "role": "WORKSPACE_OWNER",
                       "entityId": workspace });
    let (status, body) = send(&harness, Method::POST, &list, &member, Some(body)).await;
    let message = error_message(status, &body, StatusCode::FORBIDDEN);
    assert!(message.contains("WORKSPACE_OWNER"), "{message}");

    let seeded = iam_url(&harness, &format!("/{}", token_id(&harness.api_token())));
    let (status, _) = send(&harness, Method::GET, &seeded, &member, None).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "the Organization token is out of reach"
    );
}

#[tokio::test]
async fn create_checks_its_body_against_the_spec() {
    let harness = start().await;
    let url = iam_url(&harness, "");
    let token = harness.api_token();
    let workspace = harness.workspace();

    for (body, status, expected) in [
        (
            json!({ "name": "x", "role": "WORKSPACE_OWNER" }),
            400,
            "`type`",
        ),
        (
            json!({ "name": "x", "type": "TEAM", "role": "WORKSPACE_OWNER" }),
            400,
            "`TEAM`",
        ),
        (
            json!({ "name": "x", "type": "WORKSPACE", "role": "ORGANIZATION_OWNER",
                    "entityId": workspace }),
            400,
            "not a role of a WORKSPACE token",
        ),
        (
            json!({ "name": "x", "type": "WORKSPACE", "role": "WORKSPACE_OWNER" }),
            400,
            "`entityId` is required",
        ),
        (
            json!({ "name": "x", "type": "DEPLOYMENT", "role": "DEPLOYMENT_ADMIN",
                    "entityId": "cunknowndeployment" }),
            404,
            "deployment `cunknowndeployment` not found",
        ),
        (
            json!({ "name": "x", "type": "ORGANIZATION", "role": "ORGANIZATION_OWNER",
                    "tokenExpiryPeriodInDays": 0 }),
            400,
            "from 1 to 3650",
        ),
    ] {
        let (got, answer) = send(&harness, Method::POST, &url, &token, Some(body.clone())).await;
        let expected_status = StatusCode::from_u16(status).expect("a status");
        let message = error_message(got, &answer, expected_status);
        assert!(message.contains(expected), "{body}: {message}");
    }
}

#[tokio::test]
async fn update_renames_a_token() {
    let harness = start().await;
    let id = token_id(&harness.api_token());
    let url = iam_url(&harness, &format!("/{id}"));
    let token = harness.api_token();

    let body = json!({ "name": "renamed", "description": "for CI" });
    let (status, updated) = send(&harness, Method::POST, &url, &token, Some(body)).await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["name"], "renamed");
    assert_eq!(updated["description"], "for CI");

    let (status, body) = send(
        &harness,
        Method::POST,
        &url,
        &token,
        Some(json!({ "name": "" })),
    )
    .await;
    error_message(status, &body, StatusCode::BAD_REQUEST);
}
