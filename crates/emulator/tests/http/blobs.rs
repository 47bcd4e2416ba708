//! The blob endpoint: single puts, blocks and block lists, and the SAS check.

use reqwest::StatusCode;

use crate::support::{header, start};

fn encode(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

#[tokio::test]
async fn blocks_commit_through_a_block_list() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    let url = deploy["dagsUploadUrl"]
        .as_str()
        .expect("an upload URL")
        .to_owned();

    // Block ids with `+`, `/` and `=` catch a client that forgets to encode them.
    for (id, bytes) in [
        ("YmxvY2s+MDA=", "first half, "),
        ("YmxvY2s/MDE=", "second half"),
    ] {
        let block = format!("{url}&comp=block&blockid={}", encode(id));
        let response = harness
            .http
            .put(&block)
            .body(bytes)
            .send()
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::CREATED);
    }

    let list = r#"<?xml version="1.0" encoding="utf-8"?>
        <BlockList>
            <Latest>YmxvY2s+MDA=</Latest>
            <Uncommitted>YmxvY2s/MDE=</Uncommitted>
        </BlockList>"#;
    let committed = harness
        .http
        .put(format!("{url}&comp=blocklist"))
        .body(list)
        .send()
        .await
        .expect("an answer");
    assert_eq!(committed.status(), StatusCode::CREATED);
    let version = header(&committed, "x-ms-version-id");
    header(&committed, "etag");

    let read = harness.http.get(&url).send().await.expect("an answer");
    assert_eq!(read.status(), StatusCode::OK);
    assert_eq!(header(&read, "x-ms-version-id"), version);
    assert_eq!(
        read.text().await.expect("a body"),
        "first half, second half"
    );

    let (status, body) = harness.finalize(&deploy, &version).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let requests = harness.emulator.blob_requests();
    let comps: Vec<Option<&str>> = requests.iter().map(|r| r.comp.as_deref()).collect();
    assert_eq!(
        comps,
        [Some("block"), Some("block"), Some("blocklist"), None]
    );
}

#[tokio::test]
async fn a_block_list_naming_an_unknown_block_is_refused() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    let url = deploy["dagsUploadUrl"].as_str().expect("an upload URL");

    let list = "<BlockList><Latest>bm9uZQ==</Latest></BlockList>";
    let response = harness
        .http
        .put(format!("{url}&comp=blocklist"))
        .body(list)
        .send()
        .await
        .expect("an answer");

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(header(&response, "x-ms-error-code"), "InvalidBlockList");
    let body = response.text().await.expect("a body");
    assert!(body.contains("<Code>InvalidBlockList</Code>"), "{body}");
}

#[tokio::test]
async fn a_put_without_blob_type_is_refused() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    let url = deploy["dagsUploadUrl"].as_str().expect("an upload URL");

    let response = harness
        .http
        .put(url)
        .body("bytes")
        .send()
        .await
        .expect("an answer");

    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let body = response.text().await.expect("a body");
    assert!(
        body.contains("<Code>MissingRequiredHeader</Code>"),
        "{body}"
    );
    assert!(
        body.contains("<HeaderName>x-ms-blob-type</HeaderName>"),
        "{body}"
    );
}

#[tokio::test]
async fn a_bad_or_missing_signature_is_refused() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    let url = deploy["dagsUploadUrl"].as_str().expect("an upload URL");
    let (unsigned, _) = url.split_once("&sig=").expect("a signature");
    let other = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    let other_id = other["id"].as_str().expect("an id");
    let deploy_id = deploy["id"].as_str().expect("an id");

    for bad in [
        format!("{unsigned}&sig=AAAA"),
        unsigned.to_owned(),
        url.replace(deploy_id, other_id),
        url.replace("sp=rcw", "sp=rcwd"),
    ] {
        let response = harness
            .http
            .put(&bad)
            .header("x-ms-blob-type", "BlockBlob")
            .body("bytes")
            .send()
            .await
            .expect("an answer");

        assert_eq!(response.status(), StatusCode::FORBIDDEN, "{bad}");
        assert_eq!(header(&response, "x-ms-error-code"), "AuthenticationFailed");
        let body = response.text().await.expect("a body");
        assert!(body.contains("<Code>AuthenticationFailed</Code>"), "{body}");
    }
    assert_eq!(harness.emulator.blob(deploy_id), None);
}

#[tokio::test]
async fn reading_before_an_upload_finds_no_blob() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;
    let url = deploy["dagsUploadUrl"].as_str().expect("an upload URL");

    let response = harness.http.get(url).send().await.expect("an answer");

    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(header(&response, "x-ms-error-code"), "BlobNotFound");
}

#[tokio::test]
async fn every_commit_gets_a_later_version() {
    let harness = start().await;
    let deploy = harness.create_deploy(&harness.enabled(), "DAG_ONLY").await;

    let first = harness.upload(&deploy, b"one").await;
    let second = harness.upload(&deploy, b"two").await;

    assert!(second > first, "{second} after {first}");
    let (status, body) = harness.finalize(&deploy, &first).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "an earlier upload of the deploy still counts: {body}"
    );
}
