//! The Azurite harness itself: a SAS URL it signs works the way Astro's upload URLs do, and a
//! forged one is refused, so tests built on it can fail.

use std::time::Duration;

use e2e_tests::azurite::Azurite;

const TTL: Duration = Duration::from_secs(600);

async fn put_block_blob(url: &str, body: Vec<u8>) -> reqwest::Response {
    reqwest::Client::new()
        .put(url)
        .header("x-ms-blob-type", "BlockBlob")
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("PUT to azurite failed: {e}"))
}

#[tokio::test]
async fn a_block_blob_put_through_the_sas_url_reads_back_the_same_bytes() {
    let azurite = Azurite::start();
    let url = azurite.blob_url_with_sas("bundles", "dags/bundle 1.tar.gz", "rcw", TTL);
    let bytes: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();

    let response = put_block_blob(&url, bytes.clone()).await;

    assert_eq!(
        response.status(),
        reqwest::StatusCode::CREATED,
        "{:?}",
        response.text().await
    );
    assert_eq!(azurite.get_blob(&url).await, bytes);
}

#[tokio::test]
async fn a_sas_with_a_wrong_signature_is_refused() {
    let azurite = Azurite::start();
    let url = azurite.blob_url_with_sas("bundles", "forged.tar.gz", "rcw", TTL);
    let (base, _signature) = url
        .split_once("&sig=")
        .unwrap_or_else(|| panic!("no sig in {url}"));
    let forged = format!("{base}&sig=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA%3D");

    let response = put_block_blob(&forged, b"not allowed".to_vec()).await;

    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_read_only_sas_cannot_write() {
    let azurite = Azurite::start();
    let url = azurite.blob_url_with_sas("bundles", "read-only.tar.gz", "r", TTL);

    let response = put_block_blob(&url, b"not allowed".to_vec()).await;

    assert_eq!(response.status(), reqwest::StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn a_second_url_in_the_same_container_works() {
    let azurite = Azurite::start();
    let first = azurite.blob_url_with_sas("bundles", "one.tar.gz", "rcw", TTL);
    let second = azurite.blob_url_with_sas("bundles", "two.tar.gz", "rcw", TTL);

    assert_eq!(put_block_blob(&first, b"one".to_vec()).await.status(), 201);
    assert_eq!(put_block_blob(&second, b"two".to_vec()).await.status(), 201);
    assert_eq!(azurite.get_blob(&second).await, b"two");
}
