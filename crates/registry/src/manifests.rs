//! Manifests: reading them (image manifests and indexes, OCI and Docker) with their digest
//! checked, following an index to one platform's image, and writing them.

use bytes::Bytes;
use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use reqwest::Method;

use crate::auth::Access;
use crate::client::{read_limited, Call, ReadError, RegistryClient};
use crate::digest::Digest;
use crate::error::Error;
use crate::reference::{validate_manifest_reference, validate_repository};
use crate::retry::Attempts;
use crate::spec::{media_type, ImageIndex, ImageManifest, Platform};

/// The largest manifest read, as distribution limits them.
pub const MAX_MANIFEST_BYTES: u64 = 4 * 1024 * 1024;

const DOCKER_CONTENT_DIGEST: &str = "docker-content-digest";

/// A manifest as the registry holds it: its bytes, exactly, and what they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub media_type: String,
    pub digest: Digest,
    pub bytes: Bytes,
}

impl Manifest {
    pub fn is_index(&self) -> bool {
        media_type::is_index(&self.media_type)
    }

    /// The manifest as an image manifest; an index is an error that says so.
    pub fn image(&self) -> Result<ImageManifest, Error> {
        if self.is_index() {
            return Err(self.not_a("an image manifest"));
        }
        serde_json::from_slice(&self.bytes).map_err(|source| Error::Decode {
            what: format!("the image manifest `{}`", self.digest),
            source,
        })
    }

    /// The manifest as an index (manifest list); an image manifest is an error that says so.
    pub fn index(&self) -> Result<ImageIndex, Error> {
        if !self.is_index() {
            return Err(self.not_a("an image index"));
        }
        serde_json::from_slice(&self.bytes).map_err(|source| Error::Decode {
            what: format!("the image index `{}`", self.digest),
            source,
        })
    }

    fn not_a(&self, wanted: &'static str) -> Error {
        Error::ManifestKind {
            digest: self.digest.clone(),
            media_type: self.media_type.clone(),
            wanted,
        }
    }
}

impl RegistryClient {
    /// Reads the manifest `reference` (a tag or a digest) of `repository`. Its digest is
    /// computed from the bytes and must match the reference, when that is a digest, and the
    /// registry's `Docker-Content-Digest`.
    pub async fn get_manifest(&self, repository: &str, reference: &str) -> Result<Manifest, Error> {
        validate_repository(repository)?;
        validate_manifest_reference(reference)?;
        let operation = format!("getting manifest `{reference}`");
        let url = self.api_url(&format!("{repository}/manifests/{reference}"));
        let access = Access::Pull(repository.to_owned());
        let call = Call::new(Method::GET, url, repository, &operation, access, &[200])
            .header(ACCEPT, media_type::MANIFEST_ACCEPT);

        let (header_type, header_digest, bytes) = self.read_manifest(&call).await?;

        let digest = Digest::sha256(&bytes);
        let claimed = Digest::parse(reference).ok().or(header_digest);
        if let Some(claimed) = claimed.filter(|d| d.algorithm() == "sha256") {
            if claimed != digest {
                return Err(Error::DigestMismatch {
                    operation,
                    expected: claimed,
                    actual: digest,
                });
            }
        }
        let media_type = header_type
            .filter(|t| t.starts_with("application/vnd."))
            .or_else(|| embedded_media_type(&bytes))
            .unwrap_or_else(|| media_type::OCI_MANIFEST.to_owned());
        Ok(Manifest {
            media_type,
            digest,
            bytes,
        })
    }

