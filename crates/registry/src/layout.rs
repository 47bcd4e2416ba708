//! OCI image layouts on disk (`oci-layout`, `index.json`, `blobs/<algorithm>/<hash>`), as
//! `buildah push IMAGE oci:DIR:TAG`, `skopeo copy` and `umoci` write them: finding an image by
//! its ref name, and reading its manifest, config and the paths of its layer files.
//!
//! Manifests and configs are small and checked against their digests when read. Layers are
//! only checked for presence and size here; their digests are checked as they are uploaded.

use std::path::{Path, PathBuf};

use bytes::Bytes;

use crate::digest::Digest;
use crate::error::Error;
use crate::push::{ImageSource, LayerSource};
use crate::spec::Platform;
use crate::spec::{media_type, Descriptor, ImageConfig, ImageIndex, ImageManifest, ManifestFormat};

/// The largest manifest, index or config read from a layout.
const MAX_DOCUMENT_BYTES: u64 = 16 * 1024 * 1024;

/// An OCI image layout directory.
#[derive(Debug, Clone)]
pub struct OciLayout {
    dir: PathBuf,
    index: ImageIndex,
}

/// One image of a layout: its manifest and config, and where its layers are.
#[derive(Debug, Clone)]
pub struct LocalImage {
    pub manifest_digest: Digest,
    pub manifest_media_type: String,
    pub manifest: ImageManifest,
    /// The manifest exactly as stored.
    pub manifest_bytes: Bytes,
    pub config: ImageConfig,
    /// The config exactly as stored: push these bytes unless the config changes.
    pub config_bytes: Bytes,
    pub layers: Vec<LocalLayer>,
}

/// A layer of a local image, in a file.
#[derive(Debug, Clone)]
pub struct LocalLayer {
    pub descriptor: Descriptor,
    pub path: PathBuf,
}

impl OciLayout {
    /// Reads the layout's `oci-layout` marker and `index.json`.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, Error> {
        let dir = dir.as_ref().to_owned();
        let fail = |reason: String| Error::Layout {
            dir: dir.clone(),
            reason,
        };

        #[derive(serde::Deserialize)]
        #[serde(rename_all = "camelCase")]
        struct Marker {
            image_layout_version: String,
        }
        let marker = read_document(&dir.join("oci-layout"))?;
        let marker: Marker = serde_json::from_slice(&marker)
            .map_err(|_| fail("`oci-layout` does not name an `imageLayoutVersion`".into()))?;
        if !marker.image_layout_version.starts_with("1.") {
            return Err(fail(format!(
                "its layout version `{}` is not 1.x",
                marker.image_layout_version
            )));
        }

        let index = read_document(&dir.join("index.json"))?;
        let index: ImageIndex = serde_json::from_slice(&index).map_err(|source| Error::Decode {
            what: format!("`{}`", dir.join("index.json").display()),
            source,
        })?;
        Ok(Self { dir, index })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub fn index(&self) -> &ImageIndex {
        &self.index
    }

    /// The names of the images (`org.opencontainers.image.ref.name`), in index order.
    pub fn ref_names(&self) -> Vec<&str> {
        self.index
            .manifests
            .iter()
            .filter_map(Descriptor::ref_name)
            .collect()
    }

