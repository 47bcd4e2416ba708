//! Pushing an image: its layers, then its config, then its manifest, so that a tag never
//! points at a blob the registry does not have.
//!
//! Each layer is pushed the cheapest way that works: nothing when the target repository has it,
//! a cross-repository mount when another repository of the same registry has it, else an upload
//! from its file. Several layers go at once. What happens to each is reported through
//! [`PushProgress`], so a terminal can draw bars and a CI log can print lines; this crate
//! itself prints nothing.
//
// Known shortcoming: a layer that is only in another registry (a base image on quay.io, for a
// push to Astro's registry) cannot be pushed: it fails with `LayerUnavailable`. Copying it
// would take a client of that registry streaming the blob into the upload; until then, callers
// download such layers to files first (`get_blob_to_file`).

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;

use bytes::Bytes;
use futures::{StreamExt as _, TryStreamExt as _};

use crate::auth::Access;
use crate::client::RegistryClient;
use crate::digest::Digest;
use crate::error::Error;
use crate::reference::ImageReference;
use crate::spec::{media_type, Descriptor, ImageManifest, ManifestFormat};

/// An image to push: its layers, its config and the manifest format to write.
#[derive(Debug, Clone)]
pub struct ImageSource {
    pub format: ManifestFormat,
    /// The config exactly as it is to be stored.
    pub config: Bytes,
    /// Bottom layer first.
    pub layers: Vec<LayerSource>,
    /// The manifest's annotations. Docker schema 2 manifests have none: they are left out
    /// there.
    pub annotations: Option<BTreeMap<String, String>>,
    /// The manifest as stored with a local image. It is written unchanged, so the image keeps
    /// its digest, as long as it still describes the format, config, layers and annotations
    /// above; otherwise a new manifest is written.
    pub stored_manifest: Option<Bytes>,
}

/// Where a layer can come from: a local file, a repository of the same registry, or both.
#[derive(Debug, Clone)]
pub struct LayerSource {
    /// As given; written in the format's names where it has one (see
    /// [`ManifestFormat::layer_media_type`]).
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    pub file: Option<PathBuf>,
    pub origin: Option<BlobOrigin>,
}

/// A repository that holds a blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobOrigin {
    /// The registry host, as image references name it.
    pub registry: String,
    pub repository: String,
}

impl BlobOrigin {
    /// The repository `reference` points into.
    pub fn of(reference: &ImageReference) -> Self {
        Self {
            registry: reference.registry().to_owned(),
            repository: reference.repository().to_owned(),
        }
    }
}

impl LayerSource {
    /// A layer in a local file.
    pub fn file(
        media_type: impl Into<String>,
        digest: Digest,
        size: u64,
        path: impl Into<PathBuf>,
    ) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            file: Some(path.into()),
            origin: None,
        }
    }

    /// A layer that is already in a registry repository (a base image's layer, say).
    pub fn in_registry(
        media_type: impl Into<String>,
        digest: Digest,
        size: u64,
        origin: BlobOrigin,
    ) -> Self {
        Self {
            media_type: media_type.into(),
            digest,
            size,
            file: None,
            origin: Some(origin),
        }
    }

    /// Also names a repository that holds the layer, to mount it from before uploading.
    pub fn with_origin(mut self, origin: BlobOrigin) -> Self {
        self.origin = Some(origin);
        self
    }
}

impl ImageSource {
    /// The manifest that `push_image` writes for this source.
    pub fn manifest(&self) -> ImageManifest {
        let config = Descriptor::new(
            self.format.config_media_type(),
            Digest::sha256(&self.config),
            self.config.len() as u64,
        );
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let media_type = self.format.layer_media_type(&layer.media_type);
                Descriptor::new(media_type, layer.digest.clone(), layer.size)
            })
            .collect();

        let mut manifest = ImageManifest::new(self.format, config, layers);
        if self.format == ManifestFormat::Oci {
            manifest.annotations = self.annotations.clone();
        }
        manifest
    }

    /// The bytes `push_image` writes: the stored manifest when it still fits, else
    /// [`ImageSource::manifest`] serialized.
    pub fn manifest_bytes(&self) -> Result<Bytes, serde_json::Error> {
        let built = self.manifest();
        if let Some(stored) = &self.stored_manifest {
            let fits = serde_json::from_slice::<ImageManifest>(stored)
                .is_ok_and(|stored| describes_the_same(&stored, &built));
            if fits {
                return Ok(stored.clone());
            }
            tracing::debug!("the stored manifest no longer fits the image; writing a new one");
        }
        serde_json::to_vec(&built).map(Bytes::from)
    }
}

