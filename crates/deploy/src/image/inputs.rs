//! Fingerprints of what an image was built from, stored as image labels so that a later deploy
//! can tell what changed since without the old build context.
//!
//! The dependency fingerprint covers what a build reads before its final `COPY . .`: the
//! `Dockerfile` (and with it the base image's name), `packages.txt` and `requirements.txt`.
//! When it matches the deployed image's label, the layers below the project layer are still
//! right and only that layer needs replacing. A missing file counts differently from an empty
//! one. The base image is covered by name only: a tag moved to a new image since the deploy
//! goes unnoticed, as it would for a builder with a warm cache.
//!
//! The project fingerprint covers what the final `COPY` takes (see [`super::layer`]): each
//! path, its kind, permission bits and content or link target (a hard link's first name),
//! `dags/` left out since DAG deploys ship it apart. It tells whether an image deploy is
//! needed at all.
//!
//! Both are sha256 over framed records (lengths before every variable part, so that no two
//! inputs hash the same bytes), cut to [`FINGERPRINT_HEX_CHARS`] hex characters. A version tag
//! starts each hash: changing what is hashed means changing it, and old labels then simply
//! differ.

use std::fmt;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::layer::{project_entries, EntryKind, LayerError};

/// The image label holding the [`dependency_fingerprint`].
pub const DEPENDENCY_INPUTS_LABEL: &str = "io.astro-deploy.dependency-inputs";
/// The image label holding the [`project_fingerprint`].
pub const PROJECT_FILES_LABEL: &str = "io.astro-deploy.project-files";
/// The files a build reads before its final `COPY`, in the order they are hashed.
pub const DEPENDENCY_FILES: [&str; 3] = ["Dockerfile", "packages.txt", "requirements.txt"];
/// 128 bits: short enough for a label, long enough that a match is no accident.
pub const FINGERPRINT_HEX_CHARS: usize = 32;

const DEPENDENCY_SCHEME: &[u8] = b"astro-deploy dependency-inputs v1\0";
const PROJECT_SCHEME: &[u8] = b"astro-deploy project-files v1\0";

/// A short lowercase hex digest, as stored in a label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Fingerprint(String);

impl Fingerprint {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Reads a label's value; `None` when it is not a fingerprint of this scheme.
    pub fn from_label(value: &str) -> Option<Self> {
        let valid = value.len() == FINGERPRINT_HEX_CHARS
            && value
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        valid.then(|| Self(value.to_owned()))
    }

    fn of(hasher: Sha256) -> Self {
        let hex: String = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Self(hex[..FINGERPRINT_HEX_CHARS].to_owned())
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InputsError {
    #[error("reading `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Project(#[from] LayerError),
}

impl InputsError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            InputsError::Project(error) => error.hint(),
            InputsError::Read { .. } => None,
        }
    }
}

/// The fingerprint of the files a build reads before copying the project.
pub fn dependency_fingerprint(project_root: &Path) -> Result<Fingerprint, InputsError> {
    let mut hasher = Sha256::new();
    hasher.update(DEPENDENCY_SCHEME);

    for name in DEPENDENCY_FILES {
        let path = project_root.join(name);
        frame(&mut hasher, name.as_bytes());
        match std::fs::read(&path) {
            Ok(content) => {
                hasher.update([1]);
                frame(&mut hasher, &content);
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => hasher.update([0]),
            Err(source) => return Err(InputsError::Read { path, source }),
        }
    }
    Ok(Fingerprint::of(hasher))
}

/// The fingerprint of what the build's final `COPY` takes from the project, without `dags/`.
pub fn project_fingerprint(project_root: &Path) -> Result<Fingerprint, InputsError> {
    let mut hasher = Sha256::new();
    hasher.update(PROJECT_SCHEME);

    for entry in project_entries(project_root, true)? {
        let kind = match entry.kind {
            EntryKind::Dir => b'd',
            EntryKind::File => b'f',
            EntryKind::Symlink { .. } => b'l',
            EntryKind::HardLink { .. } => b'h',
        };
        hasher.update([kind]);
        frame(&mut hasher, entry.relative.as_bytes());
        hasher.update(entry.mode.to_be_bytes());

        match &entry.kind {
            EntryKind::Dir => {}
            EntryKind::Symlink { target } => frame(&mut hasher, target.as_bytes()),
            EntryKind::HardLink { first } => frame(&mut hasher, first.as_bytes()),
            EntryKind::File => hash_file(&mut hasher, &project_root.join(&entry.relative))?,
        }
    }
    Ok(Fingerprint::of(hasher))
}

/// Hashes a length, then the bytes.
fn frame(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_be_bytes());
    hasher.update(bytes);
}