    /// Sends `call` and reads the manifest it answers with: its `Content-Type`, its
    /// `Docker-Content-Digest` and its bytes. A body that breaks off is asked for again.
    async fn read_manifest(
        &self,
        call: &Call<'_>,
    ) -> Result<(Option<String>, Option<Digest>, Bytes), Error> {
        let mut attempts = Attempts::new(&self.config().retry);
        loop {
            let response = self.send(call).await?;
            let media_type = content_type(response.headers().get(CONTENT_TYPE));
            let digest = response
                .headers()
                .get(DOCKER_CONTENT_DIGEST)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| Digest::parse(v).ok());

            let source = match read_limited(response, MAX_MANIFEST_BYTES as usize).await {
                Ok(bytes) => return Ok((media_type, digest, bytes)),
                Err(ReadError::TooLarge) => {
                    return Err(Error::TooLarge {
                        operation: call.operation.to_owned(),
                        limit: MAX_MANIFEST_BYTES,
                    })
                }
                Err(ReadError::Transport(source)) => source,
            };
            let Some(delay) = attempts.failed(None) else {
                return Err(self.transport_error(call, attempts.count(), source));
            };
            tokio::time::sleep(delay).await;
        }
    }

    /// Reads the image for `platform` at `reference`: the manifest itself, or, when it is an
    /// index, the entry for `platform`.
    pub async fn get_image_manifest(
        &self,
        repository: &str,
        reference: &str,
        platform: &Platform,
    ) -> Result<(Manifest, ImageManifest), Error> {
        let manifest = self.get_manifest(repository, reference).await?;
        if !manifest.is_index() {
            let image = manifest.image()?;
            return Ok((manifest, image));
        }

        let index = manifest.index()?;
        let entry = index
            .manifest_for(platform)
            .ok_or_else(|| Error::Protocol {
                operation: format!("getting manifest `{reference}`"),
                registry: self.host().to_owned(),
                repository: repository.to_owned(),
                reason: format!(
                    "the index has no image for `{}/{}`",
                    platform.os, platform.architecture
                ),
            })?;
        tracing::debug!(digest = %entry.digest, "following the index to the platform's image");
        let manifest = self.get_manifest(repository, entry.digest.as_str()).await?;
        let image = manifest.image()?;
        Ok((manifest, image))
    }

    /// Writes a manifest under `reference` (a tag or its digest) and returns its digest. Every
    /// blob it names must already be in `repository`.
    pub async fn put_manifest(
        &self,
        repository: &str,
        reference: &str,
        media_type: &str,
        bytes: Bytes,
    ) -> Result<Digest, Error> {
        validate_repository(repository)?;
        validate_manifest_reference(reference)?;
        let operation = format!("writing manifest `{reference}`");
        let digest = Digest::sha256(&bytes);
        let content_type = HeaderValue::from_str(media_type).map_err(|_| Error::Protocol {
            operation: operation.clone(),
            registry: self.host().to_owned(),
            repository: repository.to_owned(),
            reason: format!("`{media_type}` is not a media type"),
        })?;
        let url = self.api_url(&format!("{repository}/manifests/{reference}"));
        let access = Access::Push(repository.to_owned());
        let call = Call::new(Method::PUT, url, repository, &operation, access, &[201])
            .header_value(CONTENT_TYPE, content_type)
            .body(bytes);

        let response = self.send(&call).await?;
        let stored = response
            .headers()
            .get(DOCKER_CONTENT_DIGEST)
            .and_then(|v| v.to_str().ok());
        if let Some(stored) = stored.filter(|s| *s != digest.as_str()) {
            return Err(self.protocol_error(
                &call,
                &format!("it stored the manifest `{digest}` as `{stored}`"),
            ));
        }
        tracing::debug!(repository, reference, %digest, "manifest written");
        Ok(digest)
    }
}

/// The media type without parameters (`; charset=utf-8`).
fn content_type(value: Option<&HeaderValue>) -> Option<String> {
    let text = value?.to_str().ok()?;
    let bare = text.split(';').next()?.trim();
    (!bare.is_empty()).then(|| bare.to_owned())
}

/// The `mediaType` member a manifest carries inside.
fn embedded_media_type(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Probe {
        media_type: Option<String>,
    }
    serde_json::from_slice::<Probe>(bytes).ok()?.media_type
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_come_from_the_header_or_the_body() {
        let header = HeaderValue::from_static("application/vnd.oci.image.index.v1+json; x=y");
        assert_eq!(
            content_type(Some(&header)).as_deref(),
            Some(media_type::OCI_INDEX)
        );
        assert_eq!(
            embedded_media_type(
                br#"{"mediaType":"application/vnd.docker.distribution.manifest.v2+json"}"#
            )
            .as_deref(),
            Some(media_type::DOCKER_MANIFEST)
        );
    }

    #[test]
    fn an_index_is_not_an_image() {
        let manifest = Manifest {
            media_type: media_type::OCI_INDEX.into(),
            digest: Digest::sha256(b"{}"),
            bytes: Bytes::from_static(br#"{"schemaVersion":2,"manifests":[]}"#),
        };
        let err = manifest.image().unwrap_err();
        assert!(
            err.to_string()
                .contains("as an image manifest: it is `application/vnd.oci.image.index.v1+json`"),
            "{err}"
        );
        assert!(manifest.index().unwrap().manifests.is_empty());
    }
}
