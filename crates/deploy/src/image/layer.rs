//! The project layer: the image layer that `COPY --chown=50000:0 . .` into `/usr/local/airflow`
//! makes (the last `ONBUILD` step of an Astro Runtime image), written as a reproducible,
//! gzip-compressed tar without a builder, so that a code-only deploy can swap it for the
//! deployed image's last layer.
//!
//! What a builder puts in that layer, seen in the layers buildah 1.28 writes for
//! `COPY --chown=50000:0 . .` (`WORKDIR /usr/local/airflow`), and mimicked here:
//! - entries named `usr/local/airflow/<path>` without a leading `/`, folders with a trailing
//!   `/`, in the order of a walk that visits each folder's names in byte order, a folder before
//!   what it holds; ustar headers, no user or group names, the file type bits in the mode
//!   (`040755`, `0100644`, `0120777`) as Go's `archive/tar` writes them;
//! - first the folders above the files, `usr/`, `usr/local/` and `usr/local/airflow/`, with
//!   the mode and owner they already have in the image (COPY does not change an existing
//!   destination, but the layer differ records every folder whose content changed). What the
//!   runtime gives them is a guess in [`LayerOptions::default`]; [`parent_dirs_from_layer`]
//!   reads them from the layer being replaced, which is what a deploy should use;
//! - then every file, symlink and folder of the build context that `.dockerignore` keeps
//!   (see [`super::dockerignore`]), empty folders included, each owned by the `--chown` ids
//!   and keeping its permission bits and sticky bit but not setuid or setgid (the kernel
//!   clears those on chown; BuildKit's copier sets the mode again after its chown, so it may
//!   keep them, which this layer never does); symlinks keep their target and have mode 0777;
//!   a file seen again under another name of the same inode is a hard link to the first name.
//!
//! Unlike a builder, every entry has the same modification time
//! ([`crate::bundle::FIXED_MTIME`]) instead of the file's, so that the same tree always gives
//! the same bytes and the same digests. A deploy starts new containers, which read every file
//! afresh; Python finds copied `__pycache__` files stale (they record the source's real time)
//! and compiles again. A symlink that leaves the project or is absolute is refused, as in DAG
//! bundles, and so are sockets, pipes and devices, unless `.dockerignore` leaves them out.
//!
//! With DAG deploys on, the DAGs ship as a bundle and the image must not hold them: the option
//! [`LayerOptions::exclude_dags`] leaves out `dags/` as the Astro CLI's added `.dockerignore`
//! line does. The layer is written straight to a file while two sha256 are computed: of the
//! compressed bytes (the blob digest a registry knows it by) and of the tar (its `diff_id`,
//! which the image config lists).

use std::collections::hash_map::{Entry, HashMap};
use std::fs::{File, FileType};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;

use super::dockerignore::{DirMatches, DockerIgnore, DockerIgnoreError};
use crate::bundle::{self, BundleError, HashingWriter, SizedReader, FIXED_MTIME};

/// Where Astro Runtime images keep the project (`WORKDIR`), without the leading `/`.
pub const AIRFLOW_HOME: &str = "usr/local/airflow";
/// The user `astro` of Astro Runtime images.
pub const ASTRO_UID: u64 = 50000;
pub const ASTRO_GID: u64 = 0;

/// How to write the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerOptions {
    /// The folder the project is copied into, relative to the image root.
    pub target_dir: String,
    /// The owner COPY's `--chown` gives every copied entry.
    pub uid: u64,
    pub gid: u64,
    /// Leaves out `dags/` (DAG deploys ship it as a bundle).
    pub exclude_dags: bool,
    /// The entries written for `target_dir` and the folders above it; a folder left out gets
    /// no entry, and keeps what the layers below give it.
    pub parent_dirs: Vec<LayerDir>,
}

impl Default for LayerOptions {
    fn default() -> Self {
        let dir = |path: &str, mode, uid| LayerDir {
            path: path.to_owned(),
            mode,
            uid,
            gid: 0,
        };
        Self {
            target_dir: AIRFLOW_HOME.to_owned(),
            uid: ASTRO_UID,
            gid: ASTRO_GID,
            exclude_dags: false,
            parent_dirs: vec![
                dir("usr", 0o755, 0),
                dir("usr/local", 0o755, 0),
                dir(AIRFLOW_HOME, 0o755, ASTRO_UID),
            ],
        }
    }
}

