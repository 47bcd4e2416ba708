//! Deploys: Astro's rules on creating them, the finalize checks, rollouts and rollbacks.

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{error_message, start, start_observable};

#[tokio::test]
async fn dag_and_image_only_deploys_need_dag_deploys() {
    let harness = start().await;
    let url = harness.deployment_url(&harness.disabled(), "/deploys");

    for kind in ["DAG_ONLY", "IMAGE_ONLY"] {
        let (status, body) = harness.post(&url, json!({ "type": kind })).await;
        let message = error_message(status, &body, StatusCode::BAD_REQUEST);
        assert!(message.contains("DAG deploys disabled"), "{message}");
        assert!(message.contains(kind), "{message}");
    }

    let deploy = harness
        .create_deploy(&harness.disabled(), "IMAGE_AND_DAG")
        .await;
    assert_eq!(deploy["isDagDeployEnabled"], false);
    assert!(deploy.get("dagsUploadUrl").is_none(), "{deploy}");
}

#[tokio::test]
async fn cicd_enforcement_refuses_user_session_tokens() {
    let harness = start().await;
    let user = harness.user_token();

    let enforced = harness.deployment_url(&harness.enabled(), "/deploys");
    let (status, body) = harness
        .post_as(&enforced, json!({ "type": "DAG_ONLY" }), &user)
        .await;
    let message = error_message(status, &body, StatusCode::FORBIDDEN);
    assert!(message.contains("enforces CI/CD"), "{message}");
    assert!(message.contains("API token"), "{message}");

    let free = harness.deployment_url(&harness.disabled(), "/deploys");
    let (status, body) = harness
        .post_as(&free, json!({ "type": "IMAGE_AND_DAG" }), &user)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["createdBySubject"]["subjectType"], "USER");
}

#[tokio::test]
async fn a_dag_deploy_rolls_out_its_bundle() {
    let harness = start_observable().await;
    let enabled = harness.enabled();

    let deploy = harness.create_deploy(&enabled, "DAG_ONLY").await;
    assert_eq!(deploy["status"], "INITIALIZED");
    assert!(deploy["imageTag"]
        .as_str()
        .is_some_and(|tag| tag.starts_with("deploy-")));
    assert!(deploy["imageRepository"]
        .as_str()
        .is_some_and(|r| r.starts_with("images.emulator.local/")));
    let upload = deploy["dagsUploadUrl"].as_str().expect("an upload URL");
    assert!(upload.starts_with(&format!("{}/blobs/{enabled}/", harness.emulator.base_url())));

    let version = harness.upload(&deploy, b"a bundle").await;
    assert_eq!(
        version.len(),
        "2026-12-03T18:33:00.1234567Z".len(),
        "{version}"
    );
    assert_eq!(&version[19..20], ".");
    assert!(version.ends_with('Z'));
    let deploy_id = deploy["id"].as_str().expect("an id");
    assert_eq!(harness.emulator.blob(deploy_id), Some(b"a bundle".to_vec()));

    let (status, finalized) = harness.finalize(&deploy, &version).await;
    assert_eq!(status, StatusCode::OK, "{finalized}");
    assert_eq!(finalized["status"], "DEPLOYED");
    assert_eq!(finalized["dagTarballVersion"], version.as_str());

    let rolling = harness.deployment(&enabled).await;
    assert_eq!(rolling["status"], "DEPLOYING");
    assert_eq!(rolling["desiredDagTarballVersion"], version.as_str());
    assert!(rolling.get("dagTarballVersion").is_none(), "{rolling}");

    let healthy = harness.wait_for_status(&enabled, "HEALTHY").await;
    assert_eq!(healthy["dagTarballVersion"], version.as_str());

    let (status, body) = harness.finalize(&deploy, &version).await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("already finalized"), "{message}");
}

