//! Helpers for the registry tests: a tiny image written as an OCI layout on disk, a client
//! with quick retries, a progress recorder, the real image tools (`skopeo`, `umoci`) as
//! independent readers, and a proxy (`proxy`) that puts auth or faults in front of the real
//! registry.

#![allow(dead_code)] // Each test binary uses its own part of these helpers.

pub mod proxy;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use flate2::write::GzEncoder;
use flate2::Compression;
use registry::{
    media_type, Digest, ImageReference, ImageSource, OciLayout, Platform, PushProgress,
    RegistryClient, RegistryConfig, RetryPolicy,
};
use serde_json::{json, Value};

/// The tag the test layouts name their image by.
pub const LAYOUT_TAG: &str = "v1";

/// A client of `host` whose retries wait milliseconds, not seconds.
pub fn client(host: &str) -> RegistryClient {
    RegistryClient::new(quick_config(host)).expect("a loopback host makes a client")
}

pub fn quick_config(host: &str) -> RegistryConfig {
    RegistryConfig {
        retry: RetryPolicy {
            max_attempts: 4,
            max_elapsed: Duration::from_secs(20),
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        },
        ..RegistryConfig::new(host)
    }
}

pub fn reference(host: &str, repository: &str, tag: &str) -> ImageReference {
    ImageReference::parse(&format!("{host}/{repository}:{tag}")).expect("a valid test reference")
}

/// A layer: a gzipped tar of `files` (with their parent directories).
pub struct Layer {
    pub gz: Vec<u8>,
    pub digest: Digest,
    pub diff_id: Digest,
}

pub fn layer(files: &[(&str, &[u8])]) -> Layer {
    let mut builder = tar::Builder::new(Vec::new());
    let mut dirs = std::collections::BTreeSet::new();
    for (path, _) in files {
        let mut parent = Path::new(path).parent();
        while let Some(dir) = parent.filter(|d| !d.as_os_str().is_empty()) {
            dirs.insert(dir.to_owned());
            parent = dir.parent();
        }
    }
    for dir in dirs {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_mode(0o755);
        header.set_size(0);
        header.set_mtime(1_700_000_000);
        builder
            .append_data(&mut header, format!("{}/", dir.display()), &[][..])
            .expect("appending a directory to an in-memory tar");
    }
    for (path, content) in files {
        let mut header = tar::Header::new_gnu();
        header.set_mode(0o644);
        header.set_size(content.len() as u64);
        header.set_mtime(1_700_000_000);
        builder
            .append_data(&mut header, path, *content)
            .expect("appending a file to an in-memory tar");
    }
    let tar = builder.into_inner().expect("finishing an in-memory tar");

    let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
    encoder.write_all(&tar).expect("gzip in memory");
    let gz = encoder.finish().expect("gzip in memory");
    Layer {
        digest: Digest::sha256(&gz),
        diff_id: Digest::sha256(&tar),
        gz,
    }
}

/// Bytes that do not compress, so a layer of them is as large as they are.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

/// An image written as an OCI layout, as a local builder leaves it.
pub struct TestImage {
    pub dir: tempfile::TempDir,
    pub layers: Vec<Layer>,
    pub config: Value,
    pub config_bytes: Vec<u8>,
}

impl TestImage {
    /// An image of `layers` with `labels`, as an OCI layout in a temporary directory.
    pub fn new(layers: Vec<Layer>, labels: &[(&str, &str)]) -> TestImage {
        let labels: serde_json::Map<String, Value> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(*v)))
            .collect();
        let config = json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "config": {
                "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"],
                "Labels": labels,
                "WorkingDir": "/usr/local/airflow"
            },
            "rootfs": {
                "type": "layers",
                "diff_ids": layers.iter().map(|l| l.diff_id.to_string()).collect::<Vec<_>>()
            },
            "history": layers.iter().map(|_| json!({"created_by": "COPY . ."})).collect::<Vec<_>>(),
            "x-astro-test": {"kept": true}
        });
        let config_bytes = serde_json::to_vec(&config).expect("JSON serializes");

        let dir = tempfile::TempDir::with_prefix("oci-layout-").expect("a temp dir");
        let blobs = dir.path().join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).expect("creating the blob dir");
        let write_blob = |bytes: &[u8]| {
            let digest = Digest::sha256(bytes);
            std::fs::write(blobs.join(digest.encoded()), bytes).expect("writing a blob");
            json!({"digest": digest.to_string(), "size": bytes.len()})
        };

        let mut config_descriptor = write_blob(&config_bytes);
        config_descriptor["mediaType"] = media_type::OCI_CONFIG.into();
        let layer_descriptors: Vec<Value> = layers
            .iter()
            .map(|layer| {
                let mut descriptor = write_blob(&layer.gz);
                descriptor["mediaType"] = media_type::OCI_LAYER_GZIP.into();
                descriptor
            })
            .collect();
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_MANIFEST,
            "config": config_descriptor,
            "layers": layer_descriptors
        });
        let mut manifest_descriptor =
            write_blob(&serde_json::to_vec(&manifest).expect("JSON serializes"));
        manifest_descriptor["mediaType"] = media_type::OCI_MANIFEST.into();
        manifest_descriptor["annotations"] =
            json!({"org.opencontainers.image.ref.name": LAYOUT_TAG});

        let index = json!({"schemaVersion": 2, "manifests": [manifest_descriptor]});
        std::fs::write(dir.path().join("index.json"), index.to_string()).expect("index.json");
        std::fs::write(
            dir.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .expect("oci-layout");

        TestImage {
            dir,
            layers,
            config,
            config_bytes,
        }
    }

    /// Two small layers, with files `umoci` can check after unpacking, and two labels.
    pub fn small() -> TestImage {
        TestImage::new(
            vec![
                layer(&[("etc/astro/hello.txt", b"hello from the first layer\n")]),
                layer(&[
                    ("usr/local/airflow/dags/dag.py", b"# a DAG\nprint('dag')\n"),
                    ("usr/local/airflow/noise.bin", &noise(50_000, 7)),
                ]),
            ],
            &[
                ("io.astronomer.deploy.test", "yes"),
                ("org.opencontainers.image.title", "test image"),
            ],
        )
    }

    /// The image read back through the crate's own layout reader.
    pub fn source(&self) -> ImageSource {
        OciLayout::open(self.dir.path())
            .expect("the test layout opens")
            .image(Some(LAYOUT_TAG), &Platform::linux_amd64())
            .expect("the test layout has its image")
            .to_source()
    }

    pub fn layer_path(&self, index: usize) -> PathBuf {
        self.dir
            .path()
            .join("blobs/sha256")
            .join(self.layers[index].digest.encoded())
    }

    pub fn layer_bytes(&self) -> u64 {
        self.layers.iter().map(|l| l.gz.len() as u64).sum()
    }
}