/// A folder entry above the project's files, as the image has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LayerDir {
    /// Relative to the image root, without slashes around it.
    pub path: String,
    /// Permission bits.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// What the layer holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LayerSummary {
    /// `sha256:<hex>` of the compressed layer: its blob digest.
    pub digest: String,
    /// `sha256:<hex>` of the tar before compression: its `diff_id` in the image config.
    pub diff_id: String,
    /// Size of the compressed layer.
    pub size: u64,
    /// Files in the layer, hard links included.
    pub files: u64,
    /// All entries: folders, files and symlinks.
    pub entries: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("the symlink `{link}` points outside the project (to `{target}`)")]
    SymlinkLeavesProject { link: String, target: String },
    #[error("`{0}` is not a regular file, folder or symlink")]
    SpecialFile(String),
    #[error("the path `{0}` is not valid UTF-8")]
    NonUtf8Path(String),
    #[error("`{0}` is not a folder inside the image (like `usr/local/airflow`)")]
    InvalidTarget(String),
    #[error("the parent folder `{path}` is not `{target}` or a folder above it")]
    InvalidParentDir { path: String, target: String },
    #[error(transparent)]
    DockerIgnore(#[from] DockerIgnoreError),
    #[error("reading `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the layer to `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("reading the layer being replaced")]
    ReadLayer(#[source] io::Error),
}

impl LayerError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            LayerError::SymlinkLeavesProject { .. } => Some(
                "replace the link with the file itself, point it at a relative path inside the \
                 project, or add it to .dockerignore",
            ),
            LayerError::SpecialFile(_) => Some("add it to .dockerignore"),
            LayerError::NonUtf8Path(_) => Some("rename it to a UTF-8 name"),
            LayerError::DockerIgnore(error) => error.hint(),
            _ => None,
        }
    }
}

impl From<BundleError> for LayerError {
    fn from(error: BundleError) -> Self {
        match error {
            BundleError::SymlinkLeavesProject { link, target } => {
                LayerError::SymlinkLeavesProject { link, target }
            }
            BundleError::SpecialFile(path) => LayerError::SpecialFile(path),
            BundleError::NonUtf8Path(path) => LayerError::NonUtf8Path(path),
            BundleError::Read { path, source } => LayerError::Read { path, source },
            BundleError::Write { path, source } => LayerError::Write { path, source },
        }
    }
}

/// Writes the layer of the project at `project_root` to `output` and says what it holds.
pub fn write_project_layer(
    project_root: &Path,
    options: &LayerOptions,
    output: &Path,
) -> Result<LayerSummary, LayerError> {
    let target = normalize_target(&options.target_dir)?;
    let parents = parent_dirs(&options.parent_dirs, &target)?;
    let entries = project_entries(project_root, options.exclude_dags)?;

    let write_error = |source| LayerError::Write {
        path: output.to_owned(),
        source,
    };
    let file = File::create(output).map_err(write_error)?;
    let mut gzip = GzEncoder::new(
        HashingWriter::new(BufWriter::new(file)),
        Compression::default(),
    );
    let mut tar = tar::Builder::new(HashingWriter::new(&mut gzip));

    for parent in &parents {
        append_parent(&mut tar, parent).map_err(write_error)?;
    }
    let owner = (options.uid, options.gid);
    let mut files = 0;
    for entry in &entries {
        append_entry(&mut tar, project_root, &target, owner, entry)?;
        files += u64::from(matches!(
            entry.kind,
            EntryKind::File | EntryKind::HardLink { .. }
        ));
    }

    let (diff_id, _) = tar.into_inner().map_err(write_error)?.finish();
    let mut compressed = gzip.finish().map_err(write_error)?;
    compressed.flush().map_err(write_error)?;
    let (digest, size) = compressed.finish();

    Ok(LayerSummary {
        digest: format!("sha256:{digest}"),
        diff_id: format!("sha256:{diff_id}"),
        size,
        files,
        entries: (parents.len() + entries.len()) as u64,
    })
}

/// Reads, from a gzip-compressed layer, the folder entries of `target_dir` and the folders
/// above it, from the image root down: what the layer that replaces it should repeat.
pub fn parent_dirs_from_layer(
    layer: impl Read,
    target_dir: &str,
) -> Result<Vec<LayerDir>, LayerError> {
    let target = normalize_target(target_dir)?;
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(layer));
    let mut found = Vec::new();

    for entry in archive.entries().map_err(LayerError::ReadLayer)? {
        let entry = entry.map_err(LayerError::ReadLayer)?;
        let header = entry.header();
        if header.entry_type() != tar::EntryType::Directory {
            continue;
        }
        let name = entry.path_bytes();
        let name = String::from_utf8_lossy(&name);
        let path = name.trim_start_matches("./").trim_matches('/');
        if is_target_or_above(path, &target) && !path.is_empty() {
            found.push(LayerDir {
                path: path.to_owned(),
                mode: header.mode().map_err(LayerError::ReadLayer)? & 0o7777,
                uid: header.uid().map_err(LayerError::ReadLayer)?,
                gid: header.gid().map_err(LayerError::ReadLayer)?,
            });
        }
    }
    parent_dirs(&found, &target)
}

