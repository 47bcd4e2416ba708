//! Injected faults: error statuses, latency and dropped connections.

use std::time::{Duration, Instant};

use emulator::Fault;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{answer, error_message, header, start};

#[tokio::test]
async fn a_status_fault_answers_its_status_as_often_as_asked() {
    let harness = start().await;
    let fault = Fault::status(429)
        .method("POST")
        .path_contains("/deploys")
        .times(2)
        .retry_after(3);
    harness.emulator.add_fault(fault);
    let url = harness.deployment_url(&harness.enabled(), "/deploys");

    for _ in 0..2 {
        let response = harness.call(reqwest::Method::POST, &url, &harness.api_token());
        let response = response
            .json(&json!({ "type": "DAG_ONLY" }))
            .send()
            .await
            .expect("an answer");
        assert_eq!(header(&response, "retry-after"), "3");
        let (status, body) = answer(Ok(response)).await;
        error_message(status, &body, StatusCode::TOO_MANY_REQUESTS);
    }
    harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;

    let faults: Vec<bool> = harness
        .emulator
        .exchanges()
        .iter()
        .map(|e| e.fault)
        .collect();
    assert_eq!(faults, [true, true, false]);
}

#[tokio::test]
async fn faults_added_over_http_apply_too() {
    let harness = start().await;
    let admin = format!("{}/emulator/faults", harness.emulator.base_url());
    let fault = json!({
        "method": "GET", "pathContains": "/deployments/", "kind": "status", "status": 503
    });

    let (status, _) = answer(harness.http.post(&admin).json(&fault).send().await).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = harness
        .get(&harness.deployment_url(&harness.enabled(), ""))
        .await;
    error_message(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    let (status, _) = harness
        .get(&harness.deployment_url(&harness.enabled(), ""))
        .await;
    assert_eq!(status, StatusCode::OK, "the fault was used up");

    let bad = json!({ "kind": "status", "status": 200 });
    let (status, body) = answer(harness.http.post(&admin).json(&bad).send().await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn a_latency_fault_delays_a_normal_answer() {
    let harness = start().await;
    harness
        .emulator
        .add_fault(Fault::latency(Duration::from_millis(300)).method("GET"));
    let url = harness.deployment_url(&harness.enabled(), "");

    let started = Instant::now();
    let (status, body) = harness.get(&url).await;

    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["id"], harness.enabled().as_str());
}

#[tokio::test]
async fn a_drop_fault_closes_the_connection_without_an_answer() {
    let harness = start().await;
    harness
        .emulator
        .add_fault(Fault::drop_connection().path_contains("/deployments/"));
    let url = harness.deployment_url(&harness.enabled(), "");

    let dropped = harness
        .call(reqwest::Method::GET, &url, &harness.api_token())
        .send()
        .await;
    assert!(dropped.is_err(), "expected no answer, got {dropped:?}");

    let (status, _) = harness.get(&url).await;
    assert_eq!(status, StatusCode::OK);
    let exchanges = harness.emulator.exchanges();
    assert_eq!((exchanges[0].status, exchanges[0].fault), (0, true));
}

#[tokio::test]
async fn faults_reach_the_blob_endpoint() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    harness
        .emulator
        .add_fault(Fault::status(503).method("PUT").path_contains("/blobs/"));
    let url = deploy["dagsUploadUrl"].as_str().expect("an upload URL");

    let put = || {
        harness
            .http
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body("bytes")
            .send()
    };
    let busy = put().await.expect("an answer");
    assert_eq!(busy.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(header(&busy, "x-ms-error-code"), "ServerBusy");

    assert_eq!(
        put().await.expect("an answer").status(),
        StatusCode::CREATED
    );
    let faults: Vec<bool> = harness
        .emulator
        .blob_requests()
        .iter()
        .map(|r| r.fault)
        .collect();
    assert_eq!(faults, [true, false]);
}

#[tokio::test]
async fn an_omit_header_fault_serves_the_request_without_that_header() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    let url = deploy["dagsUploadUrl"].as_str().expect("an upload URL");
    harness.emulator.add_fault(
        Fault::omit_header("x-ms-version-id")
            .method("PUT")
            .path_contains("/blobs/"),
    );
    let put = || {
        harness
            .http
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body("bundle")
            .send()
    };

    let faulted = put().await.expect("an answer");
    assert_eq!(faulted.status(), StatusCode::CREATED);
    assert!(faulted.headers().get("x-ms-version-id").is_none());
    assert!(faulted.headers().get("x-ms-request-id").is_some());
    let id = deploy["id"].as_str().expect("a deploy id");
    assert_eq!(harness.emulator.blob(id).as_deref(), Some(&b"bundle"[..]));

    let served = put().await.expect("an answer");
    assert!(!header(&served, "x-ms-version-id").is_empty(), "only once");
    let faults: Vec<bool> = harness
        .emulator
        .blob_requests()
        .iter()
        .map(|r| r.fault)
        .collect();
    assert_eq!(faults, [true, false]);
}
