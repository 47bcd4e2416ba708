//! Conformance to `api-specs/platform-v1beta1.yaml`, one side at a time:
//!
//! - every answer the emulator gives, for every Platform operation it serves: successes,
//!   refusals (401, 403, 404, 400) and injected faults, driven over raw HTTP with bodies written
//!   here, so that neither the client's types nor the emulator's shape what is sent;
//! - every request the `astro-api` client sends, for every Platform call it has.
//!
//! The emulator and the client share no types, so a field one side invents shows up here. A
//! negative control per side proves that the checks can fail.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write as _;
use std::time::Duration;

use astro_api::blob::{BlobUploader, UploadOptions};
use astro_api::models::{
    AstroMachine, CloudProvider, CreateDeployRequest, CreateDeploymentRequest, DeployType,
    Deployment, EnvironmentVariableRequest, Executor, FinalizeDeployRequest,
    HibernationOverrideRequest, HibernationSchedule, HibernationSpecRequest,
    HostedDeploymentRequest, RollbackDeployRequest, ScalingSpecRequest, SchedulerSize,
    UpdateDeployRequest, UpdateDeploymentRequest, WorkerQueueRequest,
};
use astro_api::platform::DeploymentFilter;
use astro_api::{ApiToken, Client, ClientConfig, RetryPolicy};
use emulator::{EmulatorConfig, Exchange, Fault, RunningEmulator};
use reqwest::Method;
use serde_json::{json, Value};
use spec_conformance::Spec;

/// Where the Platform API lives below the base URL.
const PREFIX: &str = "/platform/v1beta1";

/// The `operationId`s of the Platform calls `astro_api::Client` implements. A call that stops
/// being exercised by [`every_client_request_conforms_to_the_platform_spec`] fails it.
const CLIENT_OPERATIONS: &[&str] = &[
    "CreateDeploy",
    "CreateDeployment",
    "DeleteDeployment",
    "DeleteDeploymentHibernationOverride",
    "DeployRollback",
    "FinalizeDeploy",
    "GetDeploy",
    "GetDeployment",
    "GetDeploymentOptions",
    "GetOrganization",
    "GetWorkspace",
    "ListDeploys",
    "ListDeployments",
    "ListWorkspaces",
    "UpdateDeploy",
    "UpdateDeployment",
    "UpdateDeploymentHibernationOverride",
];

/// The `operationId`s of the IAM calls `astro_api::Client` implements. A call that stops being
/// exercised by [`every_client_request_conforms_to_the_iam_spec`] fails it.
const IAM_CLIENT_OPERATIONS: &[&str] = &[
    "CreateApiToken",
    "DeleteApiToken",
    "GetApiToken",
    "ListApiTokens",
    "RotateApiToken",
    "UpdateApiToken",
];

/// Where the IAM API lives below the base URL.
const IAM_PREFIX: &str = "/iam/v1beta1";

/// A runtime the emulator offers (see its `deployment-options`).
const RUNTIME: &str = "12.2.0";

async fn start_emulator() -> RunningEmulator {
    let config = EmulatorConfig {
        rollout_delay: Duration::from_millis(100),
        ..EmulatorConfig::default()
    };
    emulator::start(config).await.expect("the emulator starts")
}

/// The seeded ids.
struct Ids {
    org: String,
    workspace: String,
    enabled: String,
    disabled: String,
}

impl Ids {
    fn of(emulator: &RunningEmulator) -> Self {
        let info = emulator.info();
        Self {
            org: info.organization_id.clone(),
            workspace: info.workspace_id.clone(),
            enabled: info.deployments.dags_enabled.clone(),
            disabled: info.deployments.dags_disabled.clone(),
        }
    }

    fn org_path(&self) -> String {
        format!("/organizations/{}", self.org)
    }

    fn deployment(&self, id: &str) -> String {
        format!("{}/deployments/{id}", self.org_path())
    }

    fn deploys(&self, deployment: &str) -> String {
        format!("{}/deploys", self.deployment(deployment))
    }

    fn deploy(&self, deployment: &str, deploy: &str) -> String {
        format!("{}/{deploy}", self.deploys(deployment))
    }

    fn hibernation(&self, deployment: &str) -> String {
        format!("{}/hibernation-override", self.deployment(deployment))
    }

    /// A spec path template with the seeded ids (and `deploy`) put in.
    fn fill(&self, template: &str, deploy: &str) -> String {
        template
            .replace("{organizationId}", &self.org)
            .replace("{workspaceId}", &self.workspace)
            .replace("{deploymentId}", &self.enabled)
            .replace("{deployId}", deploy)
    }
}

/// Raw HTTP to the Platform routes, as one token (or none).
#[derive(Clone)]
struct Raw {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Raw {
    fn new(emulator: &RunningEmulator) -> Self {
        Self {
            http: reqwest::Client::new(),
            base: emulator.base_url().to_owned(),
            token: Some(emulator.info().api_token.clone()),
        }
    }

    fn with_token(&self, token: Option<&str>) -> Self {
        Self {
            token: token.map(str::to_owned),
            ..self.clone()
        }
    }