/// One entry the build would copy, by its path relative to the project root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ProjectEntry {
    pub relative: String,
    /// Permission bits.
    pub mode: u32,
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum EntryKind {
    Dir,
    File,
    Symlink {
        target: String,
    },
    /// Another name of a file copied before, given by its relative path.
    HardLink {
        first: String,
    },
}

/// What `COPY . .` copies from the project, in the layer's order.
pub(crate) fn project_entries(
    project_root: &Path,
    exclude_dags: bool,
) -> Result<Vec<ProjectEntry>, LayerError> {
    let ignore = DockerIgnore::load(project_root)?;
    let mut walk = Walk {
        root: project_root,
        ignore: &ignore,
        exclude_dags,
        pending: Vec::new(),
        entries: Vec::new(),
        first_names: HashMap::new(),
    };
    walk.dir("", &DirMatches::default())?;

    tracing::debug!(
        ignore_file = ignore.source().unwrap_or("none"),
        entries = walk.entries.len(),
        "listed the files a COPY of the project takes"
    );
    Ok(walk.entries)
}

/// A walk of the project as BuildKit's filtered walk makes it.
struct Walk<'a> {
    root: &'a Path,
    ignore: &'a DockerIgnore,
    exclude_dags: bool,
    /// Excluded folders being walked for exceptions: copied once something inside them is.
    pending: Vec<ProjectEntry>,
    entries: Vec<ProjectEntry>,
    /// The first name copied of each file with several names, by device and inode.
    first_names: HashMap<(u64, u64), String>,
}

impl Walk<'_> {
    fn dir(&mut self, relative: &str, matches: &DirMatches) -> Result<(), LayerError> {
        for (name, file_type) in read_dir_sorted(self.root, relative)? {
            let child = if relative.is_empty() {
                name
            } else {
                format!("{relative}/{name}")
            };
            if self.exclude_dags && child == "dags" {
                continue;
            }
            self.visit(child, file_type, matches)?;
        }
        Ok(())
    }

    fn visit(
        &mut self,
        relative: String,
        file_type: FileType,
        parent: &DirMatches,
    ) -> Result<(), LayerError> {
        let verdict = self.ignore.verdict(&relative, file_type.is_dir(), parent);
        if verdict.excluded && !verdict.descend {
            return Ok(());
        }

        let entry = self.entry(relative, file_type)?;
        if entry.kind != EntryKind::Dir {
            self.copy(entry);
            return Ok(());
        }

        let depth = self.pending.len();
        let relative = entry.relative.clone();
        if verdict.excluded {
            self.pending.push(entry);
        } else {
            self.copy(entry);
        }
        self.dir(&relative, &verdict.matches)?;
        self.pending.truncate(depth);
        Ok(())
    }

    /// Copies an entry, after the excluded folders that hold it.
    fn copy(&mut self, entry: ProjectEntry) {
        self.entries.append(&mut self.pending);
        self.entries.push(entry);
    }

    fn entry(&mut self, relative: String, file_type: FileType) -> Result<ProjectEntry, LayerError> {
        let path = self.root.join(&relative);
        let metadata =
            std::fs::symlink_metadata(&path).map_err(|source| LayerError::Read { path, source })?;

        let kind = if file_type.is_symlink() {
            let target = bundle::symlink_target(self.root, &relative)?;
            EntryKind::Symlink { target }
        } else if file_type.is_dir() {
            EntryKind::Dir
        } else if file_type.is_file() {
            self.file_kind(&relative, &metadata)
        } else {
            return Err(LayerError::SpecialFile(relative));
        };
        Ok(ProjectEntry {
            mode: permission_bits(&metadata, &kind),
            relative,
            kind,
        })
    }

    /// A file, or a hard link when another name of it was copied already.
    fn file_kind(&mut self, relative: &str, metadata: &std::fs::Metadata) -> EntryKind {
        let Some(inode) = shared_inode(metadata) else {
            return EntryKind::File;
        };
        match self.first_names.entry(inode) {
            Entry::Occupied(first) => EntryKind::HardLink {
                first: first.get().clone(),
            },
            Entry::Vacant(slot) => {
                slot.insert(relative.to_owned());
                EntryKind::File
            }
        }
    }
}

