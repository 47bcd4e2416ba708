//! Reading images back from a real registry: manifests, indexes, configs and blobs, each
//! checked against its digest; and the errors a user sees when something is missing or wrong.

mod common;

use axum::http::Method;
use bytes::Bytes;
use common::proxy::{Action, Proxy};
use common::{client, reference, TestImage};
use e2e_tests::registry::LocalRegistry;
use registry::{
    media_type, push_image, Descriptor, Digest, Error, ImageConfig, ImageIndex, ManifestFormat,
    NoProgress, Platform, RegistryClient, RegistryConfig,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_configs_and_blobs_come_back_with_their_digests_checked() {
    let registry = LocalRegistry::start();
    let image = TestImage::small();
    let client = client(&registry.host());
    let target = reference(&registry.host(), "astro/app", "deploy-1");
    let report = push_image(&client, &image.source(), &target, &NoProgress)
        .await
        .unwrap();

    let by_tag = client.get_manifest("astro/app", "deploy-1").await.unwrap();
    assert_eq!(by_tag.digest, report.manifest_digest);
    assert_eq!(by_tag.media_type, media_type::OCI_MANIFEST);
    let by_digest = client
        .get_manifest("astro/app", report.manifest_digest.as_str())
        .await
        .unwrap();
    assert_eq!(by_digest, by_tag);

    let (_, manifest) = client
        .get_image_manifest("astro/app", "deploy-1", &Platform::linux_amd64())
        .await
        .unwrap();
    let config_bytes = client
        .get_blob_bytes("astro/app", &manifest.config.digest)
        .await
        .unwrap();
    assert_eq!(config_bytes, image.config_bytes);
    let config = ImageConfig::from_slice(&config_bytes).unwrap();
    assert_eq!(config.labels()["io.astronomer.deploy.test"], "yes");
    assert_eq!(config.diff_ids()[1], image.layers[1].diff_id);

    let work = tempfile::TempDir::new().unwrap();
    let path = work.path().join("layer.tar.gz");
    let layer = &manifest.layers[1];
    let size = client
        .get_blob_to_file("astro/app", &layer.digest, &path)
        .await
        .unwrap();
    assert_eq!(size, layer.size);
    assert_eq!(std::fs::read(&path).unwrap(), image.layers[1].gz);
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        1,
        "no partial file is left"
    );

    assert_eq!(
        client
            .blob_exists("astro/app", &layer.digest)
            .await
            .unwrap(),
        Some(layer.size)
    );
    let absent = Digest::sha256(b"never pushed");
    assert_eq!(
        client.blob_exists("astro/app", &absent).await.unwrap(),
        None
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_index_leads_to_the_linux_amd64_image() {
    let registry = LocalRegistry::start();
    let client = client(&registry.host());
    let amd64 = TestImage::small();
    let amd64_report = push_image(
        &client,
        &amd64.source(),
        &reference(&registry.host(), "astro/multi", "amd64"),
        &NoProgress,
    )
    .await
    .unwrap();
    let arm64 = TestImage::new(vec![common::layer(&[("arm", b"arm64")])], &[]);
    let mut arm64_source = arm64.source();
    let mut arm64_config = arm64.config.clone();
    arm64_config["architecture"] = "arm64".into();
    arm64_source.config = Bytes::from(serde_json::to_vec(&arm64_config).unwrap());
    let arm64_report = push_image(
        &client,
        &arm64_source,
        &reference(&registry.host(), "astro/multi", "arm64"),
        &NoProgress,
    )
    .await
    .unwrap();

    let mut manifests = Vec::new();
    for (digest, architecture) in [
        (&arm64_report.manifest_digest, "arm64"),
        (&amd64_report.manifest_digest, "amd64"),
    ] {
        let manifest = client
            .get_manifest("astro/multi", digest.as_str())
            .await
            .unwrap();
        let mut descriptor = Descriptor::new(
            manifest.media_type,
            manifest.digest,
            manifest.bytes.len() as u64,
        );
        descriptor.platform = Some(Platform {
            architecture: architecture.to_owned(),
            ..Platform::linux_amd64()
        });
        manifests.push(descriptor);
    }
    let index = ImageIndex {
        schema_version: 2,
        media_type: Some(media_type::OCI_INDEX.into()),
        manifests,
        annotations: None,
        extra: Default::default(),
    };
    client
        .put_manifest(
            "astro/multi",
            "both",
            media_type::OCI_INDEX,
            serde_json::to_vec(&index).unwrap().into(),
        )
        .await
        .unwrap();

    let (manifest, image) = client
        .get_image_manifest("astro/multi", "both", &Platform::linux_amd64())
        .await
        .unwrap();
    assert_eq!(manifest.digest, amd64_report.manifest_digest);
    assert_eq!(image.layers.len(), 2);
    let listed = client.get_manifest("astro/multi", "both").await.unwrap();
    assert!(listed.is_index());
    assert!(listed.image().is_err());
    assert_eq!(
        ManifestFormat::of_media_type(&manifest.media_type),
        Some(ManifestFormat::Oci)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_missing_is_named_with_the_registry_code_and_a_hint() {
    let registry = LocalRegistry::start();
    let client = client(&registry.host());
    push_image(
        &client,
        &TestImage::small().source(),
        &reference(&registry.host(), "astro/app", "1"),
        &NoProgress,
    )
    .await
    .unwrap();

    let absent = Digest::sha256(b"never pushed");
    let err = client
        .get_blob_bytes("astro/app", &absent)
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains(absent.as_str()), "{message}");
    assert!(
        message.contains(&format!("`{}/astro/app`", registry.host())),
        "{message}"
    );
    assert!(message.contains("404 Not Found: BLOB_UNKNOWN"), "{message}");
    assert!(err.hint().unwrap().contains("not in"), "{:?}", err.hint());

    let err = client
        .get_manifest("astro/app", "no-such-tag")
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("getting manifest `no-such-tag`"),
        "{err}"
    );
    assert!(
        err.registry_error().unwrap().has_code("MANIFEST_UNKNOWN"),
        "{err}"
    );
    assert!(
        err.hint().unwrap().contains("no image with this tag"),
        "{:?}",
        err.hint()
    );

    // Distribution answers MANIFEST_UNKNOWN, not NAME_UNKNOWN, for a repository it lacks.
    let err = client.get_manifest("astro/nothing", "1").await.unwrap_err();
    assert_eq!(err.status(), Some(404));
    let nothing = format!("`{}/astro/nothing`", registry.host());
    assert!(err.hint().unwrap().contains(&nothing), "{:?}", err.hint());

    let err = client.get_manifest("Astro/App", "1").await.unwrap_err();
    assert!(matches!(err, Error::InvalidReference(_)), "{err}");
    assert!(err.to_string().contains("`Astro/App`"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn content_that_does_not_match_its_digest_is_never_uploaded() {
    let registry = LocalRegistry::start();
    let client = client(&registry.host());
    let claimed = Digest::sha256(b"what the descriptor says");

    let err = client
        .upload_blob_bytes("astro/app", &claimed, Bytes::from_static(b"something else"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(claimed.as_str()), "{message}");
    assert!(
        message.contains(Digest::sha256(b"something else").as_str()),
        "{message}"
    );

    // A file that changed after its digest was taken: caught while it streams in chunks,
    // before the commit.
    let work = tempfile::TempDir::new().unwrap();
    let path = work.path().join("layer");
    let content = common::noise(300_000, 3);
    std::fs::write(&path, &content).unwrap();
    let chunked = RegistryClient::new(RegistryConfig {
        chunk_size: 64 * 1024,
        ..common::quick_config(&registry.host())
    })
    .unwrap();
    let err = chunked
        .upload_blob_file("astro/app", &claimed, content.len() as u64, &path, &|_| {})
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(message.contains(claimed.as_str()), "{message}");
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(err.hint().unwrap().contains("rebuild"));
    assert_eq!(
        client.blob_exists("astro/app", &claimed).await.unwrap(),
        None
    );

    let err = chunked
        .upload_blob_file("astro/app", &claimed, 5, &path, &|_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("holds 300000 bytes, not the 5"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_that_does_not_hash_to_its_digest_is_refused() {
    let registry = LocalRegistry::start();
    let image = TestImage::small();
    push_image(
        &client(&registry.host()),
        &image.source(),
        &reference(&registry.host(), "astro/app", "1"),
        &NoProgress,
    )
    .await
    .unwrap();
    // A proxy that flips a byte of every blob and manifest it serves.
    let proxy = Proxy::start(&registry.host(), |_| {
        Box::new(|parts| {
            let path = parts.uri.path();
            if parts.method == Method::GET
                && (path.contains("/blobs/") || path.contains("/manifests/sha256:"))
            {
                Action::ForwardCorrupted
            } else {
                Action::Forward
            }
        })
    })
    .await;
    let client = client(proxy.host());
    let layer = &image.layers[0].digest;

    let err = client.get_blob_bytes("astro/app", layer).await.unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    assert!(err.to_string().contains(layer.as_str()), "{err}");

    let work = tempfile::TempDir::new().unwrap();
    let path = work.path().join("layer.tar.gz");
    let err = client
        .get_blob_to_file("astro/app", layer, &path)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(layer.as_str()), "{err}");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "nothing is left behind"
    );

    let digest = client.get_manifest("astro/app", "1").await.unwrap().digest;
    let err = client
        .get_manifest("astro/app", digest.as_str())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
}
