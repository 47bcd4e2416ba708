//! The client's retries and the blob uploader against the emulator, with the emulator's fault
//! injection standing in for an unreliable network: what the server saw is the proof.

use std::time::{Duration, Instant};

use astro_api::blob::{BlobError, BlobUploader, UploadOptions};
use astro_api::models::{CreateDeployRequest, DeployType};
use astro_api::{ApiToken, Client, ClientConfig, Error, RetryPolicy};
use emulator::{EmulatorConfig, Fault, RunningEmulator};

async fn emulator() -> RunningEmulator {
    emulator::start(EmulatorConfig::default())
        .await
        .expect("the emulator starts")
}

/// A policy with short waits, so that running out of attempts takes well under a second.
fn quick(max_attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts,
        max_elapsed: Duration::from_secs(60),
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(50),
    }
}

fn client(emulator: &RunningEmulator, retry: RetryPolicy) -> Client {
    let token = ApiToken::new(emulator.info().api_token.clone()).expect("a valid token");
    let config = ClientConfig {
        base_url: emulator.base_url().to_owned(),
        retry,
        ..ClientConfig::new(token)
    };
    Client::new(config).expect("a client")
}

/// A fresh deploy's id and upload URL on the seeded Deployment with DAG deploys.
async fn upload_url(emulator: &RunningEmulator) -> (String, String) {
    let deployment = emulator.info().deployments.dags_enabled.clone();
    let request = CreateDeployRequest {
        deploy_type: DeployType::DagOnly,
        description: None,
    };
    let deploy = client(emulator, quick(1))
        .create_deploy(&deployment, &request)
        .await
        .expect("a deploy");
    let url = deploy.dags_upload_url.expect("an upload URL");
    (deploy.id, url)
}

fn file_of(bytes: usize) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    let content: Vec<u8> = (0..bytes).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(file.path(), content).unwrap();
    file
}

#[tokio::test]
async fn a_read_that_never_gets_through_stops_after_the_configured_attempts() {
    let emulator = emulator().await;
    let deployment = emulator.info().deployments.dags_enabled.clone();
    emulator.add_fault(
        Fault::drop_connection()
            .method("GET")
            .path_contains("/deployments/")
            .times(100),
    );

    let error = client(&emulator, quick(3))
        .get_deployment(&deployment)
        .await
        .expect_err("every attempt is cut");

    assert!(
        matches!(error, Error::Transport { attempts: 3, .. }),
        "{error:?}"
    );
    assert!(error.to_string().ends_with("(3 attempts)"), "{error}");
    let seen = emulator
        .exchanges()
        .iter()
        .filter(|e| e.method == "GET" && e.path.ends_with(&deployment))
        .count();
    assert_eq!(seen, 3, "the emulator saw each attempt once");
}

#[tokio::test]
async fn an_upload_that_never_gets_through_stops_after_the_configured_attempts() {
    let emulator = emulator().await;
    let (_, url) = upload_url(&emulator).await;
    emulator.add_fault(
        Fault::drop_connection()
            .method("PUT")
            .path_contains("/blobs/")
            .times(100),
    );
    let options = UploadOptions {
        retry: quick(4),
        ..UploadOptions::default()
    };
    let file = file_of(1000);

    let error = BlobUploader::new(options)
        .unwrap()
        .upload_file(&url, file.path(), &|_| {})
        .await
        .expect_err("every attempt is cut");

    assert!(
        matches!(error, BlobError::Transport { attempts: 4, .. }),
        "{error:?}"
    );
    assert!(error.to_string().ends_with("(4 attempts)"), "{error}");
    assert_eq!(emulator.blob_requests().len(), 4);
}

#[tokio::test]
async fn a_throttled_upload_waits_as_long_as_the_store_asks() {
    let emulator = emulator().await;
    let (deploy_id, url) = upload_url(&emulator).await;
    emulator.add_fault(
        Fault::status(503)
            .retry_after(1)
            .method("PUT")
            .path_contains("/blobs/"),
    );
    // Its own backoff would wait at most 50ms: only the store's Retry-After makes it a second.
    let options = UploadOptions {
        retry: RetryPolicy {
            max_delay: Duration::from_secs(5),
            ..quick(3)
        },
        ..UploadOptions::default()
    };
    let file = file_of(1000);
    let started = Instant::now();

    let receipt = BlobUploader::new(options)
        .unwrap()
        .upload_file(&url, file.path(), &|_| {})
        .await
        .expect("the second attempt goes through");

    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(1), "{waited:?}");
    assert!(receipt.version_id.is_some());
    let statuses: Vec<u16> = emulator.blob_requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [503, 201]);
    assert_eq!(emulator.blob(&deploy_id).map(|b| b.len()), Some(1000));
}

#[tokio::test]
async fn blocks_go_up_in_parallel_but_never_more_at_once_than_configured() {
    let emulator = emulator().await;
    let (deploy_id, url) = upload_url(&emulator).await;
    let block_size: u64 = 16 * 1024;
    let blocks: u32 = 9;
    // Each block is answered late, so that the uploader's parallelism shows at the server.
    emulator.add_fault(
        Fault::latency(Duration::from_millis(500))
            .method("PUT")
            .path_contains("/blobs/")
            .times(blocks),
    );
    let options = UploadOptions {
        single_put_limit: block_size,
        block_size,
        concurrency: 3,
        ..UploadOptions::default()
    };
    let file = file_of(blocks as usize * block_size as usize);

    let receipt = BlobUploader::new(options)
        .unwrap()
        .upload_file(&url, file.path(), &|_| {})
        .await
        .expect("the upload goes through");

    let requests = emulator.blob_requests();
    let comps: Vec<Option<&str>> = requests.iter().map(|r| r.comp.as_deref()).collect();
    let mut expected = vec![Some("block"); blocks as usize];
    expected.push(Some("blocklist"));
    assert_eq!(comps, expected);
    let peak = requests.iter().map(|r| r.in_flight).max();
    assert_eq!(peak, Some(3), "{requests:?}");
    assert_eq!(receipt.blocks, blocks as usize);
    let uploaded = emulator.blob(&deploy_id).expect("a committed blob");
    assert!(uploaded == std::fs::read(file.path()).unwrap());
}
