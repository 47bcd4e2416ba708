//! The JSON documents of images: descriptors, image manifests, image indexes (Docker's manifest
//! lists), image configs and platforms, in their OCI and Docker schema 2 forms, with their
//! media types.
//!
//! Every type keeps the members it does not model in `extra`, so a document that is read,
//! changed and written back keeps them all. Written back, members come in a fixed order (the
//! modelled ones first, the rest sorted), so the bytes, and the digest, change: push the bytes
//! you read when nothing changed.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::digest::Digest;

/// Media types of image documents and layers.
pub mod media_type {
    pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
    pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
    pub const OCI_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
    pub const OCI_LAYER_TAR: &str = "application/vnd.oci.image.layer.v1.tar";
    pub const OCI_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
    pub const OCI_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
    pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
    pub const DOCKER_MANIFEST_LIST: &str =
        "application/vnd.docker.distribution.manifest.list.v2+json";
    pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
    pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";
    pub const DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";

    /// What `get_manifest` accepts: single-image manifests and indexes, OCI and Docker.
    pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, \
        application/vnd.oci.image.index.v1+json, \
        application/vnd.docker.distribution.manifest.v2+json, \
        application/vnd.docker.distribution.manifest.list.v2+json";

    pub fn is_index(media_type: &str) -> bool {
        media_type == OCI_INDEX || media_type == DOCKER_MANIFEST_LIST
    }

    pub fn is_image_manifest(media_type: &str) -> bool {
        media_type == OCI_MANIFEST || media_type == DOCKER_MANIFEST
    }
}

/// Which family of media types an image manifest is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ManifestFormat {
    /// OCI image manifest v1.
    Oci,
    /// Docker image manifest v2, schema 2. Keeps Docker-only features like `ONBUILD`.
    Docker,
}

impl ManifestFormat {
    /// The format of an image manifest media type; `None` for indexes and others.
    pub fn of_media_type(media_type: &str) -> Option<Self> {
        match media_type {
            media_type::OCI_MANIFEST => Some(Self::Oci),
            media_type::DOCKER_MANIFEST => Some(Self::Docker),
            _ => None,
        }
    }

    pub fn manifest_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_type::OCI_MANIFEST,
            Self::Docker => media_type::DOCKER_MANIFEST,
        }
    }

    pub fn config_media_type(self) -> &'static str {
        match self {
            Self::Oci => media_type::OCI_CONFIG,
            Self::Docker => media_type::DOCKER_CONFIG,
        }
    }

    /// `media_type` in this format's names: plain and gzip tar layers have one in each family;
    /// any other type (zstd, foreign, artifacts) is kept as it is.
    pub fn layer_media_type(self, layer_media_type: &str) -> String {
        use media_type::*;
        let translated = match (self, layer_media_type) {
            (Self::Oci, DOCKER_LAYER_GZIP) => OCI_LAYER_GZIP,
            (Self::Oci, DOCKER_LAYER_TAR) => OCI_LAYER_TAR,
            (Self::Docker, OCI_LAYER_GZIP) => DOCKER_LAYER_GZIP,
            (Self::Docker, OCI_LAYER_TAR) => DOCKER_LAYER_TAR,
            (_, other) => other,
        };
        translated.to_owned()
    }
}

/// A pointer to content: its media type, digest and size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub urls: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Descriptor {
    pub fn new(media_type: impl Into<String>, digest: Digest, size: u64) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            urls: None,
            annotations: None,
            platform: None,
            extra: Map::new(),
        }
    }

    /// The annotation `org.opencontainers.image.ref.name`, which names images in OCI layouts.
    pub fn ref_name(&self) -> Option<&str> {
        self.annotations
            .as_ref()?
            .get("org.opencontainers.image.ref.name")
            .map(String::as_str)
    }
}

/// The platform an image runs on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    #[serde(
        rename = "os.version",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Platform {
    /// `linux/amd64`, what Astro runs.
    pub fn linux_amd64() -> Self {
        Self {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
            os_version: None,
            extra: Map::new(),
        }
    }

    /// Whether an image for `self` runs where `wanted` is asked for: same OS and architecture,
    /// and the same variant when `wanted` names one.
    pub fn satisfies(&self, wanted: &Platform) -> bool {
        self.os == wanted.os
            && self.architecture == wanted.architecture
            && (wanted.variant.is_none() || self.variant == wanted.variant)
    }
}

/// An image manifest: a config and layers. OCI and Docker schema 2 share this shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    pub config: Descriptor,
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageManifest {
    /// A schema 2 manifest in `format` with this config and these layers.
    pub fn new(format: ManifestFormat, config: Descriptor, layers: Vec<Descriptor>) -> Self {
        Self {
            schema_version: 2,
            media_type: Some(format.manifest_media_type().to_owned()),
            artifact_type: None,
            config,
            layers,
            subject: None,
            annotations: None,
            extra: Map::new(),
        }
    }
}

/// An image index (OCI) or manifest list (Docker): one manifest per platform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Vec<Descriptor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageIndex {
    /// The image manifest for `platform`. Entries that are not image manifests (attestations
    /// carry `unknown/unknown` platforms) never match.
    pub fn manifest_for(&self, platform: &Platform) -> Option<&Descriptor> {
        self.manifests.iter().find(|descriptor| {
            media_type::is_image_manifest(&descriptor.media_type)
                && descriptor
                    .platform
                    .as_ref()
                    .is_some_and(|p| p.satisfies(platform))
        })
    }
}