/// Same media type, config, layers and annotations, as far as a registry and a runtime care.
fn describes_the_same(stored: &ImageManifest, built: &ImageManifest) -> bool {
    let same = |a: &Descriptor, b: &Descriptor| {
        a.media_type == b.media_type && a.digest == b.digest && a.size == b.size
    };
    // OCI manifests may leave out `mediaType`; Docker's always have it.
    let stored_type = stored
        .media_type
        .as_deref()
        .unwrap_or(media_type::OCI_MANIFEST);
    Some(stored_type) == built.media_type.as_deref()
        && same(&stored.config, &built.config)
        && stored.layers.len() == built.layers.len()
        && stored
            .layers
            .iter()
            .zip(&built.layers)
            .all(|(a, b)| same(a, b))
        && stored.annotations.as_ref().filter(|a| !a.is_empty())
            == built.annotations.as_ref().filter(|a| !a.is_empty())
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushReport {
    /// The target with the manifest's digest.
    pub reference: ImageReference,
    pub manifest_digest: Digest,
    /// Layers the target repository already had.
    pub layers_skipped: usize,
    /// Layers linked from another repository of the registry.
    pub layers_mounted: usize,
    pub layers_uploaded: usize,
    pub config_uploaded: bool,
    /// The sizes of the layers and config that were uploaded; bytes sent again after a failed
    /// attempt are not counted twice, and the manifest is not counted.
    pub bytes_uploaded: u64,
}

/// Hears what a push does, layer by layer. Calls may come from several layers at once, in any
/// interleaving; for one layer they come in order: `layer_started`, then `layer_skipped`,
/// `layer_mounted`, or `layer_bytes_sent` any number of times and `layer_uploaded`.
pub trait PushProgress: Send + Sync {
    /// A layer's push begins; `size` is its stored (compressed) size.
    fn layer_started(&self, _digest: &Digest, _size: u64) {}

    /// The registry holds `sent` bytes of the layer being uploaded. It goes back to zero when
    /// an upload has to start over.
    fn layer_bytes_sent(&self, _digest: &Digest, _sent: u64) {}

    /// The target repository already had the layer; nothing was sent.
    fn layer_skipped(&self, _digest: &Digest) {}

    /// The registry linked the layer from `from_repository`; nothing was sent.
    fn layer_mounted(&self, _digest: &Digest, _from_repository: &str) {}

    /// The layer's upload is done, committed by the registry.
    fn layer_uploaded(&self, _digest: &Digest) {}

    /// The manifest was written: `target` now names the image `digest`.
    fn manifest_written(&self, _target: &ImageReference, _digest: &Digest) {}
}

/// Progress that nobody watches.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl PushProgress for NoProgress {}

enum LayerOutcome {
    Skipped,
    Mounted,
    Uploaded(u64),
}

/// Pushes `source` to `target` through `client`, which must be a client of `target`'s
/// registry: layers (at most `parallel_layers` at once), then the config, then the manifest.
pub async fn push_image(
    client: &RegistryClient,
    source: &ImageSource,
    target: &ImageReference,
    progress: &dyn PushProgress,
) -> Result<PushReport, Error> {
    if client.host() != target.registry() {
        return Err(Error::WrongRegistry {
            target: target.to_string(),
            registry: client.host().to_owned(),
        });
    }
    let repository = target.repository();

    // An image may list one layer twice (two identical empty layers); push it once.
    let mut seen = HashSet::new();
    let layers: Vec<&LayerSource> = source
        .layers
        .iter()
        .filter(|layer| seen.insert(&layer.digest))
        .collect();
    tracing::info!(%target, layers = layers.len(), "pushing the image");

    let parallel = client.config().parallel_layers.max(1);
    let outcomes: Vec<LayerOutcome> = futures::stream::iter(layers)
        .map(|layer| push_layer(client, layer, target, progress))
        .buffer_unordered(parallel)
        .try_collect()
        .await?;

    let config_digest = Digest::sha256(&source.config);
    let access = Access::Push(repository.to_owned());
    let config_uploaded = match client.head_blob(repository, &config_digest, access).await? {
        Some(_) => false,
        None => {
            client
                .upload_blob_bytes(repository, &config_digest, source.config.clone())
                .await?;
            true
        }
    };

    let bytes = source.manifest_bytes().map_err(|source| Error::Decode {
        what: format!("the manifest for `{target}`"),
        source,
    })?;
    let media_type = source.format.manifest_media_type();
    let manifest_digest = client
        .put_manifest(repository, &target.reference(), media_type, bytes)
        .await?;
    progress.manifest_written(target, &manifest_digest);
    tracing::info!(%target, digest = %manifest_digest, "pushed the image");

    Ok(report(
        target,
        manifest_digest,
        &outcomes,
        config_uploaded.then_some(source.config.len() as u64),
    ))
}

async fn push_layer(
    client: &RegistryClient,
    layer: &LayerSource,
    target: &ImageReference,
    progress: &dyn PushProgress,
) -> Result<LayerOutcome, Error> {
    let repository = target.repository();
    let digest = &layer.digest;
    progress.layer_started(digest, layer.size);

    let access = Access::Push(repository.to_owned());
    if let Some(size) = client.head_blob(repository, digest, access).await? {
        if size != layer.size {
            tracing::warn!(%digest, size, expected = layer.size, "the registry's size differs");
        }
        tracing::debug!(%digest, "the layer is already there");
        progress.layer_skipped(digest);
        return Ok(LayerOutcome::Skipped);
    }

    let mountable = layer.origin.as_ref().filter(|origin| {
        origin.registry.eq_ignore_ascii_case(target.registry()) && origin.repository != repository
    });
    if let Some(origin) = mountable {
        match client
            .mount_blob(repository, digest, &origin.repository)
            .await
        {
            Ok(true) => {
                progress.layer_mounted(digest, &origin.repository);
                return Ok(LayerOutcome::Mounted);
            }
            Ok(false) => {}
            // A repository the credentials may not read is no reason to fail the push when
            // the layer can still be uploaded.
            Err(error)
                if layer.file.is_some() && matches!(error.status(), Some(401 | 403 | 404)) =>
            {
                tracing::debug!(%digest, "mount refused, uploading instead: {error}");
            }
            Err(error) => return Err(error),
        }
    }

    let Some(path) = &layer.file else {
        return Err(Error::LayerUnavailable {
            digest: digest.clone(),
            target: target.to_string(),
        });
    };
    tracing::info!(%digest, size = layer.size, "uploading a layer");
    let on_progress = |sent| progress.layer_bytes_sent(digest, sent);
    client
        .upload_blob_file(repository, digest, layer.size, path, &on_progress)
        .await?;
    progress.layer_uploaded(digest);
    Ok(LayerOutcome::Uploaded(layer.size))
}

fn report(
    target: &ImageReference,
    manifest_digest: Digest,
    outcomes: &[LayerOutcome],
    config_bytes: Option<u64>,
) -> PushReport {
    let count = |wanted: fn(&LayerOutcome) -> bool| outcomes.iter().filter(|o| wanted(o)).count();
    let layer_bytes: u64 = outcomes
        .iter()
        .map(|o| match o {
            LayerOutcome::Uploaded(size) => *size,
            _ => 0,
        })
        .sum();
    PushReport {
        reference: target.pinned(manifest_digest.clone()),
        manifest_digest,
        layers_skipped: count(|o| matches!(o, LayerOutcome::Skipped)),
        layers_mounted: count(|o| matches!(o, LayerOutcome::Mounted)),
        layers_uploaded: count(|o| matches!(o, LayerOutcome::Uploaded(_))),
        config_uploaded: config_bytes.is_some(),
        bytes_uploaded: layer_bytes + config_bytes.unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(format: ManifestFormat) -> ImageSource {
        let layer = Digest::sha256(b"layer");
        ImageSource {
            format,
            config: Bytes::from_static(b"{}"),
            layers: vec![LayerSource::file(
                media_type::OCI_LAYER_GZIP,
                layer,
                5,
                "/nonexistent",
            )],
            annotations: Some(BTreeMap::from([("a".to_owned(), "b".to_owned())])),
            stored_manifest: None,
        }
    }

    #[test]
    fn a_stored_manifest_is_kept_only_while_it_fits() {
        let mut source = source(ManifestFormat::Oci);
        let mut stored = serde_json::to_value(source.manifest()).unwrap();
        stored["x-written-by"] = "a builder".into();
        let stored = Bytes::from(serde_json::to_vec_pretty(&stored).unwrap());
        source.stored_manifest = Some(stored.clone());
        assert_eq!(source.manifest_bytes().unwrap(), stored);

        source.format = ManifestFormat::Docker;
        let rebuilt = source.manifest_bytes().unwrap();
        assert_ne!(rebuilt, stored);
        assert!(String::from_utf8_lossy(&rebuilt).contains(media_type::DOCKER_MANIFEST));

        source.format = ManifestFormat::Oci;
        let mut without_type = source.manifest();
        without_type.media_type = None;
        let without_type = Bytes::from(serde_json::to_vec(&without_type).unwrap());
        source.stored_manifest = Some(without_type.clone());
        assert_eq!(source.manifest_bytes().unwrap(), without_type);

        source.layers.pop();
        assert_ne!(source.manifest_bytes().unwrap(), stored);
    }

    #[test]
    fn manifests_use_the_format_names_and_the_config_digest() {
        let docker = source(ManifestFormat::Docker).manifest();
        assert_eq!(
            docker.media_type.as_deref(),
            Some(media_type::DOCKER_MANIFEST)
        );
        assert_eq!(docker.config.media_type, media_type::DOCKER_CONFIG);
        assert_eq!(docker.config.digest, Digest::sha256(b"{}"));
        assert_eq!(docker.config.size, 2);
        assert_eq!(docker.layers[0].media_type, media_type::DOCKER_LAYER_GZIP);
        assert_eq!(docker.annotations, None);

        let oci = source(ManifestFormat::Oci).manifest();
        assert_eq!(oci.layers[0].media_type, media_type::OCI_LAYER_GZIP);
        assert_eq!(oci.annotations.unwrap()["a"], "b");
    }

    #[tokio::test]
    async fn a_client_of_another_registry_is_refused_before_any_request() {
        let client = RegistryClient::new(crate::RegistryConfig::new("127.0.0.1:1")).unwrap();
        let target = ImageReference::parse("images.astronomer.cloud/c/d:t").unwrap();
        let err = push_image(&client, &source(ManifestFormat::Oci), &target, &NoProgress)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::WrongRegistry { .. }), "{err}");
    }
}
