//! Each Deployment's Airflow REST API: auth, paging, the write-only password, Airflow's create
//! and update rules, per-Deployment state, and 503 until a new Deployment is up.

use emulator::{AirflowConnection, AirflowPool, AirflowVariable};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{self, answer, new_deployment, Harness};

/// The Airflow API URL of a Deployment, with the scheme the emulator serves.
fn airflow_url(harness: &Harness, deployment: &str, rest: &str) -> String {
    let base = harness
        .emulator
        .airflow_api_url(deployment)
        .expect("a Deployment");
    format!("http://{base}{rest}")
}

async fn call(
    harness: &Harness,
    method: Method,
    url: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = harness.call(method, url, &harness.api_token());
    if let Some(body) = body {
        request = request.json(&body);
    }
    answer(request.send().await).await
}

/// Asserts an RFC 7807 problem with this status, and returns its detail.
fn problem(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["status"], expected.as_u16(), "{body}");
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    body["detail"].as_str().expect("a detail").to_owned()
}

#[tokio::test]
async fn the_token_must_reach_the_deployment() {
    let harness = support::start().await;
    let url = airflow_url(&harness, &harness.enabled(), "/pools");

    let (status, body) = answer(harness.http.get(&url).send().await).await;
    problem(status, &body, StatusCode::UNAUTHORIZED);
    let (status, body) = answer(harness.call(Method::GET, &url, "a.b.c").send().await).await;
    problem(status, &body, StatusCode::UNAUTHORIZED);

    let other = format!("deploymentId:{}", harness.disabled());
    let token = harness
        .emulator
        .mint_token(Some(vec![other]), std::time::Duration::from_secs(60));
    let (status, body) = answer(harness.call(Method::GET, &url, &token).send().await).await;
    problem(status, &body, StatusCode::FORBIDDEN);

    let own = format!("deploymentId:{}", harness.enabled());
    let token = harness
        .emulator
        .mint_token(Some(vec![own]), std::time::Duration::from_secs(60));
    let (status, body) = answer(harness.call(Method::GET, &url, &token).send().await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_deployment_has_its_own_objects_and_a_default_pool() {
    let harness = support::start().await;
    let (enabled, disabled) = (harness.enabled(), harness.disabled());
    let variable = AirflowVariable::new("env", "staging");
    harness
        .emulator
        .put_airflow_variable(&enabled, variable)
        .expect("a Deployment");

    let (status, pools) = call(
        &harness,
        Method::GET,
        &airflow_url(&harness, &disabled, "/pools"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{pools}");
    assert_eq!(pools["total_entries"], 1);
    assert_eq!(pools["pools"][0]["name"], "default_pool");
    assert_eq!(pools["pools"][0]["open_slots"], 128);

    let (_, variables) = call(
        &harness,
        Method::GET,
        &airflow_url(&harness, &disabled, "/variables"),
        None,
    )
    .await;
    assert_eq!(variables, json!({ "variables": [], "total_entries": 0 }));
    let (_, variables) = call(
        &harness,
        Method::GET,
        &airflow_url(&harness, &enabled, "/variables"),
        None,
    )
    .await;
    assert_eq!(
        variables,
        json!({ "variables": [{ "key": "env", "description": null }], "total_entries": 1 }),
        "lists leave values out"
    );
}

#[tokio::test]
async fn lists_page_at_most_a_hundred_in_creation_order() {
    let harness = support::start().await;
    let deployment = harness.enabled();
    for i in 0..130 {
        let variable = AirflowVariable::new(&format!("v{i:03}"), "x");
        harness
            .emulator
            .put_airflow_variable(&deployment, variable)
            .expect("a Deployment");
    }
    let url = airflow_url(&harness, &deployment, "/variables");

    let (_, first) = call(&harness, Method::GET, &format!("{url}?limit=500"), None).await;
    assert_eq!(first["total_entries"], 130);
    assert_eq!(first["variables"].as_array().map(Vec::len), Some(100));
    let (_, rest) = call(
        &harness,
        Method::GET,
        &format!("{url}?limit=100&offset=100"),
        None,
    )
    .await;
    let keys: Vec<&str> = rest["variables"]
        .as_array()
        .expect("a list")
        .iter()
        .filter_map(|v| v["key"].as_str())
        .collect();
    assert_eq!(keys.len(), 30);
    assert_eq!(keys[0], "v100");

    let (status, body) = call(&harness, Method::GET, &format!("{url}?limit=0"), None).await;
    problem(status, &body, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn connection_passwords_are_kept_but_never_answered() {
    let harness = support::start().await;
    let deployment = harness.enabled();
    let url = airflow_url(&harness, &deployment, "/connections");
    let body = json!({ "connection_id": "warehouse", "conn_type": "postgres", "host": "db",
        "port": 5432, "password": "hunter2", "extra": "{\"sslmode\": \"require\"}" });

    let (status, created) = call(&harness, Method::POST, &url, Some(body.clone())).await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert!(created.get("password").is_none(), "{created}");
    let (status, again) = call(&harness, Method::POST, &url, Some(body)).await;
    problem(status, &again, StatusCode::CONFLICT);

    let (_, one) = call(&harness, Method::GET, &format!("{url}/warehouse"), None).await;
    assert_eq!(one["extra"], "{\"sslmode\": \"require\"}");
    assert!(one.get("password").is_none(), "{one}");
    let (_, list) = call(&harness, Method::GET, &url, None).await;
    assert!(list["connections"][0].get("extra").is_none(), "{list}");

    // A PATCH changes what it sends and keeps the password it does not send.
    let patch = json!({ "connection_id": "warehouse", "conn_type": "postgres", "host": "db2" });
    let (status, patched) = call(
        &harness,
        Method::PATCH,
        &format!("{url}/warehouse"),
        Some(patch),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{patched}");
    assert_eq!(patched["host"], "db2");
    assert_eq!(patched["port"], 5432);
    let stored = harness
        .emulator
        .airflow_connections(&deployment)
        .expect("a Deployment");
    assert_eq!(stored[0].password.as_deref(), Some("hunter2"));

    let renamed = json!({ "connection_id": "other", "conn_type": "postgres" });
    let (status, body) = call(
        &harness,
        Method::PATCH,
        &format!("{url}/warehouse"),
        Some(renamed),
    )
    .await;
    problem(status, &body, StatusCode::BAD_REQUEST);
    let missing = json!({ "connection_id": "nope", "conn_type": "http" });
    let (status, body) = call(
        &harness,
        Method::PATCH,
        &format!("{url}/nope"),
        Some(missing),
    )
    .await;
    problem(status, &body, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bodies_are_checked_as_airflow_checks_them() {
    let harness = support::start().await;
    let deployment = harness.enabled();
    let pools = airflow_url(&harness, &deployment, "/pools");

    let read_only = json!({ "name": "etl", "slots": 4, "open_slots": 4 });
    let (status, body) = call(&harness, Method::POST, &pools, Some(read_only)).await;
    assert!(problem(status, &body, StatusCode::BAD_REQUEST).contains("open_slots"));
    let (status, body) = call(
        &harness,
        Method::POST,
        &pools,
        Some(json!({ "name": "etl" })),
    )
    .await;
    assert!(problem(status, &body, StatusCode::BAD_REQUEST).contains("slots"));

    let (status, body) = call(
        &harness,
        Method::POST,
        &pools,
        Some(json!({ "name": "etl", "slots": 4 })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call(
        &harness,
        Method::POST,
        &pools,
        Some(json!({ "name": "etl", "slots": 4 })),
    )
    .await;
    problem(status, &body, StatusCode::CONFLICT);

    let masked = format!("{pools}/etl?update_mask=slots");
    let patch = json!({ "name": "etl", "slots": 9, "description": "ignored" });
    let (_, body) = call(&harness, Method::PATCH, &masked, Some(patch)).await;
    assert_eq!(
        (body["slots"].clone(), body["description"].clone()),
        (json!(9), Value::Null)
    );

    // Airflow's `Variable.set` replaces: a second POST is an update, not a conflict.
    let variables = airflow_url(&harness, &deployment, "/variables");
    for value in ["1", "2"] {
        let (status, body) = call(
            &harness,
            Method::POST,
            &variables,
            Some(json!({ "key": "k", "value": value })),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let stored = harness
        .emulator
        .airflow_variables(&deployment)
        .expect("a Deployment");
    assert_eq!(stored, vec![AirflowVariable::new("k", "2")]);
}

#[tokio::test]
async fn a_new_deployment_answers_503_until_it_is_up() {
    let harness = support::start_observable().await;
    let (status, created) = harness
        .post(
            &harness.org_url("/deployments"),
            new_deployment(&harness.workspace(), "preview"),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    let id = created["id"].as_str().expect("an id").to_owned();
    let url = airflow_url(&harness, &id, "/connections");

    let (status, body) = call(&harness, Method::GET, &url, None).await;
    assert!(problem(status, &body, StatusCode::SERVICE_UNAVAILABLE).contains("Creating"));

    harness.wait_for_status(&id, "HEALTHY").await;
    let (status, body) = call(&harness, Method::GET, &url, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    harness
        .emulator
        .hibernate(&harness.enabled())
        .expect("a development Deployment");
    let asleep = airflow_url(&harness, &harness.enabled(), "/pools");
    let (status, _) = call(&harness, Method::GET, &asleep, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn seeded_objects_survive_a_restart() {
    let dir = tempfile::tempdir().expect("a temporary folder");
    let config = emulator::EmulatorConfig {
        state_file: Some(dir.path().join("state.json")),
        rollout_delay: support::ROLLOUT,
        ..emulator::EmulatorConfig::default()
    };
    let first = emulator::start(config.clone())
        .await
        .expect("the emulator starts");
    let deployment = first.info().deployments.dags_enabled.clone();
    let mut connection = AirflowConnection::new("s3", "aws");
    connection.password = Some("secret".to_owned());
    first
        .put_airflow_connection(&deployment, connection.clone())
        .expect("a Deployment");
    first
        .put_airflow_pool(&deployment, AirflowPool::new("etl", 3))
        .expect("a Deployment");
    first.shutdown().await;

    let second = emulator::start(config)
        .await
        .expect("the emulator restarts");
    assert_eq!(
        second
            .airflow_connections(&deployment)
            .expect("a Deployment"),
        vec![connection]
    );
    let pools = second.airflow_pools(&deployment).expect("a Deployment");
    let names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["default_pool", "etl"]);
    assert!(second.airflow_pools("cnope").is_err());
}