    /// Where the layout keeps the blob `digest`.
    pub fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.encoded())
    }

    /// The image named `ref_name`, or the only image when no name is given. An entry that is
    /// an index is followed to its image for `platform`.
    pub fn image(&self, ref_name: Option<&str>, platform: &Platform) -> Result<LocalImage, Error> {
        let entry = self.entry(ref_name)?;
        let (manifest_digest, manifest_media_type, manifest_bytes) =
            self.image_manifest(entry, platform)?;
        let manifest: ImageManifest =
            serde_json::from_slice(&manifest_bytes).map_err(|source| Error::Decode {
                what: format!("the image manifest `{manifest_digest}`"),
                source,
            })?;

        let config_bytes = self.read_blob(&manifest.config)?;
        let config = ImageConfig::from_slice(&config_bytes).map_err(|source| Error::Decode {
            what: format!("the image config `{}`", manifest.config.digest),
            source,
        })?;
        let layers = manifest
            .layers
            .iter()
            .map(|descriptor| self.layer(descriptor))
            .collect::<Result<_, _>>()?;

        Ok(LocalImage {
            manifest_digest,
            manifest_media_type,
            manifest,
            manifest_bytes,
            config,
            config_bytes,
            layers,
        })
    }

    fn entry(&self, ref_name: Option<&str>) -> Result<&Descriptor, Error> {
        let manifests = &self.index.manifests;
        let names = || {
            let names = self.ref_names();
            if names.is_empty() {
                "none is named".to_owned()
            } else {
                format!("it holds {}", names.join(", "))
            }
        };
        match ref_name {
            Some(name) => manifests
                .iter()
                .find(|d| d.ref_name() == Some(name))
                .ok_or_else(|| self.fail(format!("no image is named `{name}`: {}", names()))),
            None => match manifests.as_slice() {
                [only] => Ok(only),
                [] => Err(self.fail("`index.json` lists no image".into())),
                _ => Err(self.fail(format!(
                    "it holds {} images, so one must be named: {}",
                    manifests.len(),
                    names()
                ))),
            },
        }
    }

    fn image_manifest(
        &self,
        entry: &Descriptor,
        platform: &Platform,
    ) -> Result<(Digest, String, Bytes), Error> {
        let mut descriptor = entry.clone();
        if media_type::is_index(&descriptor.media_type) {
            let bytes = self.read_blob(&descriptor)?;
            let index: ImageIndex =
                serde_json::from_slice(&bytes).map_err(|source| Error::Decode {
                    what: format!("the image index `{}`", descriptor.digest),
                    source,
                })?;
            descriptor = index.manifest_for(platform).cloned().ok_or_else(|| {
                self.fail(format!(
                    "the index `{}` has no image for `{}/{}`",
                    descriptor.digest, platform.os, platform.architecture
                ))
            })?;
        }
        if !media_type::is_image_manifest(&descriptor.media_type) {
            return Err(self.fail(format!(
                "`{}` is a `{}`, not an image manifest",
                descriptor.digest, descriptor.media_type
            )));
        }

        let bytes = self.read_blob(&descriptor)?;
        Ok((descriptor.digest, descriptor.media_type, bytes))
    }

    /// Reads a small blob and checks its size and digest.
    fn read_blob(&self, descriptor: &Descriptor) -> Result<Bytes, Error> {
        let path = self.blob_path(&descriptor.digest);
        if descriptor.size > MAX_DOCUMENT_BYTES {
            return Err(self.fail(format!(
                "`{}` is {} bytes, too large for a manifest or config",
                descriptor.digest, descriptor.size
            )));
        }
        let bytes = read_document(&path)?;
        if bytes.len() as u64 != descriptor.size {
            return Err(self.fail(format!(
                "`{}` holds {} bytes, not the {} its descriptor says",
                path.display(),
                bytes.len(),
                descriptor.size
            )));
        }
        let operation = format!("reading `{}`", path.display());
        crate::blobs::check_content(&operation, &descriptor.digest, &bytes)?;
        Ok(bytes)
    }

    fn layer(&self, descriptor: &Descriptor) -> Result<LocalLayer, Error> {
        let path = self.blob_path(&descriptor.digest);
        let metadata = std::fs::metadata(&path).map_err(|_| {
            self.fail(format!(
                "layer `{}` is not in the layout (no `{}`)",
                descriptor.digest,
                path.display()
            ))
        })?;
        if metadata.len() != descriptor.size {
            return Err(self.fail(format!(
                "layer file `{}` holds {} bytes, not the {} its descriptor says",
                path.display(),
                metadata.len(),
                descriptor.size
            )));
        }
        Ok(LocalLayer {
            descriptor: descriptor.clone(),
            path,
        })
    }

    fn fail(&self, reason: String) -> Error {
        Error::Layout {
            dir: self.dir.clone(),
            reason,
        }
    }
}

impl LocalImage {
    /// What [`crate::push_image`] needs to push this image as it is: its layer files, its
    /// config bytes, and its manifest, which keeps its digest unless the source is changed.
    pub fn to_source(&self) -> ImageSource {
        let format =
            ManifestFormat::of_media_type(&self.manifest_media_type).unwrap_or(ManifestFormat::Oci);
        let layers = self
            .layers
            .iter()
            .map(|layer| {
                let d = &layer.descriptor;
                LayerSource::file(&d.media_type, d.digest.clone(), d.size, &layer.path)
            })
            .collect();
        ImageSource {
            format,
            config: self.config_bytes.clone(),
            layers,
            annotations: self.manifest.annotations.clone().filter(|a| !a.is_empty()),
            stored_manifest: Some(self.manifest_bytes.clone()),
        }
    }
}

fn read_document(path: &Path) -> Result<Bytes, Error> {
    let io = |source| Error::Io {
        action: "reading",
        path: path.to_owned(),
        source,
    };
    let size = std::fs::metadata(path).map_err(io)?.len();
    if size > MAX_DOCUMENT_BYTES {
        return Err(Error::Layout {
            dir: path.parent().unwrap_or(path).to_owned(),
            reason: format!("`{}` is too large for a manifest or config", path.display()),
        });
    }
    std::fs::read(path).map(Bytes::from).map_err(io)
}
