//! Uploads that meet failures on the way to a real registry, through a proxy that breaks
//! chosen requests: the blob must still arrive intact, and success is only reported after the
//! registry committed it.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse as _;
use common::proxy::{Action, Proxy};
use common::{reference, Event, Recorder, TestImage};
use e2e_tests::registry::LocalRegistry;
use registry::{push_image, NoProgress, RegistryClient, RegistryConfig};

const CHUNK: usize = 64 * 1024;

/// An image of one incompressible layer of about 640 KiB: ten chunks.
fn big_image() -> TestImage {
    let content = common::noise(640 * 1024, 11);
    TestImage::new(vec![common::layer(&[("big.bin", &content)])], &[])
}

fn chunked_client(host: &str) -> RegistryClient {
    RegistryClient::new(RegistryConfig {
        chunk_size: CHUNK,
        ..common::quick_config(host)
    })
    .unwrap()
}

fn is_chunk(parts: &Parts) -> bool {
    parts.method == Method::PATCH && parts.uri.path().contains("/blobs/uploads/")
}

fn is_commit(parts: &Parts) -> bool {
    parts.method == Method::PUT
        && parts.uri.path().contains("/blobs/uploads/")
        && parts.uri.query().is_some_and(|q| q.contains("digest="))
}

fn unavailable() -> Action {
    Action::Respond((StatusCode::SERVICE_UNAVAILABLE, "injected failure").into_response())
}

/// Counts requests matching `matches`, and breaks the `nth` (from 1) of them with `fault`.
fn break_nth(
    matches: fn(&Parts) -> bool,
    nth: usize,
    fault: fn() -> Action,
    seen: Arc<AtomicUsize>,
) -> impl FnOnce(&str) -> common::proxy::Rule {
    move |_| {
        Box::new(move |parts: &Parts| {
            if matches(parts) && seen.fetch_add(1, Ordering::SeqCst) + 1 == nth {
                fault()
            } else {
                Action::Forward
            }
        })
    }
}

fn sent(progress: &Recorder) -> Vec<u64> {
    progress
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Sent(_, n) => Some(*n),
            _ => None,
        })
        .collect()
}

/// Pulls the layer back from the registry directly and compares it with the file.
async fn assert_intact(registry: &LocalRegistry, image: &TestImage, repository: &str) {
    let pulled = common::client(&registry.host())
        .get_blob_bytes(repository, &image.layers[0].digest)
        .await
        .expect("the layer is in the registry");
    assert_eq!(pulled, image.layers[0].gz);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_chunk_is_sent_again_from_where_the_registry_stands() {
    let registry = LocalRegistry::start();
    let patches = Arc::new(AtomicUsize::new(0));
    let proxy = Proxy::start(
        &registry.host(),
        break_nth(is_chunk, 3, unavailable, patches.clone()),
    )
    .await;
    let image = big_image();
    let progress = Recorder::default();

    let report = push_image(
        &chunked_client(proxy.host()),
        &image.source(),
        &reference(proxy.host(), "astro/app", "1"),
        &progress,
    )
    .await
    .expect("the upload recovers");

    assert_eq!(report.layers_uploaded, 1);
    assert_intact(&registry, &image, "astro/app").await;
    // The registry still had the session at the failed chunk's offset: the upload went on
    // from there, never back to zero, and the chunk was sent once more.
    let sent = sent(&progress);
    assert!(sent.windows(2).all(|w| w[0] <= w[1]), "{sent:?}");
    let chunks = (image.layers[0].gz.len()).div_ceil(CHUNK);
    assert_eq!(patches.load(Ordering::SeqCst), chunks + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chunk_whose_answer_is_lost_makes_the_upload_start_over() {
    let registry = LocalRegistry::start();
    let patches = Arc::new(AtomicUsize::new(0));
    // The registry takes the third chunk, but its answer never arrives: the client cannot
    // know, and distribution refuses the stale session, so only a fresh one is safe.
    let proxy = Proxy::start(
        &registry.host(),
        break_nth(
            is_chunk,
            3,
            || Action::ForwardThenFail(StatusCode::BAD_GATEWAY),
            patches.clone(),
        ),
    )
    .await;
    let image = big_image();
    let progress = Recorder::default();

    push_image(
        &chunked_client(proxy.host()),
        &image.source(),
        &reference(proxy.host(), "astro/app", "1"),
        &progress,
    )
    .await
    .expect("the upload recovers");

    assert_intact(&registry, &image, "astro/app").await;
    let sent = sent(&progress);
    assert!(
        sent.contains(&0),
        "the progress went back to zero: {sent:?}"
    );
    assert_eq!(sent.last(), Some(&(image.layers[0].gz.len() as u64)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_is_done_again_and_only_a_201_counts() {
    let registry = LocalRegistry::start();
    let commits = Arc::new(AtomicUsize::new(0));
    let proxy = Proxy::start(
        &registry.host(),
        break_nth(is_commit, 1, unavailable, commits.clone()),
    )
    .await;
    let image = big_image();

    push_image(
        &chunked_client(proxy.host()),
        &image.source(),
        &reference(proxy.host(), "astro/app", "1"),
        &NoProgress,
    )
    .await
    .expect("the upload recovers");

    assert_intact(&registry, &image, "astro/app").await;
    // The layer and the config each committed once, after the layer's refused commit.
    assert_eq!(commits.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fault_that_repeats_in_every_session_ends_the_upload() {
    let registry = LocalRegistry::start();
    // Every session loses the answer to its third chunk: restarting never gets further, so the
    // upload must give up rather than go round for ever.
    let in_session = Arc::new(AtomicUsize::new(0));
    let proxy = Proxy::start(&registry.host(), move |_| {
        Box::new(move |parts: &Parts| {
            if parts.method == Method::POST {
                in_session.store(0, Ordering::SeqCst);
            }
            if is_chunk(parts) && in_session.fetch_add(1, Ordering::SeqCst) + 1 == 3 {
                return Action::ForwardThenFail(StatusCode::BAD_GATEWAY);
            }
            Action::Forward
        })
    })
    .await;
    let image = big_image();

    let client = chunked_client(proxy.host());
    let source = image.source();
    let target = reference(proxy.host(), "astro/app", "1");
    let push = push_image(&client, &source, &target, &NoProgress);
    let err = tokio::time::timeout(std::time::Duration::from_secs(60), push)
        .await
        .expect("the upload gives up within its retry budget")
        .unwrap_err();
    assert_eq!(err.status(), Some(502), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_that_keeps_failing_is_an_error_and_no_tag_is_written() {
    let registry = LocalRegistry::start();
    let proxy = Proxy::start(&registry.host(), |_| {
        Box::new(|parts: &Parts| {
            if is_chunk(parts) {
                unavailable()
            } else {
                Action::Forward
            }
        })
    })
    .await;
    let image = big_image();

    let err = push_image(
        &chunked_client(proxy.host()),
        &image.source(),
        &reference(proxy.host(), "astro/app", "1"),
        &NoProgress,
    )
    .await
    .unwrap_err();

    let message = err.to_string();
    assert!(
        message.contains(&format!("uploading blob `{}`", image.layers[0].digest)),
        "{message}"
    );
    assert!(message.contains("503 Service Unavailable"), "{message}");
    assert!(err.hint().unwrap().contains("retried"), "{:?}", err.hint());
    let direct = common::client(&registry.host());
    let blob = direct
        .blob_exists("astro/app", &image.layers[0].digest)
        .await
        .unwrap();
    assert_eq!(blob, None);
    let manifest = direct.get_manifest("astro/app", "1").await.unwrap_err();
    assert_eq!(manifest.status(), Some(404));
}
