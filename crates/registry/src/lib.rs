//! An OCI distribution client: pushes and pulls images over the registry HTTP API, without a
//! container engine.
//!
//! [`RegistryClient`] speaks to one registry: authentication (Basic, or bearer tokens per
//! scope), retries, blob and manifest operations, each checking digests. [`push_image`] pushes
//! an [`ImageSource`] (layer files or blobs already in the registry, a config, a manifest
//! format) layers first and manifest last, skipping and mounting what it can, and reports
//! through [`PushProgress`]. [`OciLayout`] reads images that local builders wrote to disk.
//!
//! The crate knows HTTP and files only: it reads no environment variables and prints nothing.
//! Passwords and tokens never appear in its logs, errors or `Debug` output.
//!
//! Why not an OCI crate: in `oci-client` 0.18 and `oci-distribution` 0.11, the latest on
//! crates.io, an image push takes every layer as bytes in memory, and no request is retried or
//! reports progress; a deploy pushes layer files of hundreds of megabytes from CI runners, per
//! layer on screen. `oci-client` also builds on reqwest 0.13, where this workspace uses 0.12.

mod auth;
mod blobs;
mod client;
mod digest;
mod error;
mod layout;
mod manifests;
mod push;
mod reference;
mod retry;
mod spec;

pub use auth::{Credentials, Secret};
pub use blobs::MAX_BLOB_BYTES;
pub use client::{RegistryClient, RegistryConfig};
pub use digest::{Digest, DigestError};
pub use error::{Error, ErrorDetail, RegistryError};
pub use layout::{LocalImage, LocalLayer, OciLayout};
pub use manifests::{Manifest, MAX_MANIFEST_BYTES};
pub use push::{
    push_image, BlobOrigin, ImageSource, LayerSource, NoProgress, PushProgress, PushReport,
};
pub use reference::{ImageReference, ReferenceError, DOCKER_HUB};
pub use retry::RetryPolicy;
pub use spec::{
    media_type, ContainerConfig, Descriptor, History, ImageConfig, ImageIndex, ImageManifest,
    ManifestFormat, Platform, RootFs,
};
