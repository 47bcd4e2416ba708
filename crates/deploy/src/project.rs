//! An Astro project on disk: the folder with the `Dockerfile` and the `dags/` folder.

use std::path::{Path, PathBuf};

/// A project folder that has been checked to hold a `dags/` folder.
#[derive(Debug, Clone)]
pub struct Project {
    root: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("the project folder `{0}` does not exist")]
    Missing(PathBuf),
    #[error("`{0}` is not a folder")]
    NotAFolder(PathBuf),
    #[error("the project `{0}` has no `dags/` folder")]
    NoDagsFolder(PathBuf),
    #[error("reading the project folder `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ProjectError {
    pub fn hint(&self) -> &'static str {
        match self {
            ProjectError::Missing(_) | ProjectError::NotAFolder(_) => {
                "point --project at the root of an Astro project (the folder that holds the \
                 Dockerfile and dags/)"
            }
            ProjectError::NoDagsFolder(_) => {
                "point --project at the root of an Astro project; a DAG deploy ships its dags/ \
                 folder"
            }
            ProjectError::Io { .. } => "check the folder's permissions",
        }
    }
}

impl Project {
    pub fn open(root: &Path) -> Result<Self, ProjectError> {
        let metadata = std::fs::metadata(root).map_err(|source| match source.kind() {
            std::io::ErrorKind::NotFound => ProjectError::Missing(root.to_owned()),
            _ => ProjectError::Io {
                path: root.to_owned(),
                source,
            },
        })?;
        if !metadata.is_dir() {
            return Err(ProjectError::NotAFolder(root.to_owned()));
        }

        let root = root.canonicalize().map_err(|source| ProjectError::Io {
            path: root.to_owned(),
            source,
        })?;
        if !root.join("dags").is_dir() {
            return Err(ProjectError::NoDagsFolder(root));
        }
        Ok(Self { root })
    }

    /// The project folder, absolute and with symlinks resolved.
    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dags_dir(&self) -> PathBuf {
        self.root.join("dags")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_needs_a_dags_folder() {
        let dir = tempfile::tempdir().unwrap();
        let err = Project::open(dir.path()).unwrap_err();
        assert!(matches!(err, ProjectError::NoDagsFolder(_)), "{err}");
        assert!(err.to_string().contains("has no `dags/` folder"));

        std::fs::create_dir(dir.path().join("dags")).unwrap();
        assert!(Project::open(dir.path()).is_ok());
        assert!(matches!(
            Project::open(&dir.path().join("nope")),
            Err(ProjectError::Missing(_))
        ));
    }
}
