//! Where the bytes of DAG bundles live: in memory, or in files beside the state file.
//!
//! The state file holds only what describes a blob (its version ids, its block list); the bytes
//! go here, one file per committed blob or uncommitted block, so that a state file stays small
//! and readable. Keys are built by the emulator from deploy ids it generated and hex-encoded
//! block ids, so they never carry a client's path.
//!
//! Known shortcoming: files are written with blocking IO while the state lock is held, so a
//! large upload stalls other requests for as long as its write takes. Bundles are small and the
//! emulator serves one pipeline at a time; writing through `spawn_blocking` outside the lock,
//! then committing the metadata, would remove the stall.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

/// Bytes by key (`<deployId>/dags.tar.gz`, `<deployId>/blocks/<hex>`).
#[derive(Debug)]
pub(crate) enum BlobStore {
    Memory(HashMap<String, Vec<u8>>),
    Dir(PathBuf),
}

/// The key of a deploy's committed bundle.
pub(crate) fn committed_key(deploy_id: &str) -> String {
    format!("{deploy_id}/dags.tar.gz")
}

/// The key of an uncommitted block, named by the hex of its decoded id.
pub(crate) fn block_key(deploy_id: &str, block_id: &[u8]) -> String {
    let hex: String = block_id.iter().map(|byte| format!("{byte:02x}")).collect();
    format!("{deploy_id}/blocks/{hex}")
}

impl BlobStore {
    /// A store in the folder `<state file>.blobs/`.
    pub(crate) fn beside(state_file: &Path) -> Self {
        let mut name = state_file.as_os_str().to_owned();
        name.push(".blobs");
        Self::Dir(PathBuf::from(name))
    }

    pub(crate) fn get(&self, key: &str) -> io::Result<Option<Vec<u8>>> {
        match self {
            Self::Memory(map) => Ok(map.get(key).cloned()),
            Self::Dir(root) => match std::fs::read(root.join(key)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
                Err(error) => Err(error),
            },
        }
    }

    /// Writes through a temporary file and a rename, so a crash never leaves half a bundle.
    pub(crate) fn put(&mut self, key: &str, bytes: &[u8]) -> io::Result<()> {
        match self {
            Self::Memory(map) => {
                map.insert(key.to_owned(), bytes.to_vec());
                Ok(())
            }
            Self::Dir(root) => {
                let path = root.join(key);
                if let Some(parent) = path.parent() {
                    std::fs::create_dir_all(parent)?;
                }
                let temporary = path.with_extension("partial");
                std::fs::write(&temporary, bytes)?;
                std::fs::rename(&temporary, &path)
            }
        }
    }

    pub(crate) fn remove(&mut self, key: &str) -> io::Result<()> {
        match self {
            Self::Memory(map) => {
                map.remove(key);
                Ok(())
            }
            Self::Dir(root) => match std::fs::remove_file(root.join(key)) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            },
        }
    }

    /// Forgets everything stored for a deploy.
    pub(crate) fn remove_deploy(&mut self, deploy_id: &str) -> io::Result<()> {
        match self {
            Self::Memory(map) => {
                let prefix = format!("{deploy_id}/");
                map.retain(|key, _| !key.starts_with(&prefix));
                Ok(())
            }
            Self::Dir(root) => match std::fs::remove_dir_all(root.join(deploy_id)) {
                Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
                _ => Ok(()),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_round_trip_and_vanish() {
        let folder = tempfile::tempdir().expect("a temporary folder");
        let mut store = BlobStore::beside(&folder.path().join("state.json"));
        let key = block_key("cdeploy", b"\x00\xff");

        store.put(&key, b"block").expect("writing a block");
        store
            .put(&committed_key("cdeploy"), b"bundle")
            .expect("writing a bundle");

        assert_eq!(key, "cdeploy/blocks/00ff");
        assert!(folder
            .path()
            .join("state.json.blobs/cdeploy/dags.tar.gz")
            .is_file());
        assert_eq!(store.get(&key).expect("reading"), Some(b"block".to_vec()));
        store.remove_deploy("cdeploy").expect("removing");
        assert_eq!(store.get(&key).expect("reading"), None);
    }
}
