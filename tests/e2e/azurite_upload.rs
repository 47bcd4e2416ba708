//! The bundle uploader against Azurite, a real Azure Blob server, through real SAS URLs: one
//! Put Blob for small files, parallel Put Block + Put Block List for large ones.
//!
//! Azurite keeps no blob versions, so it sends no `x-ms-version-id`: the receipt says `None`
//! and the deploy pipeline refuses to finalize without one (Astro's storage always sends it;
//! the emulator tests cover that path).

use std::time::Duration;

use astro_api::blob::{BlobUploader, UploadOptions};
use astro_api::RetryPolicy;
use e2e_tests::azurite::Azurite;

const TTL: Duration = Duration::from_secs(600);

fn file_of(bytes: &[u8]) -> tempfile::NamedTempFile {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), bytes).unwrap();
    file
}

/// Bytes that do not repeat with the block size, so a block out of place would show.
fn pseudo_random(len: usize) -> Vec<u8> {
    let mut state: u32 = 0x2545_f491;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect()
}

#[tokio::test]
async fn a_small_bundle_goes_in_one_put_and_reads_back_identical() {
    let azurite = Azurite::start();
    let url = azurite.blob_url_with_sas("dags", "deploy-1/dags.tar.gz", "rcw", TTL);
    let bytes = pseudo_random(200_000);
    let file = file_of(&bytes);

    let uploader = BlobUploader::new(UploadOptions::default()).unwrap();
    let receipt = uploader
        .upload_file(&url, file.path(), &|_| {})
        .await
        .unwrap();

    assert_eq!(receipt.blocks, 0);
    assert_eq!(receipt.bytes, 200_000);
    assert!(receipt.etag.is_some());
    assert_eq!(receipt.version_id, None, "Azurite keeps no versions");
    assert_eq!(azurite.get_blob(&url).await, bytes);
}

#[tokio::test]
async fn a_large_bundle_goes_in_parallel_blocks_in_order() {
    let azurite = Azurite::start();
    let url = azurite.blob_url_with_sas("dags", "deploy-2/dags.tar.gz", "rcw", TTL);
    let bytes = pseudo_random(5 * 1024 * 1024 + 12_345);
    let file = file_of(&bytes);
    let options = UploadOptions {
        single_put_limit: 1024 * 1024,
        block_size: 512 * 1024,
        concurrency: 4,
        ..UploadOptions::default()
    };

    let reported = std::sync::Mutex::new(Vec::new());
    let uploader = BlobUploader::new(options).unwrap();
    let receipt = uploader
        .upload_file(&url, file.path(), &|sent| {
            reported.lock().unwrap().push(sent)
        })
        .await
        .unwrap();

    assert_eq!(receipt.blocks, 11);
    assert_eq!(receipt.bytes, bytes.len() as u64);
    assert_eq!(azurite.get_blob(&url).await, bytes);
    let reported = reported.into_inner().unwrap();
    assert_eq!(reported.len(), 11);
    assert_eq!(reported.iter().max(), Some(&(bytes.len() as u64)));
}

#[tokio::test]
async fn a_refused_sas_fails_fast_with_a_hint_and_without_the_signature() {
    let azurite = Azurite::start();
    let url = azurite.blob_url_with_sas("dags", "deploy-3/dags.tar.gz", "rcw", TTL);
    let forged = url.replace("sig=", "sig=AAAA");
    let file = file_of(b"bundle");

    let options = UploadOptions {
        retry: RetryPolicy::none(),
        ..UploadOptions::default()
    };
    let uploader = BlobUploader::new(options).unwrap();
    let error = uploader
        .upload_file(&forged, file.path(), &|_| {})
        .await
        .unwrap_err();

    let message = error.to_string();
    assert!(message.contains("storage answered 403"), "{message}");
    // Azure says `AuthenticationFailed`, Azurite `AuthorizationFailure`: either way the
    // storage's own code reaches the user.
    assert!(message.contains("AuthenticationFailed") || message.contains("AuthorizationFailure"));
    assert!(!message.contains("sig="), "the SAS leaked: {message}");
    assert!(error.hint().unwrap().contains("expired"));
}
