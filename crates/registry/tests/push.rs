//! Pushing images to a real registry (Debian's `docker-registry`) and reading them back with
//! tools that share no code with this crate: `skopeo` and `umoci`.

mod common;

use common::{client, reference, skopeo_inspect, skopeo_raw_manifest, Event, Recorder, TestImage};
use e2e_tests::registry::LocalRegistry;
use registry::{
    media_type, push_image, BlobOrigin, Digest, ImageConfig, LayerSource, ManifestFormat,
    NoProgress, OciLayout, Platform, RegistryClient, RegistryConfig,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_image_reads_back_in_skopeo_and_umoci_as_it_was_built() {
    let registry = LocalRegistry::start();
    let image = TestImage::small();
    let target = reference(&registry.host(), "astro/app", "deploy-1");
    let progress = Recorder::default();

    let report = push_image(
        &client(&registry.host()),
        &image.source(),
        &target,
        &progress,
    )
    .await
    .expect("the push succeeds");

    assert_eq!(report.layers_uploaded, 2);
    assert_eq!((report.layers_skipped, report.layers_mounted), (0, 0));
    assert!(report.config_uploaded);
    assert_eq!(
        report.bytes_uploaded,
        image.layer_bytes() + image.config_bytes.len() as u64
    );
    assert_eq!(report.reference.digest(), Some(&report.manifest_digest));

    // The registry serves the manifest we wrote, under the tag, and skopeo agrees on its digest.
    let raw = skopeo_raw_manifest(&target);
    assert_eq!(Digest::sha256(&raw), report.manifest_digest);
    let manifest: serde_json::Value = serde_json::from_slice(&raw).unwrap();
    assert_eq!(manifest["mediaType"], media_type::OCI_MANIFEST);
    assert_eq!(
        manifest["config"]["digest"],
        Digest::sha256(&image.config_bytes).to_string()
    );

    let inspected = skopeo_inspect(&target, &[]);
    assert_eq!(inspected["Digest"], report.manifest_digest.to_string());
    assert_eq!(inspected["Labels"]["io.astronomer.deploy.test"], "yes");
    assert_eq!(
        inspected["Labels"]["org.opencontainers.image.title"],
        "test image"
    );
    assert_eq!(
        (inspected["Os"].as_str(), inspected["Architecture"].as_str()),
        (Some("linux"), Some("amd64"))
    );
    let layers: Vec<String> = image.layers.iter().map(|l| l.digest.to_string()).collect();
    assert_eq!(inspected["Layers"], serde_json::json!(layers));

    // The config went up byte for byte, unknown members included.
    let config = skopeo_inspect(&target, &["--config", "--raw"]);
    assert_eq!(config, image.config);

    // umoci unpacks what skopeo copied out: the layers' files are there, with their content.
    let work = tempfile::TempDir::new().unwrap();
    let rootfs = common::unpack_with_umoci(&target, work.path());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("etc/astro/hello.txt")).unwrap(),
        "hello from the first layer\n"
    );
    assert_eq!(
        std::fs::read(rootfs.join("usr/local/airflow/noise.bin")).unwrap(),
        common::noise(50_000, 7)
    );

    // Each layer reported start, bytes, upload; the manifest came last.
    let events = progress.events();
    for layer in &image.layers {
        let size = layer.gz.len() as u64;
        assert!(
            events.contains(&Event::Started(layer.digest.clone(), size)),
            "{events:?}"
        );
        assert!(
            events.contains(&Event::Sent(layer.digest.clone(), size)),
            "{events:?}"
        );
        assert!(
            events.contains(&Event::Uploaded(layer.digest.clone())),
            "{events:?}"
        );
    }
    assert_eq!(
        events.last(),
        Some(&Event::Manifest(report.manifest_digest.clone()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushing_the_same_image_again_writes_only_the_manifest() {
    let registry = LocalRegistry::start();
    let image = TestImage::small();
    let target = reference(&registry.host(), "astro/app", "deploy-1");
    let client = client(&registry.host());
    let first = push_image(&client, &image.source(), &target, &NoProgress)
        .await
        .unwrap();

    let progress = Recorder::default();
    let again = reference(&registry.host(), "astro/app", "deploy-2");
    let second = push_image(&client, &image.source(), &again, &progress)
        .await
        .unwrap();

    assert_eq!(second.layers_skipped, 2);
    assert_eq!((second.layers_uploaded, second.layers_mounted), (0, 0));
    assert!(!second.config_uploaded);
    assert_eq!(second.bytes_uploaded, 0);
    assert_eq!(second.manifest_digest, first.manifest_digest);
    let skipped = progress
        .events()
        .iter()
        .filter(|e| matches!(e, Event::Skipped(_)))
        .count();
    assert_eq!(skipped, 2);
    assert!(!progress
        .events()
        .iter()
        .any(|e| matches!(e, Event::Sent(..))));
    assert_eq!(
        skopeo_inspect(&again, &[])["Digest"],
        first.manifest_digest.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_to_another_repository_mounts_the_layers_instead_of_uploading() {
    let registry = LocalRegistry::start();
    let image = TestImage::small();
    let client = client(&registry.host());
    let base = reference(&registry.host(), "astro/base", "1");
    push_image(&client, &image.source(), &base, &NoProgress)
        .await
        .unwrap();

    // The layers are named as being in the base repository, with no file to upload from: only
    // a mount can put them in the new repository.
    let mut source = image.source();
    for layer in &mut source.layers {
        *layer = LayerSource::in_registry(
            layer.media_type.clone(),
            layer.digest.clone(),
            layer.size,
            BlobOrigin::of(&base),
        );
    }
    let target = reference(&registry.host(), "cxyz/dep-abc", "deploy-1");
    let progress = Recorder::default();
    let report = push_image(&client, &source, &target, &progress)
        .await
        .unwrap();

    assert_eq!(report.layers_mounted, 2);
    assert_eq!((report.layers_uploaded, report.layers_skipped), (0, 0));
    assert_eq!(report.bytes_uploaded, image.config_bytes.len() as u64);
    assert!(progress.events().contains(&Event::Mounted(
        image.layers[0].digest.clone(),
        "astro/base".into()
    )));
    let inspected = skopeo_inspect(&target, &[]);
    assert_eq!(inspected["Layers"][1], image.layers[1].digest.to_string());

    // A layer that is neither there nor mountable nor in a file is an error naming it.
    let missing = common::layer(&[("x", b"never pushed")]);
    source.layers.push(LayerSource::in_registry(
        media_type::OCI_LAYER_GZIP,
        missing.digest.clone(),
        missing.gz.len() as u64,
        BlobOrigin::of(&base),
    ));
    let err = push_image(&client, &source, &target, &NoProgress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(missing.digest.as_str()), "{err}");
    // The tag still names the complete image: nothing was written after the failure.
    assert_eq!(
        skopeo_inspect(&target, &[])["Digest"],
        report.manifest_digest.to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_layer_larger_than_a_chunk_arrives_intact_in_many_chunks() {
    let registry = LocalRegistry::start();
    let big = common::layer(&[("usr/local/airflow/big.bin", &common::noise(1024 * 1024, 42))]);
    let size = big.gz.len() as u64;
    assert!(size > 1_000_000, "the layer does not compress");
    let image = TestImage::new(vec![big], &[]);
    let client = RegistryClient::new(RegistryConfig {
        chunk_size: 64 * 1024,
        ..common::quick_config(&registry.host())
    })
    .unwrap();
    let target = reference(&registry.host(), "astro/big", "1");
    let progress = Recorder::default();

    let report = push_image(&client, &image.source(), &target, &progress)
        .await
        .unwrap();

    // Progress came per chunk, rising to the full size.
    let sent: Vec<u64> = progress
        .events()
        .iter()
        .filter_map(|e| match e {
            Event::Sent(_, n) => Some(*n),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len() as u64, size.div_ceil(64 * 1024), "{sent:?}");
    assert!(sent.windows(2).all(|w| w[0] < w[1]), "{sent:?}");
    assert_eq!(sent.last(), Some(&size));
    assert_eq!(report.layers_uploaded, 1);

    // skopeo copies the blob out; it is the file we pushed, byte for byte.
    let work = tempfile::TempDir::new().unwrap();
    let layout = work.path().join("out");
    common::run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{target}"),
            &format!("oci:{}:out", layout.display()),
        ],
    );
    let digest = &image.layers[0].digest;
    let copied = std::fs::read(layout.join("blobs/sha256").join(digest.encoded())).unwrap();
    assert_eq!(copied, image.layers[0].gz);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_format_pushes_write_schema_2_media_types() {
    let registry = LocalRegistry::start();
    let image = TestImage::small();
    let mut source = image.source();
    source.format = ManifestFormat::Docker;
    let target = reference(&registry.host(), "astro/docker", "1");

    push_image(&client(&registry.host()), &source, &target, &NoProgress)
        .await
        .unwrap();

    let manifest: serde_json::Value =
        serde_json::from_slice(&skopeo_raw_manifest(&target)).unwrap();
    assert_eq!(manifest["mediaType"], media_type::DOCKER_MANIFEST);
    assert_eq!(manifest["config"]["mediaType"], media_type::DOCKER_CONFIG);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        media_type::DOCKER_LAYER_GZIP
    );
    let inspected = skopeo_inspect(&target, &[]);
    assert_eq!(inspected["Labels"]["io.astronomer.deploy.test"], "yes");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_umoci_built_is_pushed_from_its_oci_layout() {
    let registry = LocalRegistry::start();
    let work = tempfile::TempDir::new().unwrap();
    let layout = work.path().join("layout");
    let image_ref = format!("{}:built", layout.display());
    let content = work.path().join("content");
    std::fs::create_dir_all(content.join("dags")).unwrap();
    std::fs::write(content.join("dags/a.py"), "print('a')\n").unwrap();

    // umoci writes a real OCI layout: an image with one layer and a label.
    common::run(
        "umoci",
        &["init", "--layout", &layout.display().to_string()],
    );
    common::run("umoci", &["new", "--image", &image_ref]);
    common::run(
        "umoci",
        &[
            "insert",
            "--rootless",
            "--image",
            &image_ref,
            &content.display().to_string(),
            "/usr/local/airflow",
        ],
    );
    common::run(
        "umoci",
        &[
            "config",
            "--image",
            &image_ref,
            "--config.label",
            "built.by=umoci",
            "--os",
            "linux",
            "--architecture",
            "amd64",
        ],
    );

    let local = OciLayout::open(&layout)
        .unwrap()
        .image(Some("built"), &Platform::linux_amd64())
        .unwrap();
    assert_eq!(local.config.labels()["built.by"], "umoci");
    let target = reference(&registry.host(), "astro/umoci", "1");
    let report = push_image(
        &client(&registry.host()),
        &local.to_source(),
        &target,
        &NoProgress,
    )
    .await
    .unwrap();

    // The image went up unchanged: same manifest digest as in the layout.
    assert_eq!(report.manifest_digest, local.manifest_digest);
    let inspected = skopeo_inspect(&target, &[]);
    assert_eq!(inspected["Labels"]["built.by"], "umoci");
    let config_bytes = common::run(
        "skopeo",
        &[
            "inspect",
            "--tls-verify=false",
            "--config",
            "--raw",
            &format!("docker://{target}"),
        ],
    );
    assert_eq!(
        ImageConfig::from_slice(&config_bytes).unwrap(),
        local.config
    );
    let rootfs = common::unpack_with_umoci(&target, &work.path().join("unpacked"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("usr/local/airflow/dags/a.py")).unwrap(),
        "print('a')\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_buildah_built_is_pushed_from_the_layout_buildah_push_wrote() {
    let registry = LocalRegistry::start();
    let work = tempfile::TempDir::new().unwrap();
    let root = work.path().join("storage");
    let runroot = work.path().join("run");
    let file = work.path().join("requirements.txt");
    std::fs::write(&file, "apache-airflow-providers-http\n").unwrap();
    let layout = work.path().join("layout");

    // buildah with a storage of its own, as the CLI's image builder runs it.
    let buildah = |args: &[&str]| -> String {
        let mut all = vec![
            "--root",
            root.to_str().unwrap(),
            "--runroot",
            runroot.to_str().unwrap(),
            "--storage-driver",
            "vfs",
        ];
        all.extend_from_slice(args);
        String::from_utf8(common::run("buildah", &all))
            .unwrap()
            .trim()
            .to_owned()
    };
    let container = buildah(&["from", "scratch"]);
    buildah(&[
        "copy",
        &container,
        file.to_str().unwrap(),
        "/usr/local/airflow/",
    ]);
    buildah(&[
        "config",
        "--label",
        "built.by=buildah",
        "--os",
        "linux",
        "--arch",
        "amd64",
        &container,
    ]);
    buildah(&["commit", "-q", &container, "localhost/project:1"]);
    buildah(&[
        "push",
        "-q",
        "localhost/project:1",
        &format!("oci:{}:v1", layout.display()),
    ]);

    let local = OciLayout::open(&layout)
        .unwrap()
        .image(Some("v1"), &Platform::linux_amd64())
        .unwrap();
    let target = reference(&registry.host(), "cxyz/dep-abc", "deploy-1");
    let report = push_image(
        &client(&registry.host()),
        &local.to_source(),
        &target,
        &NoProgress,
    )
    .await
    .unwrap();

    assert_eq!(report.manifest_digest, local.manifest_digest);
    assert_eq!(
        skopeo_inspect(&target, &[])["Labels"]["built.by"],
        "buildah"
    );
    let rootfs = common::unpack_with_umoci(&target, &work.path().join("unpacked"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("usr/local/airflow/requirements.txt")).unwrap(),
        "apache-airflow-providers-http\n"
    );
}
