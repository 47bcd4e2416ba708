//! Conformance to `api-specs/airflow-v1.yaml` (Airflow 2.10.5's own description of its stable
//! REST API), one side at a time, as `tests/e2e/conformance.rs` does for the Platform API:
//!
//! - every answer of the emulator's Airflow routes, successes and refusals (400, 401, 403, 404,
//!   409), driven over raw HTTP with bodies written here;
//! - every request the `astro-api` Airflow client sends, for every call it has.
//!
//! Two departures from the spec are deliberate, and checked as narrowly as they can be:
//! - the 503 of a Deployment whose Airflow is not up is left out of the response check: Astro's
//!   ingress answers it, not Airflow, so Airflow's spec lists no 503;
//! - Airflow 2.10.5 answers 409 (`AlreadyExists`) to a POST of an existing connection or pool,
//!   which its spec does not list for those operations; the emulator does what Airflow does,
//!   and the body of such a 409 is checked as the operation's declared 400, the same `Error`.
//!
//! A negative control per side proves that the checks can fail.

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use astro_api::airflow::{AirflowClient, Connection, ConnectionPassword, Pool, Variable};
use deploy::preview::airflow_copy::{copy_airflow_objects, CopyOptions};
use emulator::{AirflowConnection, AirflowVariable, Exchange, RunningEmulator};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use spec_conformance::Spec;

/// The `operationId`s of the calls `AirflowClient` implements.
const CLIENT_OPERATIONS: &[&str] = &[
    "get_connection",
    "get_connections",
    "get_pool",
    "get_pools",
    "get_variable",
    "get_variables",
    "patch_connection",
    "patch_pool",
    "patch_variable",
    "post_connection",
    "post_pool",
    "post_variables",
];

/// `(operationId, status)` that Airflow answers but its spec does not declare.
const UNDECLARED_BY_AIRFLOW: &[(&str, u16)] = &[("post_connection", 409), ("post_pool", 409)];

/// An exchange's path as the spec sees it: the emulator's `/airflow/{short}` prefix stands for
/// the Deployment's host, so only `/api/v1...` is kept.
fn spec_path(exchange: &Exchange) -> &str {
    let at = exchange.path.find("/api/v1").expect("an Airflow API path");
    &exchange.path[at..]
}

struct Raw<'e> {
    emulator: &'e RunningEmulator,
    http: reqwest::Client,
    base: String,
}

impl Raw<'_> {
    async fn expect(&self, status: u16, method: Method, rest: &str, body: Option<Value>) {
        self.expect_as(
            status,
            method,
            rest,
            body,
            Some(&self.emulator.info().api_token),
        )
        .await;
    }

    async fn expect_as(
        &self,
        status: u16,
        method: Method,
        rest: &str,
        body: Option<Value>,
        token: Option<&str>,
    ) {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{rest}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an answer");
        let answered = response.status();
        let text = response.text().await.unwrap_or_default();
        assert_eq!(
            answered,
            StatusCode::from_u16(status).unwrap(),
            "{method} {rest}: {text}"
        );
    }
}