    /// Sends a request and checks that the answer has the status the scenario expects; answers
    /// the JSON body (`null` when there is none).
    async fn expect(&self, status: u16, method: Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{PREFIX}{path}", self.base);
        let mut request = self.http.request(method.clone(), &url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &body {
            request = request.json(body);
        }

        let response = request.send().await.expect("the emulator answers");
        let got = response.status().as_u16();
        let text = response.text().await.expect("the answer is readable");
        let answer = serde_json::from_str(&text).unwrap_or(Value::Null);
        assert_eq!(
            got, status,
            "{method} {path} answered {got}, not {status}: {text}"
        );
        answer
    }

    async fn get(&self, status: u16, path: &str) -> Value {
        self.expect(status, Method::GET, path, None).await
    }

    async fn post(&self, status: u16, path: &str, body: Value) -> Value {
        self.expect(status, Method::POST, path, Some(body)).await
    }

    async fn delete(&self, status: u16, path: &str) {
        self.expect(status, Method::DELETE, path, None).await;
    }

    /// Uploads a bundle to a deploy's `dagsUploadUrl` in one Put Blob; answers its version.
    async fn upload(&self, deploy: &Value) -> String {
        let url = deploy["dagsUploadUrl"]
            .as_str()
            .expect("a DAG deploy has an upload URL");
        let response = self
            .http
            .put(url)
            .header("x-ms-blob-type", "BlockBlob")
            .body(bundle())
            .send()
            .await
            .expect("the blob endpoint answers");

        assert_eq!(response.status().as_u16(), 201, "the upload is accepted");
        let version = response.headers().get("x-ms-version-id");
        let version = version.and_then(|value| value.to_str().ok());
        version
            .expect("the upload answers `x-ms-version-id`")
            .to_owned()
    }
}

/// A small DAG bundle: a gzip tar holding one DAG file.
fn bundle() -> Vec<u8> {
    let dag = b"from airflow.decorators import dag\n\n\
        @dag(schedule=None)\n\
        def hello():\n    pass\n\n\
        hello()\n";
    let mut header = tar::Header::new_gnu();
    header.set_size(dag.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();

    let gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(gzip);
    archive
        .append_data(&mut header, "dags/hello.py", &dag[..])
        .expect("the bundle is written");
    let gzip = archive.into_inner().expect("the tar is finished");
    gzip.finish().expect("the gzip is finished")
}

/// An RFC 3339 time an hour from now, for `overrideUntil`.
fn in_an_hour() -> String {
    let at = time::OffsetDateTime::now_utc() + time::Duration::hours(1);
    at.format(&time::format_description::well_known::Rfc3339)
        .expect("a time formats as RFC 3339")
}

/// A realistic STANDARD create body, written by hand.
fn create_deployment_body(ids: &Ids, name: &str) -> Value {
    json!({
        "type": "STANDARD",
        "name": name,
        "description": "Nightly ELT for the data team",
        "workspaceId": ids.workspace,
        "astroRuntimeVersion": RUNTIME,
        "cloudProvider": "AWS",
        "region": "us-east-1",
        "executor": "CELERY",
        "isCicdEnforced": false,
        "isDagDeployEnabled": true,
        "isDevelopmentMode": true,
        "isHighAvailability": false,
        "schedulerSize": "SMALL",
        "defaultTaskPodCpu": "0.25",
        "defaultTaskPodMemory": "0.5Gi",
        "resourceQuotaCpu": "10",
        "resourceQuotaMemory": "20Gi",
        "contactEmails": ["data-team@example.com"],
        "environmentVariables": [
            { "key": "AIRFLOW__CORE__DEFAULT_TIMEZONE", "isSecret": false, "value": "UTC" },
            { "key": "WAREHOUSE_PASSWORD", "isSecret": true, "value": "hunter2" },
        ],
        "workerQueues": [
            {
                "name": "default", "isDefault": true, "astroMachine": "A5",
                "minWorkerCount": 0, "maxWorkerCount": 10, "workerConcurrency": 5,
            },
            {
                "name": "heavy", "isDefault": false, "astroMachine": "A10",
                "minWorkerCount": 1, "maxWorkerCount": 4, "workerConcurrency": 10,
            },
        ],
        "scalingSpec": {
            "hibernationSpec": {
                "schedules": [{
                    "description": "Nights off",
                    "hibernateAtCron": "0 20 * * 1-5",
                    "wakeAtCron": "0 7 * * 1-5",
                    "isEnabled": true,
                }],
                "override": { "isHibernating": false, "overrideUntil": in_an_hour() },
            },
        },
    })
}

/// A full update body for a Deployment answered by create: same queues (by id), the secret
/// kept without its value, one variable changed and one added.
fn update_deployment_body(ids: &Ids, created: &Value) -> Value {
    let queues: Vec<Value> = created["workerQueues"]
        .as_array()
        .expect("a created Deployment has worker queues")
        .iter()
        .map(|queue| {
            json!({
                "id": queue["id"],
                "name": queue["name"],
                "isDefault": queue["isDefault"],
                "astroMachine": queue["astroMachine"],
                "minWorkerCount": queue["minWorkerCount"],
                "maxWorkerCount": 8,
                "workerConcurrency": queue["workerConcurrency"],
            })
        })
        .collect();

    json!({
        "type": "STANDARD",
        "name": created["name"],
        "description": "Nightly ELT, now with more workers",
        "workspaceId": ids.workspace,
        "executor": "CELERY",
        "isCicdEnforced": true,
        "isDagDeployEnabled": true,
        "isDevelopmentMode": true,
        "isHighAvailability": false,
        "schedulerSize": "MEDIUM",
        "defaultTaskPodCpu": "0.5",
        "defaultTaskPodMemory": "1Gi",
        "resourceQuotaCpu": "20",
        "resourceQuotaMemory": "40Gi",
        "contactEmails": ["data-team@example.com", "oncall@example.com"],
        "environmentVariables": [
            {
                "key": "AIRFLOW__CORE__DEFAULT_TIMEZONE",
                "isSecret": false,
                "value": "Europe/Paris",
            },
            { "key": "WAREHOUSE_PASSWORD", "isSecret": true },
            { "key": "DBT_TARGET", "isSecret": false, "value": "prod" },
        ],
        "workerQueues": queues,
        "scalingSpec": {
            "hibernationSpec": {
                "schedules": [{
                    "hibernateAtCron": "0 22 * * *",
                    "wakeAtCron": "0 6 * * *",
                    "isEnabled": true,
                }],
            },
        },
    })
}

fn id_of(object: &Value) -> String {
    object["id"]
        .as_str()
        .expect("the answer has an `id`")
        .to_owned()
}

// ---------------------------------------------------------------------------------------------
// Group 1: the emulator's answers.

#[tokio::test]
async fn every_emulator_response_conforms_to_the_platform_spec() {
    let emulator = start_emulator().await;
    let ids = Ids::of(&emulator);
    let raw = Raw::new(&emulator);

    drive_organization(&emulator, &raw, &ids).await;
    drive_deployments(&emulator, &raw, &ids).await;
    let deploy = drive_deploys(&emulator, &raw, &ids).await;
    drive_hibernation(&emulator, &raw, &ids).await;
    drive_faults(&emulator, &raw, &ids, &deploy).await;

    let spec = Spec::platform();
    let validated = check_responses(&spec, &emulator.exchanges());
    assert_every_served_operation_succeeded(&validated, emulator::served_operations());
    print_summary(&validated);
}

/// A token that may touch the `dags-disabled` Deployment only.
fn deployment_scoped_token(emulator: &RunningEmulator, ids: &Ids) -> String {
    let permissions = vec![format!("deploymentId:{}", ids.disabled)];
    emulator.mint_token(Some(permissions), Duration::from_secs(600))
}

async fn drive_organization(emulator: &RunningEmulator, raw: &Raw, ids: &Ids) {
    let anonymous = raw.with_token(None);
    let garbled = raw.with_token(Some("not-a-jwt"));
    let expired = emulator.mint_token(None, Duration::ZERO);
    let expired = raw.with_token(Some(&expired));
    let scoped = deployment_scoped_token(emulator, ids);
    let scoped = raw.with_token(Some(&scoped));
    let org = ids.org_path();
    let unknown_org = "/organizations/cunknownorg";

    raw.get(200, "/organizations").await;
    raw.get(200, "/organizations?offset=0&limit=10&sorts=name:asc")
        .await;
    raw.get(400, "/organizations?limit=5000").await;
    raw.get(400, "/organizations?sorts=size:up").await;
    anonymous.get(401, "/organizations").await;
    garbled.get(401, "/organizations").await;

    raw.get(200, &org).await;
    raw.get(404, unknown_org).await;
    expired.get(401, &org).await;

    raw.get(200, &format!("{org}/deployment-options")).await;
    raw.get(403, &format!("{unknown_org}/deployment-options"))
        .await;
    anonymous
        .get(401, &format!("{org}/deployment-options"))
        .await;

    let workspaces = format!("{org}/workspaces");
    raw.get(200, &workspaces).await;
    let filtered = format!(
        "{workspaces}?workspaceIds={}&sorts=name:desc",
        ids.workspace
    );
    raw.get(200, &filtered).await;
    raw.get(400, &format!("{workspaces}?sorts=bogus")).await;
    raw.get(403, &format!("{unknown_org}/workspaces")).await;
    anonymous.get(401, &workspaces).await;

    let workspace = format!("{workspaces}/{}", ids.workspace);
    raw.get(200, &workspace).await;
    raw.get(404, &format!("{workspaces}/cunknownworkspace"))
        .await;
    scoped.get(403, &workspace).await;
}

async fn drive_deployments(emulator: &RunningEmulator, raw: &Raw, ids: &Ids) {
    let anonymous = raw.with_token(None);
    let scoped = deployment_scoped_token(emulator, ids);
    let scoped = raw.with_token(Some(&scoped));
    let list = format!("{}/deployments", ids.org_path());
    let unknown = ids.deployment("cunknowndeployment");

    let created = raw
        .post(200, &list, create_deployment_body(ids, "conformance-raw"))
        .await;
    let id = id_of(&created);
    raw.post(400, &list, json!({})).await;
    let mut dedicated = create_deployment_body(ids, "dedicated");
    dedicated["type"] = json!("DEDICATED");
    raw.post(400, &list, dedicated).await;
    scoped
        .post(403, &list, create_deployment_body(ids, "out-of-scope"))
        .await;
    anonymous
        .post(401, &list, create_deployment_body(ids, "anonymous"))
        .await;

    raw.get(200, &list).await;
    raw.get(200, &format!("{list}?workspaceIds={}", ids.workspace))
        .await;
    let by_id = format!("{list}?deploymentIds={id}&deploymentIds={}", ids.enabled);
    raw.get(200, &by_id).await;
    raw.get(
        200,
        &format!("{list}?names=conformance-raw&sorts=createdAt:desc&limit=1"),
    )
    .await;
    raw.get(400, &format!("{list}?limit=abc")).await;
    raw.get(403, "/organizations/cunknownorg/deployments").await;
    anonymous.get(401, &list).await;

    raw.get(200, &ids.deployment(&id)).await;
    raw.get(200, &ids.deployment(&ids.disabled)).await;
    raw.get(404, &unknown).await;
    scoped.get(403, &ids.deployment(&ids.enabled)).await;

    let update = update_deployment_body(ids, &created);
    raw.post(200, &ids.deployment(&id), update.clone()).await;
    let mut with_runtime = update.clone();
    with_runtime["astroRuntimeVersion"] = json!(RUNTIME);
    raw.post(400, &ids.deployment(&id), with_runtime).await;
    raw.post(404, &unknown, update.clone()).await;
    scoped.post(403, &ids.deployment(&id), update).await;

    scoped.delete(403, &ids.deployment(&id)).await;
    raw.delete(204, &ids.deployment(&id)).await;
    raw.delete(404, &ids.deployment(&id)).await;
    anonymous.delete(401, &ids.deployment(&id)).await;
}

/// Drives the deploy operations; answers the id of a deploy that took effect.
async fn drive_deploys(emulator: &RunningEmulator, raw: &Raw, ids: &Ids) -> String {
    let user = raw.with_token(Some(&emulator.info().user_token));
    let enabled = &ids.enabled;
    let dag_only = || json!({ "type": "DAG_ONLY", "description": "DAGs from CI" });

    let first = raw.post(200, &ids.deploys(enabled), dag_only()).await;
    let first_id = id_of(&first);
    raw.post(
        400,
        &ids.deploys(&ids.disabled),
        json!({ "type": "DAG_ONLY" }),
    )
    .await;
    user.post(403, &ids.deploys(enabled), dag_only()).await;
    raw.post(404, &ids.deploys("cunknowndeployment"), dag_only())
        .await;
    raw.post(400, &ids.deploys(enabled), json!({ "type": "BUNDLE" }))
        .await;

    raw.get(200, &ids.deploys(enabled)).await;
    raw.get(200, &format!("{}?offset=0&limit=10", ids.deploys(enabled)))
        .await;
    raw.get(404, &ids.deploys("cunknowndeployment")).await;
    raw.get(200, &ids.deploy(enabled, &first_id)).await;
    raw.get(404, &ids.deploy(enabled, "cunknowndeploy")).await;

    let described = json!({ "description": "DAGs from CI, run 42" });
    raw.post(200, &ids.deploy(enabled, &first_id), described.clone())
        .await;
    raw.post(404, &ids.deploy(enabled, "cunknowndeploy"), described)
        .await;
    let not_text = json!({ "description": 42 });
    raw.post(400, &ids.deploy(enabled, &first_id), not_text)
        .await;

    finalize_deploys(raw, &user, ids, &first).await;
    roll_back(raw, ids, &first_id).await;
    image_deploy_without_dags(raw, ids).await;
    first_id
}

async fn finalize_deploys(raw: &Raw, user: &Raw, ids: &Ids, first: &Value) {
    let enabled = &ids.enabled;
    let finalize = |deploy: &str| format!("{}/finalize", ids.deploy(enabled, deploy));
    let first_id = id_of(first);
    let version = |v: &str| json!({ "dagTarballVersion": v });

    raw.post(
        400,
        &finalize(&first_id),
        version("2024-01-01T00:00:00.0000000Z"),
    )
    .await;
    let uploaded = raw.upload(first).await;
    raw.post(400, &finalize(&first_id), version("not-a-version"))
        .await;
    raw.post(400, &finalize(&first_id), json!({})).await;
    user.post(403, &finalize(&first_id), version(&uploaded))
        .await;
    raw.post(403, &finalize("cunknowndeploy"), version(&uploaded))
        .await;
    raw.post(200, &finalize(&first_id), version(&uploaded))
        .await;
    raw.post(400, &finalize(&first_id), version(&uploaded))
        .await;
}

async fn roll_back(raw: &Raw, ids: &Ids, first_id: &str) {
    let enabled = &ids.enabled;
    let rollback = |deploy: &str| format!("{}/rollback", ids.deploy(enabled, deploy));

    let second = raw
        .post(200, &ids.deploys(enabled), json!({ "type": "DAG_ONLY" }))
        .await;
    let second_id = id_of(&second);
    raw.post(400, &rollback(&second_id), json!({})).await;
    let version = raw.upload(&second).await;
    let finalize = format!("{}/finalize", ids.deploy(enabled, &second_id));
    raw.post(200, &finalize, json!({ "dagTarballVersion": version }))
        .await;

    raw.post(400, &rollback(&second_id), json!({})).await;
    let back = json!({ "description": "Back to the first bundle" });
    let rolled = raw.post(200, &rollback(first_id), back).await;
    raw.post(200, &rollback(&second_id), json!({})).await;
    raw.post(404, &rollback("cunknowndeploy"), json!({})).await;
    raw.get(200, &ids.deploy(enabled, &id_of(&rolled))).await;
}

/// An image deploy to the Deployment without DAG deploys: no upload URL, finalized without a
/// bundle version.
async fn image_deploy_without_dags(raw: &Raw, ids: &Ids) {
    let disabled = &ids.disabled;
    let deploy = raw
        .post(
            200,
            &ids.deploys(disabled),
            json!({ "type": "IMAGE_AND_DAG" }),
        )
        .await;
    let finalize = format!("{}/finalize", ids.deploy(disabled, &id_of(&deploy)));
    raw.post(400, &finalize, json!({ "dagTarballVersion": "v1" }))
        .await;
    raw.post(200, &finalize, json!({})).await;
    raw.get(200, &ids.deployment(disabled)).await;
}

async fn drive_hibernation(emulator: &RunningEmulator, raw: &Raw, ids: &Ids) {
    let anonymous = raw.with_token(None);
    let scoped = deployment_scoped_token(emulator, ids);
    let scoped = raw.with_token(Some(&scoped));
    let enabled = ids.hibernation(&ids.enabled);
    let disabled = ids.hibernation(&ids.disabled);
    let unknown = ids.hibernation("cunknowndeployment");
    let wake = || json!({ "isHibernating": false, "overrideUntil": in_an_hour() });

    emulator
        .hibernate(&ids.enabled)
        .expect("the development Deployment hibernates");
    // The Deployment asleep, and after each override: each shape of its `scalingStatus`.
    raw.get(200, &ids.deployment(&ids.enabled)).await;
    raw.post(200, &enabled, wake()).await;
    raw.post(200, &enabled, json!({ "isHibernating": true }))
        .await;
    raw.get(200, &ids.deployment(&ids.enabled)).await;
    raw.post(400, &disabled, wake()).await;
    raw.post(400, &enabled, json!({})).await;
    let past = json!({ "isHibernating": false, "overrideUntil": "2001-01-01T00:00:00Z" });
    raw.post(400, &enabled, past).await;
    raw.post(404, &unknown, wake()).await;
    scoped.post(403, &enabled, wake()).await;
    anonymous.post(401, &enabled, wake()).await;

    scoped.delete(403, &enabled).await;
    raw.delete(204, &enabled).await;
    raw.delete(400, &disabled).await;
    raw.delete(404, &unknown).await;
    anonymous.delete(401, &enabled).await;
}

/// Injects a status fault (500, which every operation lists) into each served operation, plus
/// a 503 with `Retry-After` where the spec lists `5XX`, and a latency fault.
async fn drive_faults(emulator: &RunningEmulator, raw: &Raw, ids: &Ids, deploy: &str) {
    for (method, template) in emulator::served_operations() {
        let path = ids.fill(template, deploy);
        let method = Method::from_bytes(method.as_bytes()).expect("a served method is valid");
        let body = (method == Method::POST).then(|| json!({}));
        emulator.add_fault(fault_at(Fault::status(500), &method, &path));
        raw.expect(500, method, &path, body).await;
    }

    let hibernation = ids.hibernation(&ids.enabled);
    let unavailable = Fault::status(503).retry_after(2);
    emulator.add_fault(fault_at(unavailable, &Method::DELETE, &hibernation));
    raw.delete(503, &hibernation).await;

    let slow = Fault::latency(Duration::from_millis(20));
    let deployment = ids.deployment(&ids.enabled);
    emulator.add_fault(fault_at(slow, &Method::GET, &deployment));
    raw.get(200, &deployment).await;
}

fn fault_at(fault: Fault, method: &Method, path: &str) -> Fault {
    fault
        .method(method.as_str())
        .path_contains(&format!("{PREFIX}{path}"))
}

/// The statuses answered, by operation, over every exchange that was checked.
type Validated = BTreeMap<(String, String, String), BTreeSet<u16>>;

/// Checks every answered exchange against the spec; fails listing every violation.
fn check_responses(spec: &Spec, exchanges: &[Exchange]) -> Validated {
    let mut violations = Vec::new();
    let mut validated = Validated::new();

    for exchange in exchanges.iter().filter(|e| e.status != 0) {
        let (method, path, status) = (&exchange.method, &exchange.path, exchange.status);
        let found = spec.check_response(method, path, status, exchange.response_body.as_ref());
        violations.extend(
            found
                .iter()
                .map(|v| format!("{method} {path} -> {status}: {v}")),
        );

        if let Some(op) = spec.operation(method, path) {
            let key = (op.method, op.path, op.operation_id);
            validated.entry(key).or_default().insert(status);
        }
    }

    assert!(
        violations.is_empty(),
        "{} of the emulator's answers depart from {}:\n{}",
        violations.len(),
        spec.name(),
        violations.join("\n")
    );
    validated
}

fn assert_every_served_operation_succeeded(validated: &Validated, served: &[(&str, &str)]) {
    let succeeded: BTreeSet<(&str, &str)> = validated
        .iter()
        .filter(|(_, statuses)| statuses.iter().any(|s| (200..300).contains(s)))
        .map(|((method, path, _), _)| (method.as_str(), path.as_str()))
        .collect();
    let missing: Vec<String> = served
        .iter()
        .filter(|(method, path)| !succeeded.contains(&(*method, *path)))
        .map(|(method, path)| format!("{method} {path}"))
        .collect();

    assert!(
        missing.is_empty(),
        "served operations without a validated 2xx answer:\n{}",
        missing.join("\n")
    );
}

fn print_summary(validated: &Validated) {
    let pairs: usize = validated.values().map(BTreeSet::len).sum();
    eprintln!(
        "validated the emulator's answers: {} operations, {pairs} (operation, status) pairs",
        validated.len()
    );
    let mut lines: Vec<(&str, &BTreeSet<u16>)> = validated
        .iter()
        .map(|((_, _, operation), statuses)| (operation.as_str(), statuses))
        .collect();
    lines.sort();
    for (operation, statuses) in lines {
        let statuses: Vec<String> = statuses.iter().map(u16::to_string).collect();
        eprintln!("  {operation:<38} {}", statuses.join(", "));
    }
}

#[tokio::test]
async fn a_misnamed_response_field_is_reported() {
    let emulator = start_emulator().await;
    let ids = Ids::of(&emulator);
    Raw::new(&emulator)
        .get(200, &ids.deployment(&ids.enabled))
        .await;
    let spec = Spec::platform();
    let exchange = emulator.exchanges().pop().expect("the GET was recorded");
    let body = exchange.response_body.expect("a Deployment was answered");
    let check = |body: &Value| spec.check_response("GET", &exchange.path, 200, Some(body));
    assert_eq!(
        check(&body),
        [],
        "the control starts from a conforming answer"
    );

    let mut misnamed = body.clone();
    let object = misnamed.as_object_mut().expect("a Deployment is an object");
    let value = object
        .remove("isDagDeployEnabled")
        .expect("a Deployment says whether DAG deploys are on");
    object.insert("isDagDeploysEnabled".to_owned(), value);

    let violations = check(&misnamed);
    let text: Vec<String> = violations.iter().map(ToString::to_string).collect();
    assert!(
        text.iter().any(|v| v.contains("isDagDeploysEnabled")),
        "the invented field is not reported: {text:#?}"
    );
    assert!(
        text.iter().any(|v| v.contains("isDagDeployEnabled")),
        "the missing required field is not reported: {text:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Group 2: the client's requests.

fn client_of(emulator: &RunningEmulator) -> Client {
    let info = emulator.info();
    Client::new(ClientConfig {
        base_url: emulator.base_url().to_owned(),
        token: ApiToken::new(info.api_token.clone()).expect("the emulator's token is valid"),
        organization_id: Some(info.organization_id.clone()),
        retry: RetryPolicy::none(),
        timeout: Duration::from_secs(10),
    })
    .expect("the client builds")
}

#[tokio::test]
async fn every_client_request_conforms_to_the_platform_spec() {
    let emulator = start_emulator().await;
    let ids = Ids::of(&emulator);
    let client = client_of(&emulator);

    read_organization(&client, &ids).await;
    let created = create_and_update_deployment(&client, &ids).await;
    list_deployments(&client, &ids, &created).await;
    deploy_and_roll_back(&emulator, &client, &created).await;
    deploy_image_without_dags(&client, &ids).await;
    override_hibernation(&emulator, &client, &ids).await;
    client
        .delete_deployment(&created.id)
        .await
        .expect("the Deployment is deleted");

    let exchanges = emulator.exchanges();
    assert_all_succeeded(&exchanges);
    let hit = check_requests(&Spec::platform(), &exchanges);
    assert_client_operations(&hit, CLIENT_OPERATIONS);
    eprintln!(
        "validated {} client requests over {} operations",
        exchanges.len(),
        hit.len()
    );
}

async fn read_organization(client: &Client, ids: &Ids) {
    let organization = client.get_organization().await.expect("the organization");
    assert_eq!(organization.id, ids.org);

    let workspaces = client.list_workspaces().await.expect("the workspaces");
    assert!(workspaces.iter().any(|w| w.id == ids.workspace));
    let workspace = client
        .get_workspace(&ids.workspace)
        .await
        .expect("the workspace");
    assert_eq!(workspace.id, ids.workspace);

    let options = client.deployment_options().await.expect("the options");
    assert!(options
        .runtime_releases
        .iter()
        .any(|r| r.version == RUNTIME));
}

fn queue(name: &str, machine: AstroMachine, min: i64, max: i64, tasks: i64) -> WorkerQueueRequest {
    WorkerQueueRequest {
        id: None,
        name: name.to_owned(),
        is_default: name == "default",
        astro_machine: machine,
        min_worker_count: min,
        max_worker_count: max,
        worker_concurrency: tasks,
    }
}

fn variable(key: &str, is_secret: bool, value: Option<&str>) -> EnvironmentVariableRequest {
    EnvironmentVariableRequest {
        key: key.to_owned(),
        is_secret,
        value: value.map(str::to_owned),
    }
}

fn nightly_hibernation(hibernate: &str, wake: &str) -> ScalingSpecRequest {
    ScalingSpecRequest {
        hibernation_spec: Some(HibernationSpecRequest {
            schedules: Some(vec![HibernationSchedule {
                hibernate_at_cron: hibernate.to_owned(),
                wake_at_cron: wake.to_owned(),
                is_enabled: true,
                description: Some("Nights off".to_owned()),
            }]),
        }),
    }
}

fn hosted_request(ids: &Ids) -> HostedDeploymentRequest {
    HostedDeploymentRequest {
        name: "conformance-client".to_owned(),
        workspace_id: ids.workspace.clone(),
        description: Some("Nightly ELT for the data team".to_owned()),
        astro_runtime_version: Some(RUNTIME.to_owned()),
        cluster_id: None,
        cloud_provider: Some(CloudProvider::Aws),
        region: Some("us-east-1".to_owned()),
        executor: Executor::Celery,
        is_cicd_enforced: true,
        is_dag_deploy_enabled: true,
        is_high_availability: false,
        is_development_mode: Some(true),
        scheduler_size: SchedulerSize::Small,
        default_task_pod_cpu: "0.25".to_owned(),
        default_task_pod_memory: "0.5Gi".to_owned(),
        resource_quota_cpu: "10".to_owned(),
        resource_quota_memory: "20Gi".to_owned(),
        contact_emails: Some(vec!["data-team@example.com".to_owned()]),
        environment_variables: Some(vec![
            variable("AIRFLOW__CORE__DEFAULT_TIMEZONE", false, Some("UTC")),
            variable("WAREHOUSE_PASSWORD", true, Some("hunter2")),
        ]),
        worker_queues: Some(vec![
            queue("default", AstroMachine::A5, 0, 10, 5),
            queue("heavy", AstroMachine::A10, 1, 4, 10),
        ]),
        workload_identity: None,
        scaling_spec: Some(nightly_hibernation("0 20 * * 1-5", "0 7 * * 1-5")),
    }
}

/// The update of everything the create set: runtime, cloud and region left out as the API
/// requires, queues kept by id and one added without (as `deployment apply` adds one), the
/// secret kept without its value.
fn full_update(ids: &Ids, created: &Deployment) -> HostedDeploymentRequest {
    let mut queues: Vec<WorkerQueueRequest> = created
        .worker_queues
        .iter()
        .map(|existing| {
            let machine = existing.astro_machine.as_deref().unwrap_or("A5");
            WorkerQueueRequest {
                id: Some(existing.id.clone()),
                max_worker_count: 8,
                ..queue(
                    &existing.name,
                    AstroMachine::from(machine),
                    existing.min_worker_count,
                    existing.max_worker_count,
                    existing.worker_concurrency,
                )
            }
        })
        .collect();
    queues.push(queue("reports", AstroMachine::A20, 0, 2, 4));

    HostedDeploymentRequest {
        description: Some("Nightly ELT, now with more workers".to_owned()),
        astro_runtime_version: None,
        cloud_provider: None,
        region: None,
        scheduler_size: SchedulerSize::Medium,
        default_task_pod_cpu: "0.5".to_owned(),
        default_task_pod_memory: "1Gi".to_owned(),
        resource_quota_cpu: "20".to_owned(),
        resource_quota_memory: "40Gi".to_owned(),
        contact_emails: Some(vec![
            "data-team@example.com".to_owned(),
            "oncall@example.com".to_owned(),
        ]),
        environment_variables: Some(vec![
            variable(
                "AIRFLOW__CORE__DEFAULT_TIMEZONE",
                false,
                Some("Europe/Paris"),
            ),
            variable("WAREHOUSE_PASSWORD", true, None),
            variable("DBT_TARGET", false, Some("prod")),
        ]),
        worker_queues: Some(queues),
        scaling_spec: Some(nightly_hibernation("0 22 * * *", "0 6 * * *")),
        ..hosted_request(ids)
    }
}

async fn create_and_update_deployment(client: &Client, ids: &Ids) -> Deployment {
    let request = CreateDeploymentRequest::Standard(hosted_request(ids));
    let created = client
        .create_deployment(&request)
        .await
        .expect("the Deployment is created");
    assert_eq!(created.worker_queues.len(), 2);

    let request = UpdateDeploymentRequest::Standard(full_update(ids, &created));
    let updated = client
        .update_deployment(&created.id, &request)
        .await
        .expect("the Deployment is updated");
    assert_eq!(updated.environment_variables.len(), 3);
    assert_eq!(updated.worker_queues.len(), 3);

    let fetched = client
        .get_deployment(&created.id)
        .await
        .expect("the Deployment is fetched");
    assert_eq!(fetched.description, updated.description);
    fetched
}

async fn list_deployments(client: &Client, ids: &Ids, created: &Deployment) {
    let filters = [
        DeploymentFilter::default(),
        DeploymentFilter {
            workspace_ids: vec![ids.workspace.clone()],
            ..DeploymentFilter::default()
        },
        DeploymentFilter {
            deployment_ids: vec![created.id.clone(), ids.enabled.clone()],
            ..DeploymentFilter::default()
        },
        DeploymentFilter {
            names: vec![created.name.clone()],
            ..DeploymentFilter::default()
        },
    ];
    for filter in &filters {
        let found = client.list_deployments(filter).await.expect("a list");
        assert!(
            found.iter().any(|d| d.id == created.id),
            "{filter:?} misses the created Deployment"
        );
    }
}

/// Creates a DAG_ONLY deploy, uploads a bundle to it and finalizes it; answers its id.
async fn deploy_bundle(emulator: &RunningEmulator, client: &Client, deployment: &str) -> String {
    let request = CreateDeployRequest {
        deploy_type: DeployType::DagOnly,
        description: Some("DAGs from CI".to_owned()),
    };
    let deploy = client
        .create_deploy(deployment, &request)
        .await
        .expect("the deploy is created");
    let url = deploy
        .dags_upload_url
        .expect("a DAG deploy has an upload URL");

    let mut file = tempfile::NamedTempFile::new().expect("a temporary file");
    file.write_all(&bundle()).expect("the bundle is written");
    let uploader = BlobUploader::new(UploadOptions::default()).expect("the uploader builds");
    let receipt = uploader
        .upload_file(&url, file.path(), &|_| {})
        .await
        .expect("the bundle is uploaded");
    assert_eq!(emulator.blob(&deploy.id), Some(bundle()));

    let request = FinalizeDeployRequest {
        dag_tarball_version: receipt.version_id,
    };
    client
        .finalize_deploy(deployment, &deploy.id, &request)
        .await
        .expect("the deploy is finalized");
    deploy.id
}

async fn deploy_and_roll_back(emulator: &RunningEmulator, client: &Client, created: &Deployment) {
    let deployment = &created.id;
    let first = deploy_bundle(emulator, client, deployment).await;
    let request = UpdateDeployRequest {
        description: Some("DAGs from CI, run 42".to_owned()),
    };
    client
        .update_deploy(deployment, &first, &request)
        .await
        .expect("the deploy is described");
    deploy_bundle(emulator, client, deployment).await;

    let deploys = client.list_deploys(deployment).await.expect("the deploys");
    assert_eq!(deploys.len(), 2);
    let fetched = client
        .get_deploy(deployment, &first)
        .await
        .expect("the deploy");
    assert_eq!(fetched.description, request.description);

    let request = RollbackDeployRequest {
        description: Some("Back to the first bundle".to_owned()),
    };
    let rollback = client
        .rollback_deploy(deployment, &first, &request)
        .await
        .expect("the rollback is accepted");
    assert_eq!(rollback.rollback_from_id.as_deref(), Some(first.as_str()));
}

/// An image deploy to the Deployment without DAG deploys: finalized without a bundle version.
async fn deploy_image_without_dags(client: &Client, ids: &Ids) {
    let request = CreateDeployRequest {
        deploy_type: DeployType::ImageAndDag,
        description: None,
    };
    let deploy = client
        .create_deploy(&ids.disabled, &request)
        .await
        .expect("the image deploy is created");
    client
        .finalize_deploy(&ids.disabled, &deploy.id, &FinalizeDeployRequest::default())
        .await
        .expect("the image deploy is finalized");
}

async fn override_hibernation(emulator: &RunningEmulator, client: &Client, ids: &Ids) {
    emulator
        .hibernate(&ids.enabled)
        .expect("the development Deployment hibernates");
    let request = HibernationOverrideRequest {
        is_hibernating: false,
        override_until: Some(in_an_hour()),
    };
    let rule = client
        .override_hibernation(&ids.enabled, &request)
        .await
        .expect("the override is set");
    assert_eq!(rule.is_hibernating, Some(false));

    client
        .remove_hibernation_override(&ids.enabled)
        .await
        .expect("the override is removed");
}

/// The client hit exactly these operations ([`CLIENT_OPERATIONS`], [`IAM_CLIENT_OPERATIONS`]).
fn assert_client_operations(hit: &BTreeSet<String>, operations: &[&str]) {
    let expected: BTreeSet<&str> = operations.iter().copied().collect();
    let missing: Vec<&str> = expected
        .iter()
        .copied()
        .filter(|op| !hit.contains(*op))
        .collect();
    let unexpected: Vec<&str> = hit
        .iter()
        .map(String::as_str)
        .filter(|op| !expected.contains(op))
        .collect();

    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "the client's calls hit other operations than expected: never hit {missing:?}, hit but \
         not expected {unexpected:?}"
    );
}

fn assert_all_succeeded(exchanges: &[Exchange]) {
    let failed: Vec<String> = exchanges
        .iter()
        .filter(|e| !(200..300).contains(&e.status))
        .map(|e| format!("{} {} -> {}", e.method, e.path, e.status))
        .collect();
    assert!(
        failed.is_empty(),
        "client calls failed:\n{}",
        failed.join("\n")
    );
}

/// Checks every request against the spec, failing with every violation; answers the
/// operations hit.
fn check_requests(spec: &Spec, exchanges: &[Exchange]) -> BTreeSet<String> {
    let mut violations = Vec::new();
    let mut hit = BTreeSet::new();

    for exchange in exchanges {
        let (method, path) = (&exchange.method, &exchange.path);
        let body = exchange.request_body.as_ref();
        let found = spec.check_request(method, path, &exchange.query, body);
        let query = describe_query(&exchange.query);
        violations.extend(
            found
                .iter()
                .map(|v| format!("{method} {path}{query} ({}): {v}", exchange.status)),
        );
        if let Some(op) = spec.operation(method, path) {
            hit.insert(op.operation_id);
        }
    }

    assert!(
        violations.is_empty(),
        "{} of the client's requests depart from {}:\n{}",
        violations.len(),
        spec.name(),
        violations.join("\n")
    );
    hit
}

fn describe_query(query: &[(String, String)]) -> String {
    if query.is_empty() {
        return String::new();
    }
    let pairs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("?{}", pairs.join("&"))
}

#[tokio::test]
async fn an_unknown_request_field_is_reported() {
    let emulator = start_emulator().await;
    let ids = Ids::of(&emulator);
    let request = CreateDeployRequest {
        deploy_type: DeployType::DagOnly,
        description: Some("DAGs from CI".to_owned()),
    };
    client_of(&emulator)
        .create_deploy(&ids.enabled, &request)
        .await
        .expect("the deploy is created");

    let spec = Spec::platform();
    let exchange = emulator.exchanges().pop().expect("the POST was recorded");
    let body = exchange.request_body.expect("a create deploy has a body");
    let check = |body: &Value| spec.check_request("POST", &exchange.path, &[], Some(body));
    assert_eq!(
        check(&body),
        [],
        "the control starts from a conforming request"
    );

    let mut padded = body.clone();
    padded["dagsUploadUrl"] = json!("https://example.invalid/dags.tar.gz");
    let violations = check(&padded);
    assert!(
        violations
            .iter()
            .any(|v| v.to_string().contains("dagsUploadUrl")),
        "the unknown field is not reported: {violations:#?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Group 3: the IAM API's tokens, both sides.

/// Raw HTTP to an IAM path (below `/iam/v1beta1`), as `token`; checks the status the scenario
/// expects and answers the JSON body (`null` when there is none).
/// Raw HTTP to the IAM routes.
struct IamRaw {
    base: String,
}

impl IamRaw {
    async fn call(
        &self,
        token: Option<&str>,
        status: u16,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = reqwest::Client::new()
            .request(method.clone(), format!("{}{IAM_PREFIX}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = &body {
            request = request.json(body);
        }

        let response = request.send().await.expect("the emulator answers");
        let got = response.status().as_u16();
        let text = response.text().await.expect("the answer is readable");
        assert_eq!(
            got, status,
            "{method} {path} answered {got}, not {status}: {text}"
        );
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn every_emulator_response_conforms_to_the_iam_spec() {
    let emulator = start_emulator().await;
    let ids = Ids::of(&emulator);
    let base = emulator.base_url().to_owned();
    let owner = emulator.info().api_token.clone();
    let user = emulator.info().user_token.clone();
    let scoped = deployment_scoped_token(&emulator, &ids);
    let tokens = format!("{}/tokens", ids.org_path());
    let unknown_org = "/organizations/cunknownorg/tokens";
    let raw = IamRaw { base };

    let workspace = raw
        .call(
            Some(&owner),
            200,
            Method::POST,
            &tokens,
            Some(json!({
                "name": "ci", "description": "CI deploys", "type": "WORKSPACE",
                "role": "WORKSPACE_OWNER", "entityId": ids.workspace, "tokenExpiryPeriodInDays": 30,
            })),
        )
        .await;
    raw.call(
        Some(&owner),
        200,
        Method::POST,
        &tokens,
        Some(json!({ "name": "forever", "type": "ORGANIZATION", "role": "ORGANIZATION_MEMBER" })),
    )
    .await;
    raw.call(
        Some(&owner),
        200,
        Method::POST,
        &tokens,
        Some(json!({
            "name": "deployer", "type": "DEPLOYMENT", "role": "DEPLOYMENT_ADMIN",
            "entityId": ids.enabled, "tokenExpiryPeriodInDays": 7,
        })),
    )
    .await;
    let bad = json!({ "name": "x", "type": "TEAM", "role": "WORKSPACE_OWNER" });
    raw.call(Some(&owner), 400, Method::POST, &tokens, Some(bad))
        .await;
    let missing = json!({ "name": "x", "type": "DEPLOYMENT", "role": "DEPLOYMENT_ADMIN",
                          "entityId": "cunknowndeployment" });
    raw.call(Some(&owner), 404, Method::POST, &tokens, Some(missing))
        .await;
    let member = json!({ "name": "x", "type": "ORGANIZATION", "role": "ORGANIZATION_MEMBER" });
    raw.call(
        Some(&scoped),
        403,
        Method::POST,
        &tokens,
        Some(member.clone()),
    )
    .await;
    raw.call(None, 401, Method::POST, &tokens, Some(member))
        .await;

    raw.call(Some(&owner), 200, Method::GET, &tokens, None)
        .await;
    let filtered = format!(
        "{tokens}?workspaceId={}&sorts=name:desc&limit=5",
        ids.workspace
    );
    raw.call(Some(&owner), 200, Method::GET, &filtered, None)
        .await;
    let only_org = format!("{tokens}?includeOnlyOrganizationTokens=true&sorts=tokenStartAt:asc");
    raw.call(Some(&user), 200, Method::GET, &only_org, None)
        .await;
    let deployment = format!("{tokens}?deploymentId={}&offset=1", ids.enabled);
    raw.call(Some(&owner), 200, Method::GET, &deployment, None)
        .await;
    raw.call(
        Some(&owner),
        400,
        Method::GET,
        &format!("{tokens}?sorts=size:up"),
        None,
    )
    .await;
    raw.call(Some(&owner), 404, Method::GET, unknown_org, None)
        .await;
    raw.call(Some(&scoped), 403, Method::GET, &tokens, None)
        .await;
    raw.call(Some("not-a-jwt"), 401, Method::GET, &tokens, None)
        .await;

    let id = id_of(&workspace);
    let token = format!("{tokens}/{id}");
    let unknown = format!("{tokens}/cunknowntoken");
    raw.call(Some(&owner), 200, Method::GET, &token, None).await;
    raw.call(Some(&owner), 404, Method::GET, &unknown, None)
        .await;
    raw.call(Some(&scoped), 403, Method::GET, &token, None)
        .await;

    let rename = || Some(json!({ "name": "ci-renamed", "description": "CI deploys, renamed" }));
    raw.call(Some(&owner), 200, Method::POST, &token, rename())
        .await;
    raw.call(
        Some(&owner),
        400,
        Method::POST,
        &token,
        Some(json!({ "name": "" })),
    )
    .await;
    raw.call(Some(&owner), 404, Method::POST, &unknown, rename())
        .await;

    let rotate = format!("{token}/rotate");
    let rotated = raw
        .call(Some(&owner), 200, Method::POST, &rotate, None)
        .await;
    let old = workspace["token"]
        .as_str()
        .expect("a create answers the value");
    raw.call(Some(old), 401, Method::POST, &rotate, None).await;
    raw.call(
        Some(&owner),
        404,
        Method::POST,
        &format!("{unknown}/rotate"),
        None,
    )
    .await;
    let new = rotated["token"]
        .as_str()
        .expect("a rotate answers the value");
    raw.call(Some(new), 200, Method::GET, &token, None).await;

    raw.call(Some(&scoped), 403, Method::DELETE, &token, None)
        .await;
    raw.call(Some(&owner), 204, Method::DELETE, &token, None)
        .await;
    raw.call(Some(&owner), 404, Method::DELETE, &token, None)
        .await;
    raw.call(Some(new), 401, Method::GET, &tokens, None).await;

    drive_iam_faults(&emulator, &raw, &owner, &ids).await;

    let validated = check_responses(&Spec::iam(), &emulator.iam_exchanges());
    assert_every_served_operation_succeeded(&validated, emulator::served_iam_operations());
    print_summary(&validated);
}

/// A 500 on each served IAM operation, as every one lists it.
async fn drive_iam_faults(emulator: &RunningEmulator, raw: &IamRaw, token: &str, ids: &Ids) {
    let seeded = emulator.iam_exchanges();
    let seeded = seeded.iter().find_map(|e| {
        e.response_body.as_ref()?["tokens"][0]["id"]
            .as_str()
            .map(str::to_owned)
    });
    let seeded = seeded.expect("a token list answered the seeded token");

    for (method, template) in emulator::served_iam_operations() {
        let path = template
            .replace("{organizationId}", &ids.org)
            .replace("{tokenId}", &seeded);
        let method = Method::from_bytes(method.as_bytes()).expect("a served method is valid");
        let fault = Fault::status(500)
            .method(method.as_str())
            .path_contains(&format!("{IAM_PREFIX}{path}"));
        emulator.add_fault(fault);
        let body = (method == Method::POST).then(|| json!({}));
        raw.call(Some(token), 500, method, &path, body).await;
    }
}

#[tokio::test]
async fn every_client_request_conforms_to_the_iam_spec() {
    use astro_api::iam::{CreateTokenRequest, TokenFilter, TokenType, UpdateTokenRequest};

    let emulator = start_emulator().await;
    let ids = Ids::of(&emulator);
    let client = client_of(&emulator);
    let create =
        |name: &str, token_type, role: &str, entity: Option<&str>, days| CreateTokenRequest {
            name: name.to_owned(),
            description: Some("made by the conformance test".to_owned()),
            token_type,
            role: role.to_owned(),
            entity_id: entity.map(str::to_owned),
            token_expiry_period_in_days: days,
        };

    let workspace = create(
        "ci",
        TokenType::Workspace,
        "WORKSPACE_OPERATOR",
        Some(&ids.workspace),
        Some(30),
    );
    let workspace = client
        .create_token(&workspace)
        .await
        .expect("a Workspace token");
    assert!(workspace.token.is_some() && workspace.end_at.is_some());
    let organization = create(
        "forever",
        TokenType::Organization,
        "ORGANIZATION_MEMBER",
        None,
        None,
    );
    let organization = client
        .create_token(&organization)
        .await
        .expect("an Organization token");
    assert_eq!(organization.end_at, None);
    let deployment = create(
        "deployer",
        TokenType::Deployment,
        "DEPLOYMENT_ADMIN",
        Some(&ids.enabled),
        Some(7),
    );
    client
        .create_token(&deployment)
        .await
        .expect("a Deployment token");

    let filters = [
        TokenFilter::default(),
        TokenFilter {
            workspace_id: Some(ids.workspace.clone()),
            ..TokenFilter::default()
        },
        TokenFilter {
            deployment_id: Some(ids.enabled.clone()),
            ..TokenFilter::default()
        },
        TokenFilter {
            only_organization_tokens: true,
            ..TokenFilter::default()
        },
    ];
    for filter in &filters {
        let found = client.list_tokens(filter).await.expect("a list");
        assert!(!found.is_empty(), "{filter:?} finds nothing");
    }

    let fetched = client.get_token(&workspace.id).await.expect("the token");
    assert_eq!(fetched.roles, workspace.roles);
    let update = UpdateTokenRequest {
        name: "ci-renamed".to_owned(),
        description: None,
    };
    let updated = client
        .update_token(&workspace.id, &update)
        .await
        .expect("the rename");
    assert_eq!(updated.name, "ci-renamed");
    let rotated = client
        .rotate_token(&workspace.id)
        .await
        .expect("the rotation");
    assert!(rotated.token.is_some());
    client
        .delete_token(&organization.id)
        .await
        .expect("the deletion");

    let exchanges = emulator.iam_exchanges();
    assert_all_succeeded(&exchanges);
    let hit = check_requests(&Spec::iam(), &exchanges);
    assert_client_operations(&hit, IAM_CLIENT_OPERATIONS);
    eprintln!(
        "validated {} IAM client requests over {} operations",
        exchanges.len(),
        hit.len()
    );
}

#[tokio::test]
async fn a_misnamed_iam_field_is_reported() {
    let emulator = start_emulator().await;
    let ids = Ids::of(&emulator);
    let owner = emulator.info().api_token.clone();
    let tokens = format!("{}/tokens", ids.org_path());
    let raw = IamRaw {
        base: emulator.base_url().to_owned(),
    };
    raw.call(Some(&owner), 200, Method::GET, &tokens, None)
        .await;

    let spec = Spec::iam();
    let exchange = emulator
        .iam_exchanges()
        .pop()
        .expect("the GET was recorded");
    let body = exchange.response_body.expect("a page was answered");
    let check = |body: &Value| spec.check_response("GET", &exchange.path, 200, Some(body));
    assert_eq!(
        check(&body),
        [],
        "the control starts from a conforming answer"
    );

    let mut misnamed = body.clone();
    let token = misnamed["tokens"][0]
        .as_object_mut()
        .expect("a token is an object");
    let value = token.remove("endAt").expect("the seeded token expires");
    token.insert("expiresAt".to_owned(), value);
    let violations: Vec<String> = check(&misnamed).iter().map(ToString::to_string).collect();
    assert!(
        violations.iter().any(|v| v.contains("expiresAt")),
        "the invented field is not reported: {violations:#?}"
    );
}