/// An image config: what the image runs and how its layers stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ContainerConfig>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rootfs: Option<RootFs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<History>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ImageConfig {
    pub fn from_slice(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    pub fn to_vec(&self) -> Result<Vec<u8>, serde_json::Error> {
        serde_json::to_vec(self)
    }

    /// The image's labels; empty when it has none.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.config
            .as_ref()
            .and_then(|c| c.labels.clone().flatten())
            .unwrap_or_default()
    }

    pub fn set_label(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let config = self.config.get_or_insert_with(ContainerConfig::default);
        let labels = config
            .labels
            .get_or_insert(None)
            .get_or_insert_with(BTreeMap::new);
        labels.insert(key.into(), value.into());
    }

    /// The digests of the uncompressed layers, bottom first.
    pub fn diff_ids(&self) -> &[Digest] {
        self.rootfs.as_ref().map_or(&[], |r| r.diff_ids.as_slice())
    }
}

/// The part of a config that says how a container runs (`Env`, `Cmd`, `Labels`, ...); only
/// `Labels` is modelled, the rest stays in `extra`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContainerConfig {
    /// Absent (`None`), `null` (`Some(None)`, as Docker writes it), or a map: all three are
    /// written back as they were read.
    #[serde(
        rename = "Labels",
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub labels: Option<Option<BTreeMap<String, String>>>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The layers' uncompressed digests.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub diff_ids: Vec<Digest>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How one layer (or one metadata-only step, `empty_layer`) came to be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Tells a member that is present (even as `null`) from one that is absent.
fn present<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAYER: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    const CONFIG: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

    fn value(bytes: &[u8]) -> Value {
        serde_json::from_slice(bytes).unwrap()
    }

    #[test]
    fn docker_configs_round_trip_with_every_member() {
        let original = serde_json::json!({
            "architecture": "amd64",
            "os": "linux",
            "created": "2026-01-01T00:00:00Z",
            "docker_version": "24.0.7",
            "container_config": {"Hostname": "x", "Labels": null},
            "config": {
                "Env": ["PATH=/usr/bin"],
                "Cmd": null,
                "OnBuild": ["COPY . ."],
                "Labels": null,
                "ExposedPorts": {"8080/tcp": {}}
            },
            "rootfs": {"type": "layers", "diff_ids": [LAYER]},
            "history": [
                {"created": "2026-01-01T00:00:00Z", "created_by": "RUN x", "x-custom": 1},
                {"created_by": "ENV a=b", "empty_layer": true}
            ],
            "variant": "v8"
        });
        let bytes = serde_json::to_vec(&original).unwrap();

        let config = ImageConfig::from_slice(&bytes).unwrap();
        assert!(config.labels().is_empty());
        assert_eq!(config.diff_ids(), &[Digest::parse(LAYER).unwrap()]);
        assert_eq!(value(&config.to_vec().unwrap()), original);
    }

    #[test]
    fn labels_can_be_set_and_absent_labels_stay_absent() {
        let mut config = ImageConfig::from_slice(br#"{"os":"linux","config":{}}"#).unwrap();
        assert_eq!(
            value(&config.to_vec().unwrap()),
            serde_json::json!({"os": "linux", "config": {}})
        );

        config.set_label("io.astronomer.deploy", "yes");
        assert_eq!(config.labels()["io.astronomer.deploy"], "yes");
        assert_eq!(
            value(&config.to_vec().unwrap())["config"]["Labels"],
            serde_json::json!({"io.astronomer.deploy": "yes"})
        );
    }

    #[test]
    fn manifests_keep_unknown_members_and_translate_layer_types() {
        let original = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::DOCKER_MANIFEST,
            "config": {"mediaType": media_type::DOCKER_CONFIG, "digest": CONFIG, "size": 7},
            "layers": [{
                "mediaType": media_type::DOCKER_LAYER_GZIP, "digest": LAYER, "size": 9,
                "x-extra": true
            }],
            "x-top": "kept"
        });
        let manifest: ImageManifest = serde_json::from_value(original.clone()).unwrap();
        assert_eq!(serde_json::to_value(&manifest).unwrap(), original);

        let format = ManifestFormat::Oci;
        assert_eq!(
            format.layer_media_type(&manifest.layers[0].media_type),
            media_type::OCI_LAYER_GZIP
        );
        assert_eq!(
            ManifestFormat::Docker.layer_media_type(media_type::OCI_LAYER_ZSTD),
            media_type::OCI_LAYER_ZSTD
        );
        assert_eq!(
            ManifestFormat::of_media_type(media_type::DOCKER_MANIFEST),
            Some(ManifestFormat::Docker)
        );
    }

    #[test]
    fn indexes_pick_linux_amd64_and_skip_attestations() {
        let index: ImageIndex = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": media_type::OCI_INDEX,
            "manifests": [
                {"mediaType": media_type::OCI_MANIFEST, "digest": LAYER, "size": 1,
                 "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
                {"mediaType": media_type::OCI_MANIFEST, "digest": CONFIG, "size": 2,
                 "platform": {"architecture": "unknown", "os": "unknown"}},
                {"mediaType": media_type::OCI_MANIFEST, "digest": CONFIG, "size": 3,
                 "platform": {"architecture": "amd64", "os": "linux"}}
            ]
        }))
        .unwrap();
        assert_eq!(
            index.manifest_for(&Platform::linux_amd64()).unwrap().size,
            3
        );

        let mut arm = Platform::linux_amd64();
        arm.architecture = "arm64".into();
        arm.variant = Some("v7".into());
        assert!(index.manifest_for(&arm).is_none());
    }

    #[test]
    fn bad_digests_and_sizes_are_refused() {
        let bad = serde_json::json!({"mediaType": "x", "digest": "sha256:zz", "size": 1});
        assert!(serde_json::from_value::<Descriptor>(bad).is_err());
        let negative = serde_json::json!({"mediaType": "x", "digest": LAYER, "size": -1});
        assert!(serde_json::from_value::<Descriptor>(negative).is_err());
    }
}