async fn drive_emulator(emulator: &RunningEmulator, deployment: &str) {
    let url = emulator.airflow_api_url(deployment).expect("a Deployment");
    let raw = Raw {
        emulator,
        http: reqwest::Client::new(),
        base: format!("http://{url}"),
    };
    let connection = json!({ "connection_id": "warehouse", "conn_type": "postgres",
        "description": "the warehouse", "host": "db", "login": "etl", "schema": "dw",
        "port": 5432, "password": "pw", "extra": "{}" });

    for kind in ["/connections", "/variables", "/pools"] {
        raw.expect(200, Method::GET, kind, None).await;
        raw.expect(200, Method::GET, &format!("{kind}?limit=1&offset=0"), None)
            .await;
        raw.expect_as(401, Method::GET, kind, None, None).await;
    }
    raw.expect(200, Method::POST, "/connections", Some(connection.clone()))
        .await;
    raw.expect(409, Method::POST, "/connections", Some(connection.clone()))
        .await;
    raw.expect(200, Method::GET, "/connections/warehouse", None)
        .await;
    raw.expect(
        200,
        Method::PATCH,
        "/connections/warehouse",
        Some(connection),
    )
    .await;
    raw.expect(404, Method::GET, "/connections/nope", None)
        .await;
    let bad = json!({ "connection_id": "x", "conn_type": "http", "passwd": "pw" });
    raw.expect(400, Method::POST, "/connections", Some(bad))
        .await;

    let variable = json!({ "key": "env", "value": "staging", "description": null });
    raw.expect(200, Method::POST, "/variables", Some(variable.clone()))
        .await;
    raw.expect(200, Method::GET, "/variables/env", None).await;
    raw.expect(
        200,
        Method::PATCH,
        "/variables/env?update_mask=value",
        Some(variable),
    )
    .await;
    raw.expect(404, Method::GET, "/variables/nope", None).await;

    let pool = json!({ "name": "etl", "slots": 4, "description": "ETL", "include_deferred": true });
    raw.expect(200, Method::POST, "/pools", Some(pool.clone()))
        .await;
    raw.expect(409, Method::POST, "/pools", Some(pool.clone()))
        .await;
    raw.expect(200, Method::GET, "/pools/etl", None).await;
    raw.expect(200, Method::GET, "/pools/default_pool", None)
        .await;
    raw.expect(200, Method::PATCH, "/pools/etl", Some(pool))
        .await;
    raw.expect(
        404,
        Method::PATCH,
        "/pools/nope",
        Some(json!({ "name": "nope", "slots": 1 })),
    )
    .await;

    let other = format!("deploymentId:{}", emulator.info().deployments.dags_disabled);
    let token = emulator.mint_token(Some(vec![other]), Duration::from_secs(60));
    raw.expect_as(403, Method::GET, "/pools", None, Some(&token))
        .await;
}