/// Hashes a file's length and content, streaming it.
fn hash_file(hasher: &mut Sha256, path: &Path) -> Result<(), InputsError> {
    let read_error = |source| InputsError::Read {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    hasher.update(size.to_be_bytes());

    let mut buffer = vec![0; 64 * 1024];
    let mut hashed = 0;
    loop {
        let read = file.read(&mut buffer).map_err(read_error)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
        hashed += read as u64;
    }
    if hashed != size {
        let changed = io::Error::other("the file changed size while it was being read");
        return Err(read_error(changed));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, content: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "Dockerfile",
            "FROM quay.io/astronomer/astro-runtime:12.2.0\n",
        );
        write(dir.path(), "requirements.txt", "pandas==2.2.0\n");
        write(dir.path(), "packages.txt", "");
        write(dir.path(), ".dockerignore", ".git\nlogs/\n");
        write(dir.path(), "dags/example.py", "import airflow\n");
        write(dir.path(), "include/data.csv", "a,b\n");
        dir
    }

    fn dependencies(dir: &tempfile::TempDir) -> Fingerprint {
        dependency_fingerprint(dir.path()).unwrap()
    }

    fn files(dir: &tempfile::TempDir) -> Fingerprint {
        project_fingerprint(dir.path()).unwrap()
    }

    #[test]
    fn fingerprints_are_short_hex_and_stable() {
        let (a, b) = (project(), project());
        assert_eq!(dependencies(&a), dependencies(&b));
        assert_eq!(files(&a), files(&b));

        let fingerprint = dependencies(&a);
        assert_eq!(fingerprint.as_str().len(), FINGERPRINT_HEX_CHARS);
        assert_eq!(
            Fingerprint::from_label(fingerprint.as_str()),
            Some(fingerprint.clone())
        );
        assert_eq!(
            serde_json::to_string(&fingerprint).unwrap(),
            format!("\"{fingerprint}\"")
        );
        assert_ne!(dependencies(&a).as_str(), files(&a).as_str());
    }

    #[test]
    fn labels_that_are_not_fingerprints_are_refused() {
        let long = "a".repeat(FINGERPRINT_HEX_CHARS + 1);
        let upper = "A".repeat(FINGERPRINT_HEX_CHARS);
        for value in ["", "xyz", long.as_str(), upper.as_str()] {
            assert_eq!(Fingerprint::from_label(value), None, "{value}");
        }
    }

    #[test]
    fn every_dependency_file_counts_and_missing_differs_from_empty() {
        let base = dependencies(&project());
        let mut seen = vec![base.clone()];
        for (name, content) in [
            (
                "Dockerfile",
                "FROM quay.io/astronomer/astro-runtime:12.3.0\n",
            ),
            ("requirements.txt", "pandas==2.2.1\n"),
            ("packages.txt", "git\n"),
        ] {
            let dir = project();
            write(dir.path(), name, content);
            seen.push(dependencies(&dir));
        }

        let missing = project();
        std::fs::remove_file(missing.path().join("packages.txt")).unwrap();
        seen.push(dependencies(&missing));
        let all = seen.len();
        seen.sort_by(|a, b| a.as_str().cmp(b.as_str()));
        seen.dedup();
        assert_eq!(seen.len(), all, "two different inputs gave one fingerprint");
    }

    #[test]
    fn content_moved_between_files_changes_the_fingerprint() {
        let a = project();
        write(a.path(), "requirements.txt", "x\n");
        write(a.path(), "packages.txt", "");
        let b = project();
        write(b.path(), "requirements.txt", "");
        write(b.path(), "packages.txt", "x\n");
        assert_ne!(dependencies(&a), dependencies(&b));
    }

    #[test]
    fn the_project_fingerprint_ignores_dags_and_ignored_files_only() {
        let dir = project();
        let base = files(&dir);

        write(dir.path(), "dags/example.py", "changed\n");
        write(dir.path(), "logs/x.log", "log\n");
        write(dir.path(), ".git/HEAD", "ref\n");
        assert_eq!(files(&dir), base);
        // Code changes do not change the dependency inputs.
        assert_eq!(dependencies(&dir), dependencies(&project()));

        write(dir.path(), "include/data.csv", "a,c\n");
        assert_ne!(files(&dir), base);
    }

    #[test]
    fn the_project_fingerprint_sees_renames_new_folders_and_modes() {
        let base = files(&project());

        let renamed = project();
        std::fs::rename(
            renamed.path().join("include/data.csv"),
            renamed.path().join("include/data2.csv"),
        )
        .unwrap();
        assert_ne!(files(&renamed), base);

        let folder = project();
        std::fs::create_dir(folder.path().join("plugins")).unwrap();
        assert_ne!(files(&folder), base);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let executable = project();
            let path = executable.path().join("include/data.csv");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            assert_ne!(files(&executable), base);
        }
    }

    #[test]
    fn unreadable_projects_are_errors_naming_the_path() {
        let dir = project();
        std::fs::write(dir.path().join(".dockerignore"), "!\n").unwrap();
        let error = project_fingerprint(dir.path()).unwrap_err();
        assert!(
            error.to_string().starts_with("`.dockerignore` line 1:"),
            "{error}"
        );

        let missing = dir.path().join("nope");
        let error = project_fingerprint(&missing).unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("reading `{}`", missing.display())
        );
    }
}
