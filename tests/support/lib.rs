//! Helpers for the end-to-end tests: where the repository and the installed test dependencies
//! are, and the real parts (Azurite) that tests start for themselves on loopback.

use std::path::PathBuf;

pub mod azurite;
pub mod cli;
pub mod fake_github;
pub mod fake_gitlab;
pub mod git;
pub mod image_setup;
pub mod registry;
pub mod runtime_image;

/// The repository root: the parent of this package's directory (`tests/`).
pub fn repo_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    match manifest_dir.parent() {
        Some(root) => root.to_path_buf(),
        None => manifest_dir,
    }
}

/// Where `scripts/install-test-deps.sh` put the test dependencies: `ASTRO_DEPLOY_TEST_DEPS`
/// when set and non-empty, else `<repo>/.test-deps`.
pub fn test_deps_dir() -> PathBuf {
    match std::env::var_os("ASTRO_DEPLOY_TEST_DEPS") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => repo_root().join(".test-deps"),
    }
}
