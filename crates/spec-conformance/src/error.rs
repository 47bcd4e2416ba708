//! Why a spec could not be loaded.

use std::path::PathBuf;

/// A failure to turn an OpenAPI file into a [`Spec`](crate::Spec).
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("reading `{}`", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The file is not YAML (JSON is YAML too).
    #[error("parsing `{name}` as YAML")]
    Yaml {
        name: String,
        #[source]
        source: serde_norway::Error,
    },

    /// The document is YAML but not an OpenAPI 3.0 description this crate can use (including a
    /// schema that the JSON Schema compiler refuses once converted).
    #[error("reading `{name}` as OpenAPI 3.0: {at}: {problem}")]
    Invalid {
        name: String,
        at: String,
        problem: String,
    },
}
