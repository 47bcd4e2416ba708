//! Helpers for the emulator's HTTP tests: a running emulator, a client, and the seeded paths.

use std::time::Duration;

use emulator::{EmulatorConfig, RunningEmulator};
use reqwest::{Client, Method, RequestBuilder, Response, StatusCode};
use serde_json::{json, Value};

/// The rollout delay of test emulators.
pub const ROLLOUT: Duration = Duration::from_millis(100);

/// A rollout long enough to see a Deployment `DEPLOYING` even on a loaded machine.
pub const OBSERVABLE_ROLLOUT: Duration = Duration::from_secs(1);

/// How long [`Harness::wait_for_status`] waits before it fails.
const PATIENCE: Duration = Duration::from_secs(10);

pub struct Harness {
    pub emulator: RunningEmulator,
    pub http: Client,
}

pub async fn start() -> Harness {
    start_with(EmulatorConfig {
        rollout_delay: ROLLOUT,
        ..EmulatorConfig::default()
    })
    .await
}

/// An emulator whose rollouts last [`OBSERVABLE_ROLLOUT`].
pub async fn start_observable() -> Harness {
    start_with(EmulatorConfig {
        rollout_delay: OBSERVABLE_ROLLOUT,
        ..EmulatorConfig::default()
    })
    .await
}

pub async fn start_with(config: EmulatorConfig) -> Harness {
    let emulator = emulator::start(config).await.expect("the emulator starts");
    Harness {
        emulator,
        http: Client::new(),
    }
}

impl Harness {
    pub fn org(&self) -> String {
        self.emulator.info().organization_id.clone()
    }

    pub fn workspace(&self) -> String {
        self.emulator.info().workspace_id.clone()
    }

    pub fn enabled(&self) -> String {
        self.emulator.info().deployments.dags_enabled.clone()
    }

    pub fn disabled(&self) -> String {
        self.emulator.info().deployments.dags_disabled.clone()
    }

    pub fn api_token(&self) -> String {
        self.emulator.info().api_token.clone()
    }

    pub fn user_token(&self) -> String {
        self.emulator.info().user_token.clone()
    }

    /// The URL of a Platform path given after `/organizations/{org}`.
    pub fn org_url(&self, rest: &str) -> String {
        format!(
            "{}/platform/v1beta1/organizations/{}{rest}",
            self.emulator.base_url(),
            self.org()
        )
    }

    pub fn deployment_url(&self, deployment: &str, rest: &str) -> String {
        self.org_url(&format!("/deployments/{deployment}{rest}"))
    }

    /// A request with a bearer token.
    pub fn call(&self, method: Method, url: &str, token: &str) -> RequestBuilder {
        self.http.request(method, url).bearer_auth(token)
    }

    pub async fn get(&self, url: &str) -> (StatusCode, Value) {
        answer(self.call(Method::GET, url, &self.api_token()).send().await).await
    }

    pub async fn post(&self, url: &str, body: Value) -> (StatusCode, Value) {
        self.post_as(url, body, &self.api_token()).await
    }

    pub async fn post_as(&self, url: &str, body: Value, token: &str) -> (StatusCode, Value) {
        answer(self.call(Method::POST, url, token).json(&body).send().await).await
    }

    pub async fn deployment(&self, id: &str) -> Value {
        let (status, body) = self.get(&self.deployment_url(id, "")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Polls a Deployment until it has `status`, and answers it then.
    pub async fn wait_for_status(&self, id: &str, status: &str) -> Value {
        let started = std::time::Instant::now();
        loop {
            let deployment = self.deployment(id).await;
            if deployment["status"] == status {
                return deployment;
            }
            assert!(started.elapsed() < PATIENCE, "never {status}: {deployment}");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Creates a deploy with the API token and checks it was accepted.
    pub async fn create_deploy(&self, deployment: &str, kind: &str) -> Value {
        let url = self.deployment_url(deployment, "/deploys");
        let (status, deploy) = self.post(&url, json!({ "type": kind })).await;
        assert_eq!(status, StatusCode::OK, "{deploy}");
        deploy
    }

    /// Uploads `bytes` to a deploy's `dagsUploadUrl` in one request; answers the version id.
    pub async fn upload(&self, deploy: &Value, bytes: &[u8]) -> String {
        let url = deploy["dagsUploadUrl"].as_str().expect("an upload URL");
        let response = self
            .http
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body(bytes.to_vec())
            .send()
            .await
            .expect("the upload is answered");

        assert_eq!(response.status(), StatusCode::CREATED);
        header(&response, "x-ms-version-id")
    }

    pub async fn finalize(&self, deploy: &Value, version: &str) -> (StatusCode, Value) {
        let url = self.deploy_url(deploy, "/finalize");
        self.post(&url, json!({ "dagTarballVersion": version }))
            .await
    }

    pub fn deploy_url(&self, deploy: &Value, rest: &str) -> String {
        let deployment = deploy["deploymentId"].as_str().expect("a deployment id");
        let id = deploy["id"].as_str().expect("a deploy id");
        self.deployment_url(deployment, &format!("/deploys/{id}{rest}"))
    }
}

/// Status and JSON body (`null` when empty) of an answer.
pub async fn answer(response: reqwest::Result<Response>) -> (StatusCode, Value) {
    let response = response.expect("the request is answered");
    let status = response.status();
    let text = response.text().await.expect("a readable body");

    let body = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).expect(&text)
    };
    (status, body)
}

pub fn header(response: &Response, name: &str) -> String {
    let value = response
        .headers()
        .get(name)
        .unwrap_or_else(|| panic!("a `{name}` header"));
    value.to_str().expect("a text header").to_owned()
}

/// Asserts a body in the spec's `Error` shape with this status, and returns its message.
pub fn error_message(status: StatusCode, body: &Value, expected: StatusCode) -> String {
    assert_eq!(status, expected, "{body}");
    assert_eq!(body["statusCode"], expected.as_u16(), "{body}");
    assert!(body["requestId"].is_string(), "{body}");
    let object = body.as_object().expect("an object");
    assert_eq!(
        object.len(),
        3,
        "only message, requestId and statusCode: {body}"
    );
    body["message"].as_str().expect("a message").to_owned()
}

/// A full `CreateStandardDeploymentRequest` for the seeded workspace.
pub fn new_deployment(workspace: &str, name: &str) -> Value {
    json!({
        "type": "STANDARD",
        "name": name,
        "workspaceId": workspace,
        "astroRuntimeVersion": "12.4.0",
        "executor": "CELERY",
        "schedulerSize": "SMALL",
        "isCicdEnforced": false,
        "isDagDeployEnabled": true,
        "isHighAvailability": false,
        "isDevelopmentMode": true,
        "defaultTaskPodCpu": "0.25",
        "defaultTaskPodMemory": "0.5Gi",
        "resourceQuotaCpu": "10",
        "resourceQuotaMemory": "20Gi",
        "cloudProvider": "AWS",
        "region": "us-east-1",
        "environmentVariables": [
            { "key": "PLAIN", "value": "visible", "isSecret": false },
            { "key": "SECRET", "value": "hidden", "isSecret": true }
        ],
        "workerQueues": [{
            "name": "default", "isDefault": true, "astroMachine": "A5",
            "minWorkerCount": 0, "maxWorkerCount": 5, "workerConcurrency": 5
        }]
    })
}
