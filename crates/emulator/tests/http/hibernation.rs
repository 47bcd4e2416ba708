//! Hibernation: the schedule puts a development deployment to sleep, an override wakes it,
//! and a rollout waits for it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{answer, error_message, start, start_observable, OBSERVABLE_ROLLOUT};

#[tokio::test]
async fn an_override_wakes_a_sleeping_deployment_and_its_rollout_finishes() {
    let harness = start_observable().await;
    let enabled = harness.enabled();
    harness
        .emulator
        .hibernate(&enabled)
        .expect("a development deployment hibernates");
    assert_eq!(harness.deployment(&enabled).await["status"], "HIBERNATING");

    let deploy = harness.create_deploy(&enabled, "DAG_ONLY").await;
    let version = harness.upload(&deploy, b"bundle").await;
    let (status, body) = harness.finalize(&deploy, &version).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    tokio::time::sleep(OBSERVABLE_ROLLOUT + OBSERVABLE_ROLLOUT / 5).await;
    let asleep = harness.deployment(&enabled).await;
    assert_eq!(
        asleep["status"], "HIBERNATING",
        "the rollout waits: {asleep}"
    );
    assert_eq!(asleep["desiredDagTarballVersion"], version.as_str());
    assert_eq!(
        asleep["scalingStatus"]["hibernationStatus"]["isHibernating"],
        true
    );

    let url = harness.deployment_url(&enabled, "/hibernation-override");
    let (status, rule) = harness.post(&url, json!({ "isHibernating": false })).await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    assert_eq!(rule, json!({ "isActive": true, "isHibernating": false }));
    assert_eq!(harness.deployment(&enabled).await["status"], "DEPLOYING");

    let awake = harness.wait_for_status(&enabled, "HEALTHY").await;
    assert_eq!(awake["dagTarballVersion"], version.as_str());

    let removed = harness
        .call(Method::DELETE, &url, &harness.api_token())
        .send()
        .await;
    let (status, body) = answer(removed).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(harness.deployment(&enabled).await["status"], "HIBERNATING");
}

#[tokio::test]
async fn only_development_deployments_take_overrides() {
    let harness = start().await;
    let url = harness.deployment_url(&harness.disabled(), "/hibernation-override");

    let (status, body) = harness.post(&url, json!({ "isHibernating": true })).await;

    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("not a development deployment"),
        "{message}"
    );
    assert!(harness.emulator.hibernate(&harness.disabled()).is_err());
}

#[tokio::test]
async fn an_override_can_put_a_deployment_to_sleep_until_a_time() {
    let harness = start().await;
    let enabled = harness.enabled();
    let url = harness.deployment_url(&enabled, "/hibernation-override");
    let until = "2999-01-01T00:00:00Z";

    let (status, rule) = harness
        .post(
            &url,
            json!({ "isHibernating": true, "overrideUntil": until }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rule}");
    assert_eq!(rule["overrideUntil"], until);

    let deployment = harness.deployment(&enabled).await;
    assert_eq!(deployment["status"], "HIBERNATING");
    assert_eq!(
        deployment["scalingSpec"]["hibernationSpec"]["override"]["isHibernating"],
        true
    );

    let past = json!({ "isHibernating": true, "overrideUntil": "2001-01-01T00:00:00Z" });
    let (status, body) = harness.post(&url, past).await;
    error_message(status, &body, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn the_admin_routes_run_the_schedule() {
    let harness = start().await;
    let enabled = harness.enabled();
    let admin = |id: &str, event: &str| {
        let base = harness.emulator.base_url();
        harness
            .http
            .post(format!("{base}/emulator/deployments/{id}/{event}"))
            .send()
    };

    let (status, _) = answer(admin(&enabled, "hibernate").await).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(harness.deployment(&enabled).await["status"], "HIBERNATING");

    let (status, _) = answer(admin(&enabled, "wake").await).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    harness.wait_for_status(&enabled, "HEALTHY").await;

    let (status, body) = answer(admin("cnosuchdeployment", "hibernate").await).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = answer(admin(&harness.disabled(), "hibernate").await).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}
