//! Helpers of the Airflow copy tests: an emulator, Airflow clients of its Deployments, and a
//! Deployment created through the Platform API (so that it starts CREATING).

#![allow(dead_code)]

use std::time::Duration;

use astro_api::airflow::{airflow_api_base, AirflowClient, AirflowConfig};
use astro_api::{ApiToken, RetryPolicy};
use emulator::{EmulatorConfig, RunningEmulator};
use serde_json::json;

pub async fn start(rollout_delay: Duration) -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay,
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.expect("the emulator starts")
}

/// Quick retries, so that waiting tests stay short.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: 3,
        max_elapsed: Duration::from_secs(5),
        base_delay: Duration::from_millis(50),
        max_delay: Duration::from_millis(200),
    }
}

/// A client of a Deployment's Airflow, found the way a caller finds it: from the scheme-less
/// `webServerAirflowApiUrl`.
pub fn airflow(
    emulator: &RunningEmulator,
    deployment: &str,
    startup_wait: Duration,
) -> AirflowClient {
    let url = emulator.airflow_api_url(deployment).expect("a Deployment");
    let base = airflow_api_base(&url).expect("a usable URL");
    let token = ApiToken::new(emulator.info().api_token.clone()).expect("a token");
    let config = AirflowConfig {
        retry: quick_retries(),
        startup_wait,
        ..AirflowConfig::new(base, token)
    };
    AirflowClient::new(config).expect("a client")
}

/// Creates a Deployment through the Platform API; it is CREATING for the rollout delay.
pub async fn create_deployment(emulator: &RunningEmulator, name: &str) -> String {
    let info = emulator.info();
    let url = format!(
        "{}/platform/v1beta1/organizations/{}/deployments",
        info.base_url, info.organization_id
    );
    let body = json!({
        "type": "STANDARD", "name": name, "workspaceId": info.workspace_id,
        "astroRuntimeVersion": "12.4.0", "executor": "CELERY", "schedulerSize": "SMALL",
        "isCicdEnforced": false, "isDagDeployEnabled": true, "isHighAvailability": false,
        "isDevelopmentMode": false, "defaultTaskPodCpu": "0.25", "defaultTaskPodMemory": "0.5Gi",
        "resourceQuotaCpu": "10", "resourceQuotaMemory": "20Gi", "cloudProvider": "AWS",
        "region": "us-east-1",
        "workerQueues": [{ "name": "default", "isDefault": true, "astroMachine": "A5",
            "minWorkerCount": 0, "maxWorkerCount": 5, "workerConcurrency": 5 }]
    });
    let response = reqwest::Client::new()
        .post(url)
        .bearer_auth(&info.api_token)
        .json(&body)
        .send()
        .await
        .expect("the Platform API answers");
    assert!(
        response.status().is_success(),
        "{:?}",
        response.text().await
    );
    let created: serde_json::Value = response.json().await.expect("a Deployment");
    assert_eq!(created["status"], "CREATING");
    created["id"].as_str().expect("an id").to_owned()
}
