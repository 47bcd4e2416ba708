//! The state file: what one run leaves, the next one finds.

use emulator::EmulatorConfig;
use reqwest::{Method, StatusCode};

use crate::support::{answer, start_with, ROLLOUT};

#[tokio::test]
async fn state_and_bundles_survive_a_restart() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let file = folder.path().join("emulator.json");
    let config = EmulatorConfig {
        state_file: Some(file.clone()),
        rollout_delay: ROLLOUT,
        registry_host: Some("127.0.0.1:5000".to_owned()),
        ..EmulatorConfig::default()
    };

    let first = start_with(config.clone()).await;
    let deploy = first.create_deploy(&first.enabled(), "DAG_ONLY").await;
    let version = first.upload(&deploy, b"kept bundle").await;
    let (status, _) = first.finalize(&deploy, &version).await;
    assert_eq!(status, StatusCode::OK);
    assert!(deploy["imageRepository"]
        .as_str()
        .is_some_and(|r| r.starts_with("127.0.0.1:5000/")));
    let old_token = first.api_token();
    let old_info = first.emulator.info().clone();
    first.emulator.shutdown().await;

    assert!(file.is_file());
    let json = std::fs::read_to_string(&file).expect("a readable state file");
    assert!(
        !json.contains("kept bundle"),
        "bundle bytes stay out of the state file"
    );
    assert!(folder.path().join("emulator.json.blobs").is_dir());

    let second = start_with(config).await;
    assert_eq!(second.org(), old_info.organization_id);
    assert_eq!(second.enabled(), old_info.deployments.dags_enabled);

    let deploy_id = deploy["id"].as_str().expect("an id");
    assert_eq!(
        second.emulator.blob(deploy_id),
        Some(b"kept bundle".to_vec())
    );
    let url = second.deploy_url(&deploy, "");
    let (status, read) = answer(second.call(Method::GET, &url, &old_token).send().await).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the first run's token still verifies: {read}"
    );
    assert_eq!(read["status"], "DEPLOYED");
    assert_eq!(read["dagTarballVersion"], version.as_str());
    let upload = read["dagsUploadUrl"].as_str().expect("an upload URL");
    assert!(upload.starts_with(second.emulator.base_url()), "{upload}");

    let deployment = second.wait_for_status(&second.enabled(), "HEALTHY").await;
    assert_eq!(deployment["dagTarballVersion"], version.as_str());
}

#[tokio::test]
async fn an_unreadable_state_file_is_an_error_not_a_reset() {
    let folder = tempfile::tempdir().expect("a temporary folder");
    let file = folder.path().join("broken.json");
    std::fs::write(&file, "{ not json").expect("writing a broken file");
    let config = EmulatorConfig {
        state_file: Some(file.clone()),
        ..EmulatorConfig::default()
    };

    let error = emulator::start(config)
        .await
        .expect_err("a broken state file is refused");

    assert!(
        error.to_string().starts_with("parsing state file"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("still there"),
        "{ not json"
    );
}