/// What a push reported, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Started(Digest, u64),
    Sent(Digest, u64),
    Skipped(Digest),
    Mounted(Digest, String),
    Uploaded(Digest),
    Manifest(Digest),
}

#[derive(Default)]
pub struct Recorder {
    pub events: Mutex<Vec<Event>>,
}

impl Recorder {
    pub fn events(&self) -> Vec<Event> {
        self.events
            .lock()
            .expect("no test panicked holding it")
            .clone()
    }

    fn push(&self, event: Event) {
        self.events
            .lock()
            .expect("no test panicked holding it")
            .push(event);
    }
}

impl PushProgress for Recorder {
    fn layer_started(&self, digest: &Digest, size: u64) {
        self.push(Event::Started(digest.clone(), size));
    }
    fn layer_bytes_sent(&self, digest: &Digest, sent: u64) {
        self.push(Event::Sent(digest.clone(), sent));
    }
    fn layer_skipped(&self, digest: &Digest) {
        self.push(Event::Skipped(digest.clone()));
    }
    fn layer_mounted(&self, digest: &Digest, from: &str) {
        self.push(Event::Mounted(digest.clone(), from.to_owned()));
    }
    fn layer_uploaded(&self, digest: &Digest) {
        self.push(Event::Uploaded(digest.clone()));
    }
    fn manifest_written(&self, _target: &ImageReference, digest: &Digest) {
        self.push(Event::Manifest(digest.clone()));
    }
}

/// Runs a real tool and returns its stdout; panics with its stderr when it fails, or with a
/// pointer to the install script when it is missing.
pub fn run(program: &str, args: &[&str]) -> Vec<u8> {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("running `{program}`: {e}; run `scripts/install-test-deps.sh` to install it")
        });
    if !output.status.success() {
        panic!(
            "`{program} {}` failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    output.stdout
}

/// `skopeo inspect` of a plain-http image, as JSON.
pub fn skopeo_inspect(reference: &ImageReference, extra: &[&str]) -> Value {
    let target = format!("docker://{reference}");
    let mut args = vec!["inspect", "--tls-verify=false"];
    args.extend_from_slice(extra);
    args.push(&target);
    serde_json::from_slice(&run("skopeo", &args)).expect("skopeo prints JSON")
}

/// `skopeo inspect --raw`: the manifest bytes exactly as the registry serves them.
pub fn skopeo_raw_manifest(reference: &ImageReference) -> Vec<u8> {
    let target = format!("docker://{reference}");
    run(
        "skopeo",
        &["inspect", "--tls-verify=false", "--raw", &target],
    )
}

/// Copies an image out of the registry with skopeo and unpacks it with umoci; returns the
/// unpacked root filesystem (inside `work`).
pub fn unpack_with_umoci(reference: &ImageReference, work: &Path) -> PathBuf {
    std::fs::create_dir_all(work).expect("creating the unpack directory");
    let layout = work.join("copied");
    let layout_ref = format!("{}:{}", layout.display(), "copied");
    run(
        "skopeo",
        &[
            "--insecure-policy",
            "copy",
            "--src-tls-verify=false",
            &format!("docker://{reference}"),
            &format!("oci:{layout_ref}"),
        ],
    );
    let bundle = work.join("bundle");
    run(
        "umoci",
        &[
            "unpack",
            "--rootless",
            "--image",
            &layout_ref,
            &bundle.display().to_string(),
        ],
    );
    bundle.join("rootfs")
}