/// The device and inode of a file that has more than one name.
#[cfg(unix)]
fn shared_inode(metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt as _;
    (metadata.nlink() > 1).then(|| (metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn shared_inode(_metadata: &std::fs::Metadata) -> Option<(u64, u64)> {
    None
}

/// The names in a project folder with their types, in byte order.
fn read_dir_sorted(root: &Path, relative: &str) -> Result<Vec<(String, FileType)>, LayerError> {
    let absolute = match relative {
        "" => root.to_owned(),
        _ => root.join(relative),
    };
    let read_error = |source| LayerError::Read {
        path: absolute.clone(),
        source,
    };

    let mut items = Vec::new();
    for item in std::fs::read_dir(&absolute).map_err(read_error)? {
        let item = item.map_err(read_error)?;
        let name = item
            .file_name()
            .into_string()
            .map_err(|name| LayerError::NonUtf8Path(format!("{relative}/{name:?}")))?;
        items.push((name, item.file_type().map_err(read_error)?));
    }
    items.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    Ok(items)
}

#[cfg(unix)]
fn permission_bits(metadata: &std::fs::Metadata, kind: &EntryKind) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    match kind {
        EntryKind::Symlink { .. } => 0o777,
        // The permission bits and the sticky bit: chown clears setuid and setgid.
        _ => metadata.permissions().mode() & 0o1777,
    }
}

#[cfg(not(unix))]
fn permission_bits(metadata: &std::fs::Metadata, kind: &EntryKind) -> u32 {
    match kind {
        EntryKind::Symlink { .. } | EntryKind::Dir => 0o755,
        _ if metadata.permissions().readonly() => 0o444,
        _ => 0o644,
    }
}

/// `usr/local/airflow` from `/usr/local/airflow/`; no `.`, `..` or empty components.
fn normalize_target(target: &str) -> Result<String, LayerError> {
    let trimmed = target.trim_matches('/');
    let valid = !trimmed.is_empty()
        && trimmed
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !valid {
        return Err(LayerError::InvalidTarget(target.to_owned()));
    }
    Ok(trimmed.to_owned())
}

fn is_target_or_above(path: &str, target: &str) -> bool {
    target == path || target.starts_with(&format!("{path}/"))
}

/// Checks and orders the parent folders, from the image root down.
fn parent_dirs(dirs: &[LayerDir], target: &str) -> Result<Vec<LayerDir>, LayerError> {
    let mut parents = Vec::with_capacity(dirs.len());
    for dir in dirs {
        let path = dir.path.trim_matches('/');
        if path.is_empty() || !is_target_or_above(path, target) {
            return Err(LayerError::InvalidParentDir {
                path: dir.path.clone(),
                target: target.to_owned(),
            });
        }
        parents.push(LayerDir {
            path: path.to_owned(),
            ..dir.clone()
        });
    }
    parents.sort_by_key(|dir| dir.path.len());
    parents.dedup_by(|a, b| a.path == b.path);
    Ok(parents)
}

/// A ustar header as Go's `archive/tar` writes it for builders: the mode field carries the
/// file type bits too (`040755` for a folder).
fn header(entry_type: tar::EntryType, mode: u32, (uid, gid): (u64, u64)) -> tar::Header {
    let type_bits = match entry_type {
        tar::EntryType::Directory => 0o040000,
        tar::EntryType::Symlink => 0o120000,
        _ => 0o100000,
    };
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(entry_type);
    header.set_mode(type_bits | mode);
    header.set_uid(uid);
    header.set_gid(gid);
    header.set_mtime(FIXED_MTIME);
    header.set_size(0);
    // Go writes zeros where tar-rs leaves the device fields empty; only bytes change.
    header
        .set_device_major(0)
        .expect("a ustar header has device fields");
    header
        .set_device_minor(0)
        .expect("a ustar header has device fields");
    header
}

fn append_parent<W: Write>(tar: &mut tar::Builder<W>, dir: &LayerDir) -> io::Result<()> {
    let mut header = header(tar::EntryType::Directory, dir.mode, (dir.uid, dir.gid));
    tar.append_data(&mut header, format!("{}/", dir.path), io::empty())
}

fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    project_root: &Path,
    target: &str,
    owner: (u64, u64),
    entry: &ProjectEntry,
) -> Result<(), LayerError> {
    let path = project_root.join(&entry.relative);
    let name = format!("{target}/{}", entry.relative);

    let result = match &entry.kind {
        EntryKind::Dir => {
            let mut header = header(tar::EntryType::Directory, entry.mode, owner);
            tar.append_data(&mut header, format!("{name}/"), io::empty())
        }
        EntryKind::Symlink { target } => {
            let mut header = header(tar::EntryType::Symlink, entry.mode, owner);
            tar.append_link(&mut header, &name, target)
        }
        EntryKind::HardLink { first } => {
            let mut header = header(tar::EntryType::Link, entry.mode, owner);
            tar.append_link(&mut header, &name, format!("{target}/{first}"))
        }
        EntryKind::File => {
            let read_error = |source| LayerError::Read {
                path: path.clone(),
                source,
            };
            let file = File::open(&path).map_err(read_error)?;
            let size = file.metadata().map_err(read_error)?.len();
            let mut header = header(tar::EntryType::Regular, entry.mode, owner);
            header.set_size(size);
            tar.append_data(&mut header, &name, SizedReader::new(file, size))
        }
    };
    result.map_err(|source| LayerError::Read { path, source })
}

#[cfg(all(test, unix))]
mod tests {
    use std::collections::BTreeMap;
    use std::os::unix::fs::{symlink, PermissionsExt as _};
    use std::process::Command;

    use sha2::{Digest as _, Sha256};

    use super::*;

    fn write(root: &Path, relative: &str, content: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn chmod(root: &Path, relative: &str, mode: u32) {
        let permissions = std::fs::Permissions::from_mode(mode);
        std::fs::set_permissions(root.join(relative), permissions).unwrap();
    }

    const IGNORED: &str = "astro\n.git\n.env\nairflow_settings.yaml\nlogs/\n**/*.pyc\ndocs\n\
                           !docs/keep.md\n";

    /// An Astro project with files a COPY takes, files `.dockerignore` drops, and an exception.
    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        write(root, "Dockerfile", "FROM runtime:12.2.0\n");
        write(root, "requirements.txt", "pandas==2.2.0\n");
        write(root, "packages.txt", "");
        write(root, ".dockerignore", IGNORED);
        write(root, "dags/example.py", "import airflow\n");
        write(root, "dags/sub/helper.py", "x = 1\n");
        write(root, "dags/__pycache__/example.cpython-311.pyc", "junk");
        write(root, "include/data.csv", "a,b\n");
        write(root, "run.sh", "#!/bin/sh\n");
        write(root, ".git/HEAD", "ref: refs/heads/main\n");
        write(root, ".env", "SECRET=1\n");
        write(root, "airflow_settings.yaml", "airflow: {}\n");
        write(root, "logs/scheduler.log", "log\n");
        write(root, "astro/config.yaml", "x\n");
        write(root, "docs/keep.md", "keep\n");
        write(root, "docs/drop.md", "drop\n");
        std::fs::create_dir_all(root.join("plugins")).unwrap();
        symlink("include/data.csv", root.join("data.csv")).unwrap();

        for (relative, mode) in [
            ("include/data.csv", 0o600),
            ("run.sh", 0o750),
            ("dags/sub", 0o775),
            ("docs", 0o700),
            ("plugins", 0o755),
        ] {
            chmod(root, relative, mode);
        }
        for relative in ["", "dags", "include"] {
            chmod(root, relative, 0o755);
        }
        for relative in [
            "Dockerfile",
            "requirements.txt",
            "packages.txt",
            ".dockerignore",
        ] {
            chmod(root, relative, 0o644);
        }
        for relative in ["dags/example.py", "dags/sub/helper.py", "docs/keep.md"] {
            chmod(root, relative, 0o644);
        }
        dir
    }

    /// Reads a layer back as name -> (type, mode, uid:gid, mtime, user name, body).
    fn read_layer(path: &Path) -> Vec<(String, String)> {
        let gz = flate2::read::GzDecoder::new(File::open(path).unwrap());
        let mut archive = tar::Archive::new(gz);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let name = String::from_utf8(entry.path_bytes().into_owned()).unwrap();
            let body = match header.entry_type() {
                tar::EntryType::Symlink | tar::EntryType::Link => {
                    format!("-> {}", entry.link_name().unwrap().unwrap().display())
                }
                _ => {
                    let mut text = String::new();
                    entry.read_to_string(&mut text).unwrap();
                    text
                }
            };
            assert_eq!(header.mtime().unwrap(), FIXED_MTIME, "{name}");
            assert_eq!(header.username_bytes(), Some(&b""[..]), "{name}");
            let (kind, type_bits) = match header.entry_type() {
                tar::EntryType::Directory => ("d", 0o040000),
                tar::EntryType::Symlink => ("l", 0o120000),
                tar::EntryType::Regular => ("-", 0o100000),
                tar::EntryType::Link => ("h", 0o100000),
                other => panic!("{name} is a {other:?}"),
            };
            let mode = header.mode().unwrap();
            assert_eq!(mode & 0o170000, type_bits, "{name}");
            let meta = format!(
                "{kind} {:o} {}:{} {}",
                mode & 0o7777,
                header.uid().unwrap(),
                header.gid().unwrap(),
                body.trim_end()
            );
            seen.push((name, meta.trim_end().to_owned()));
        }
        seen
    }

    fn sha256_hex(bytes: &[u8]) -> String {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    #[test]
    fn holds_what_copy_chown_takes_with_parents_owners_and_modes() {
        let dir = project();
        let out = dir.path().join("../layer-holds.tgz");
        let summary = write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap();

        let ignore_file = format!("- 644 50000:0 {}", IGNORED.trim());
        let expected = [
            ("usr/", "d 755 0:0"),
            ("usr/local/", "d 755 0:0"),
            ("usr/local/airflow/", "d 755 50000:0"),
            ("usr/local/airflow/.dockerignore", &ignore_file),
            (
                "usr/local/airflow/Dockerfile",
                "- 644 50000:0 FROM runtime:12.2.0",
            ),
            ("usr/local/airflow/dags/", "d 755 50000:0"),
            ("usr/local/airflow/dags/__pycache__/", "d 755 50000:0"),
            (
                "usr/local/airflow/dags/example.py",
                "- 644 50000:0 import airflow",
            ),
            ("usr/local/airflow/dags/sub/", "d 775 50000:0"),
            (
                "usr/local/airflow/dags/sub/helper.py",
                "- 644 50000:0 x = 1",
            ),
            (
                "usr/local/airflow/data.csv",
                "l 777 50000:0 -> include/data.csv",
            ),
            ("usr/local/airflow/docs/", "d 700 50000:0"),
            ("usr/local/airflow/docs/keep.md", "- 644 50000:0 keep"),
            ("usr/local/airflow/include/", "d 755 50000:0"),
            ("usr/local/airflow/include/data.csv", "- 600 50000:0 a,b"),
            ("usr/local/airflow/packages.txt", "- 644 50000:0"),
            ("usr/local/airflow/plugins/", "d 755 50000:0"),
            (
                "usr/local/airflow/requirements.txt",
                "- 644 50000:0 pandas==2.2.0",
            ),
            ("usr/local/airflow/run.sh", "- 750 50000:0 #!/bin/sh"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(name, meta)| (name.to_string(), meta.to_string()))
            .collect();
        assert_eq!(read_layer(&out), expected);

        assert_eq!(summary.entries, expected.len() as u64);
        assert_eq!(summary.files, 9);
        assert_eq!(summary.size, std::fs::metadata(&out).unwrap().len());
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn digests_are_of_the_compressed_and_the_plain_tar() {
        let dir = project();
        let out = dir.path().join("../layer-digests.tgz");
        let summary = write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap();

        let compressed = std::fs::read(&out).unwrap();
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&compressed[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(
            summary.digest,
            format!("sha256:{}", sha256_hex(&compressed))
        );
        assert_eq!(summary.diff_id, format!("sha256:{}", sha256_hex(&plain)));
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn the_same_tree_gives_the_same_bytes() {
        let first = project();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let second = project();
        // Ignored files differ: they must not change the layer.
        write(second.path(), ".git/ORIG_HEAD", "other");
        write(second.path(), "logs/more.log", "other");

        let out_a = first.path().join("../layer-same-a.tgz");
        let out_b = second.path().join("../layer-same-b.tgz");
        let a = write_project_layer(first.path(), &LayerOptions::default(), &out_a).unwrap();
        let b = write_project_layer(second.path(), &LayerOptions::default(), &out_b).unwrap();
        assert_eq!(a, b);
        assert_eq!(
            std::fs::read(&out_a).unwrap(),
            std::fs::read(&out_b).unwrap()
        );

        write(
            second.path(),
            "dags/example.py",
            "import airflow  # changed\n",
        );
        let c = write_project_layer(second.path(), &LayerOptions::default(), &out_b).unwrap();
        assert_ne!(a.digest, c.digest);
        assert_ne!(a.diff_id, c.diff_id);
        std::fs::remove_file(out_a).unwrap();
        std::fs::remove_file(out_b).unwrap();
    }

    #[test]
    fn dags_are_left_out_when_they_ship_as_a_bundle() {
        let dir = project();
        let out = dir.path().join("../layer-no-dags.tgz");
        let options = LayerOptions {
            exclude_dags: true,
            ..LayerOptions::default()
        };
        let summary = write_project_layer(dir.path(), &options, &out).unwrap();

        let names: Vec<String> = read_layer(&out).into_iter().map(|(name, _)| name).collect();
        assert!(
            names.iter().all(|name| !name.contains("/dags")),
            "{names:#?}"
        );
        assert!(names.contains(&"usr/local/airflow/include/data.csv".to_owned()));
        assert_eq!(summary.files, 7);
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn owner_target_and_parents_follow_the_options() {
        let dir = project();
        let out = dir.path().join("../layer-options.tgz");
        let options = LayerOptions {
            target_dir: "/opt/app/".to_owned(),
            uid: 1000,
            gid: 1000,
            exclude_dags: false,
            parent_dirs: vec![LayerDir {
                path: "opt/app".to_owned(),
                mode: 0o775,
                uid: 1000,
                gid: 0,
            }],
        };
        write_project_layer(dir.path(), &options, &out).unwrap();

        let layer = read_layer(&out);
        assert_eq!(layer[0], ("opt/app/".to_owned(), "d 775 1000:0".to_owned()));
        assert_eq!(layer[1].0, "opt/app/.dockerignore");
        assert!(layer[1].1.starts_with("- 644 1000:1000 "), "{:?}", layer[1]);
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn parent_folders_are_read_from_the_layer_being_replaced() {
        let dir = project();
        let out = dir.path().join("../layer-parents.tgz");
        let options = LayerOptions {
            parent_dirs: vec![
                LayerDir {
                    path: "usr/local/airflow".to_owned(),
                    mode: 0o2775,
                    uid: 50000,
                    gid: 0,
                },
                LayerDir {
                    path: "usr/local".to_owned(),
                    mode: 0o755,
                    uid: 0,
                    gid: 0,
                },
            ],
            ..LayerOptions::default()
        };
        write_project_layer(dir.path(), &options, &out).unwrap();

        let found =
            parent_dirs_from_layer(File::open(&out).unwrap(), "/usr/local/airflow").unwrap();
        assert_eq!(
            found,
            [
                options.parent_dirs[1].clone(),
                options.parent_dirs[0].clone()
            ]
        );
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn setuid_and_setgid_are_dropped_and_the_sticky_bit_kept() {
        let dir = project();
        write(dir.path(), "include/tool", "#!/bin/sh\n");
        chmod(dir.path(), "include/tool", 0o6755);
        std::fs::create_dir(dir.path().join("shared")).unwrap();
        chmod(dir.path(), "shared", 0o3777);
        let out = dir.path().join("../layer-bits.tgz");
        write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap();

        let layer: BTreeMap<String, String> = read_layer(&out).into_iter().collect();
        assert_eq!(
            layer["usr/local/airflow/include/tool"],
            "- 755 50000:0 #!/bin/sh"
        );
        assert_eq!(layer["usr/local/airflow/shared/"], "d 1777 50000:0");
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn a_second_name_of_a_file_is_a_hard_link_to_the_first() {
        let dir = project();
        std::fs::hard_link(
            dir.path().join("run.sh"),
            dir.path().join("include/again.sh"),
        )
        .unwrap();
        let out = dir.path().join("../layer-hard.tgz");
        let summary = write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap();

        // `include/again.sh` comes first in the walk, so it holds the content.
        let layer: BTreeMap<String, String> = read_layer(&out).into_iter().collect();
        assert_eq!(
            layer["usr/local/airflow/include/again.sh"],
            "- 750 50000:0 #!/bin/sh"
        );
        assert_eq!(
            layer["usr/local/airflow/run.sh"],
            "h 750 50000:0 -> usr/local/airflow/include/again.sh"
        );
        assert_eq!(summary.files, 10);
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn bad_targets_and_parents_are_refused() {
        let dir = project();
        let out = dir.path().join("../layer-bad.tgz");
        for target in ["", "/", "usr/../etc", "usr//local"] {
            let options = LayerOptions {
                target_dir: target.to_owned(),
                ..LayerOptions::default()
            };
            let error = write_project_layer(dir.path(), &options, &out).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("`{target}` is not a folder inside the image (like `usr/local/airflow`)")
            );
        }

        let mut options = LayerOptions::default();
        options.parent_dirs[0].path = "usr/lib".to_owned();
        let error = write_project_layer(dir.path(), &options, &out).unwrap_err();
        assert_eq!(
            error.to_string(),
            "the parent folder `usr/lib` is not `usr/local/airflow` or a folder above it"
        );
    }

    #[test]
    fn symlinks_that_leave_the_project_are_refused_by_name() {
        for target in ["../../outside", "/etc/passwd", "a/../../../x"] {
            let dir = project();
            symlink(target, dir.path().join("include/evil")).unwrap();
            let out = dir.path().join("out.tgz");
            let error =
                write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap_err();
            assert_eq!(
                error.to_string(),
                format!("the symlink `include/evil` points outside the project (to `{target}`)")
            );
        }
    }

    #[test]
    fn special_files_are_refused_unless_ignored() {
        let dir = project();
        let _socket =
            std::os::unix::net::UnixListener::bind(dir.path().join("agent.sock")).unwrap();
        let out = dir.path().join("../layer-special.tgz");
        let error = write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap_err();
        assert_eq!(
            error.to_string(),
            "`agent.sock` is not a regular file, folder or symlink"
        );
        assert_eq!(error.hint(), Some("add it to .dockerignore"));

        let ignore = std::fs::read_to_string(dir.path().join(".dockerignore")).unwrap();
        write(dir.path(), ".dockerignore", &format!("{ignore}*.sock\n"));
        write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap();
        std::fs::remove_file(out).unwrap();
    }

    #[test]
    fn an_invalid_dockerignore_is_an_error() {
        let dir = project();
        write(dir.path(), ".dockerignore", "logs\n!\n");
        let out = dir.path().join("out.tgz");
        let error = write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap_err();
        assert!(
            error.to_string().starts_with("`.dockerignore` line 2:"),
            "{error}"
        );
    }

    /// Lists a tree as path -> (mode, content or link target), as `tar` restored it.
    fn list_tree(root: &Path) -> BTreeMap<String, (u32, String)> {
        let mut listed = BTreeMap::new();
        let mut pending = vec![String::new()];
        while let Some(dir) = pending.pop() {
            for item in std::fs::read_dir(root.join(&dir)).unwrap() {
                let item = item.unwrap();
                let name = item.file_name().into_string().unwrap();
                let relative = if dir.is_empty() {
                    name
                } else {
                    format!("{dir}/{name}")
                };
                let metadata = std::fs::symlink_metadata(item.path()).unwrap();
                let body = if metadata.is_symlink() {
                    format!("-> {}", std::fs::read_link(item.path()).unwrap().display())
                } else if metadata.is_dir() {
                    pending.push(relative.clone());
                    "/".to_owned()
                } else {
                    std::fs::read_to_string(item.path()).unwrap()
                };
                listed.insert(relative, (metadata.permissions().mode() & 0o7777, body));
            }
        }
        listed
    }

    #[test]
    fn the_system_tar_extracts_the_project_as_copy_would_leave_it() {
        let dir = project();
        let deep = format!("include/{}/{}.sql", "nested".repeat(12), "q".repeat(90));
        write(dir.path(), &deep, "select 1;\n");
        symlink(format!("../{deep}"), dir.path().join("include/long-link")).unwrap();
        std::fs::hard_link(dir.path().join(&deep), dir.path().join("include/same.sql")).unwrap();
        let work = tempfile::tempdir().unwrap();
        let out = work.path().join("layer.tgz");
        write_project_layer(dir.path(), &LayerOptions::default(), &out).unwrap();

        let extracted = work.path().join("root");
        std::fs::create_dir(&extracted).unwrap();
        let status = Command::new("tar")
            .args(["--extract", "--gzip", "--same-permissions", "--file"])
            .arg(&out)
            .arg("--directory")
            .arg(&extracted)
            .status()
            .expect("the system `tar` must be installed for this test");
        assert!(status.success());

        let copied = list_tree(&extracted.join("usr/local/airflow"));
        let mut expected = list_tree(dir.path());
        let ignored = [
            ".git",
            ".git/HEAD",
            ".env",
            "airflow_settings.yaml",
            "logs",
            "logs/scheduler.log",
            "astro",
            "astro/config.yaml",
            "docs/drop.md",
            "dags/__pycache__/example.cpython-311.pyc",
        ];
        for path in ignored {
            expected.remove(path).unwrap();
        }
        assert_eq!(copied, expected);

        use std::os::unix::fs::MetadataExt as _;
        let airflow = extracted.join("usr/local/airflow");
        let inode = |relative: &str| std::fs::metadata(airflow.join(relative)).unwrap().ino();
        assert_eq!(inode(&deep), inode("include/same.sql"));

        let listing = Command::new("tar")
            .args(["--list", "--verbose", "--numeric-owner", "--gzip", "--file"])
            .arg(&out)
            .output()
            .unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        let project_lines = listing
            .lines()
            .filter(|line| line.contains("usr/local/airflow/"));
        assert!(project_lines.clone().count() > 15, "{listing}");
        for line in project_lines {
            assert!(line.contains(" 50000/0 "), "{line}");
            assert!(line.contains(" 2000-01-01 "), "{line}");
        }
    }
}