/// Checks every recorded response; answers the `operationId`s that answered with each status.
fn check_responses(spec: &Spec, exchanges: &[Exchange]) -> BTreeSet<(String, u16)> {
    let mut seen = BTreeSet::new();
    let mut problems = Vec::new();
    for exchange in exchanges {
        let path = spec_path(exchange);
        if exchange.status == 503 {
            continue;
        }
        let op = spec
            .operation(&exchange.method, path)
            .map(|op| op.operation_id);
        let undeclared = op
            .as_deref()
            .is_some_and(|op| UNDECLARED_BY_AIRFLOW.contains(&(op, exchange.status)));
        let checked_as = if undeclared { 400 } else { exchange.status };
        let found = spec.check_response(
            &exchange.method,
            path,
            checked_as,
            exchange.response_body.as_ref(),
        );
        problems.extend(
            found
                .iter()
                .map(|v| format!("{} {path}: {v}", exchange.method)),
        );
        if let Some(op) = spec.operation(&exchange.method, path) {
            seen.insert((op.operation_id, exchange.status));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    seen
}

#[tokio::test]
async fn every_emulator_airflow_response_conforms_to_the_airflow_spec() {
    let emulator = common::start(Duration::from_millis(100)).await;
    let deployment = emulator.info().deployments.dags_enabled.clone();

    drive_emulator(&emulator, &deployment).await;
    let seen = check_responses(&Spec::airflow(), &emulator.airflow_exchanges());

    for status in [200, 400, 401, 403, 404, 409] {
        assert!(
            seen.iter().any(|(_, s)| *s == status),
            "no {status} was checked: {seen:?}"
        );
    }
    let operations: BTreeSet<&str> = seen.iter().map(|(op, _)| op.as_str()).collect();
    let served: Vec<&str> = CLIENT_OPERATIONS.to_vec();
    assert_eq!(
        operations,
        served.into_iter().collect(),
        "every served operation answered"
    );
}

#[tokio::test]
async fn a_misnamed_airflow_response_field_is_reported() {
    let emulator = common::start(Duration::from_millis(100)).await;
    let deployment = emulator.info().deployments.dags_enabled.clone();
    drive_emulator(&emulator, &deployment).await;
    let exchanges = emulator.airflow_exchanges();
    let pools = exchanges
        .iter()
        .find(|e| e.method == "GET" && e.path.ends_with("/pools") && e.status == 200)
        .expect("a pool list");
    let mut body = pools.response_body.clone().expect("a body");
    body["total"] = body["total_entries"].take();
    body.as_object_mut()
        .expect("an object")
        .remove("total_entries");

    let found = Spec::airflow().check_response("GET", spec_path(pools), 200, Some(&body));
    assert!(
        found.iter().any(|v| v.message.contains("total")),
        "{found:?}"
    );
}

/// Drives every call of the client, the copy included.
async fn drive_client(emulator: &RunningEmulator, from: &AirflowClient, to: &AirflowClient) {
    let options = CopyOptions {
        connections: true,
        variables: true,
        pools: true,
    };
    copy_airflow_objects(from, to, &options)
        .await
        .expect("the copy");

    let mut connection: Connection = to.get_connection("warehouse").await.expect("copied");
    connection.connection_id = "with_password".into();
    let password = ConnectionPassword::new("pw");
    to.create_connection(&connection, Some(&password))
        .await
        .expect("created");
    connection.host = None;
    to.update_connection(&connection, Some(&password))
        .await
        .expect("updated");

    let pool: Pool = to.get_pool("default_pool").await.expect("always there");
    assert_eq!(pool.name, "default_pool");
    let variable = Variable {
        key: "made_here".into(),
        value: "1".into(),
        description: Some("by the test".into()),
    };
    to.create_variable(&variable).await.expect("created");
    let stored = emulator.airflow_connections(&preview_of(emulator));
    let stored = stored.expect("the preview");
    let made = stored.iter().find(|c| c.connection_id == "with_password");
    let made = made.expect("created");
    assert_eq!(
        made.password.as_deref(),
        Some("pw"),
        "sent, kept, never answered"
    );
    assert_eq!(made.host, None);
}

fn preview_of(emulator: &RunningEmulator) -> String {
    emulator.info().deployments.dags_disabled.clone()
}

#[tokio::test]
async fn every_airflow_client_request_conforms_to_the_airflow_spec() {
    let emulator = common::start(Duration::from_millis(100)).await;
    let base = emulator.info().deployments.dags_enabled.clone();
    let preview = preview_of(&emulator);
    let mut warehouse = AirflowConnection::new("warehouse", "postgres");
    warehouse.host = Some("db".into());
    warehouse.port = Some(5432);
    emulator
        .put_airflow_connection(&base, warehouse)
        .expect("the base");
    emulator
        .put_airflow_connection(&preview, AirflowConnection::new("warehouse", "http"))
        .expect("the preview");
    emulator
        .put_airflow_variable(&base, AirflowVariable::new("env", "prod"))
        .expect("the base");
    emulator
        .put_airflow_variable(&preview, AirflowVariable::new("env", "dev"))
        .expect("the preview");
    emulator
        .put_airflow_pool(&base, emulator::AirflowPool::new("default_pool", 8))
        .expect("the base");
    emulator
        .put_airflow_pool(&base, emulator::AirflowPool::new("etl", 2))
        .expect("the base");
    let from = common::airflow(&emulator, &base, Duration::from_secs(5));
    let to = common::airflow(&emulator, &preview, Duration::from_secs(5));

    drive_client(&emulator, &from, &to).await;

    let spec = Spec::airflow();
    let mut hit = BTreeSet::new();
    let mut problems = Vec::new();
    for exchange in emulator.airflow_exchanges() {
        assert!(
            exchange.status < 300,
            "the client's call failed: {exchange:?}"
        );
        let path = spec_path(&exchange);
        let found = spec.check_request(
            &exchange.method,
            path,
            &exchange.query,
            exchange.request_body.as_ref(),
        );
        problems.extend(
            found
                .iter()
                .map(|v| format!("{} {path}: {v}", exchange.method)),
        );
        if let Some(op) = spec.operation(&exchange.method, path) {
            hit.insert(op.operation_id);
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let expected: BTreeSet<String> = CLIENT_OPERATIONS.iter().map(|s| s.to_string()).collect();
    assert_eq!(hit, expected, "every client call was exercised");
}

#[tokio::test]
async fn an_invented_airflow_request_field_is_reported() {
    let spec = Spec::airflow();
    let pool = json!({ "name": "etl", "slots": 4, "description": null });
    let found = spec.check_request("POST", "/api/v1/pools", &[], Some(&pool));
    assert!(found.is_empty(), "{found:?}");

    let read_only = json!({ "name": "etl", "slots": 4, "open_slot": 4 });
    let found = spec.check_request("POST", "/api/v1/pools", &[], Some(&read_only));
    assert!(
        found.iter().any(|v| v.message.contains("open_slot")),
        "{found:?}"
    );
}