#[tokio::test]
async fn finalize_wants_a_version_that_was_uploaded() {
    let harness = start().await;
    let deploy = harness
        .create_deploy(&harness.enabled(), "IMAGE_AND_DAG")
        .await;

    let (status, body) = harness
        .finalize(&deploy, "2026-01-01T00:00:00.0000000Z")
        .await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("nothing was uploaded"), "{message}");

    let version = harness.upload(&deploy, b"bundle").await;
    let (status, body) = harness
        .finalize(&deploy, "2026-01-01T00:00:00.0000000Z")
        .await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("is not a version uploaded"), "{message}");
    assert!(message.contains(&version), "{message}");

    let (status, body) = harness.finalize(&deploy, "").await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(
        message.contains("`dagTarballVersion` is required"),
        "{message}"
    );

    let (status, body) = harness.finalize(&deploy, &version).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn image_deploys_finalize_without_a_bundle() {
    let harness = start().await;

    let image = harness
        .create_deploy(&harness.enabled(), "IMAGE_ONLY")
        .await;
    let (status, body) = harness.finalize(&image, "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let deployment = harness.deployment(&harness.enabled()).await;
    assert_eq!(deployment["imageTag"], image["imageTag"]);

    let without_dags = harness
        .create_deploy(&harness.disabled(), "IMAGE_AND_DAG")
        .await;
    let url = harness.deploy_url(&without_dags, "/finalize");
    let (status, body) = harness.post(&url, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn a_rollback_brings_back_an_earlier_bundle() {
    let harness = start().await;
    let enabled = harness.enabled();
    let first = harness.create_deploy(&enabled, "DAG_ONLY").await;
    let first_version = harness.upload(&first, b"first").await;
    harness.finalize(&first, &first_version).await;
    let second = harness.create_deploy(&enabled, "DAG_ONLY").await;
    let second_version = harness.upload(&second, b"second").await;
    harness.finalize(&second, &second_version).await;

    let (status, body) = harness
        .post(&harness.deploy_url(&second, "/rollback"), json!({}))
        .await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("in effect already"), "{message}");

    let (status, rollback) = harness
        .post(&harness.deploy_url(&first, "/rollback"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK, "{rollback}");
    assert_eq!(rollback["rollbackFromId"], first["id"]);
    assert_eq!(rollback["status"], "DEPLOYED");
    assert_ne!(rollback["id"], first["id"]);

    let deployment = harness.wait_for_status(&enabled, "HEALTHY").await;
    assert_eq!(deployment["dagTarballVersion"], first_version.as_str());

    let (status, page) = harness
        .get(&harness.deployment_url(&enabled, "/deploys?limit=2"))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["totalCount"], 3);
    assert_eq!(page["deploys"][0]["id"], rollback["id"], "newest first");
    assert_eq!(page["deploys"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn deploys_can_be_read_and_described() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    let url = harness.deploy_url(&deploy, "");

    let (status, body) = harness
        .post(&url, json!({ "description": "from CI run 42" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, read) = harness.get(&url).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["description"], "from CI run 42");

    let missing = harness.deployment_url(&harness.enabled(), "/deploys/cnosuchdeploy000000000000");
    let (status, body) = harness.get(&missing).await;
    error_message(status, &body, StatusCode::NOT_FOUND);

    let (status, body) = harness
        .post(&format!("{missing}/finalize"), json!({}))
        .await;
    let message = error_message(status, &body, StatusCode::FORBIDDEN);
    assert!(
        message.contains("not found"),
        "finalize lists no 404: {message}"
    );
}

#[tokio::test]
async fn deploy_bodies_are_checked() {
    let harness = start().await;
    let url = harness.deployment_url(&harness.enabled(), "/deploys");

    let (status, body) = harness
        .post(&url, json!({ "description": "no type" }))
        .await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert_eq!(message, "missing required field `type`");

    let (status, body) = harness.post(&url, json!({ "type": "BUNDLE" })).await;
    let message = error_message(status, &body, StatusCode::BAD_REQUEST);
    assert!(message.contains("unknown variant `BUNDLE`"), "{message}");
}
