//! The DAG bundle: the project's `dags/` folder as a reproducible, gzip-compressed tar.
//!
//! What goes in: every regular file and symlink under `dags/`, named `dags/<path>` with forward
//! slashes, in byte order of their paths. What stays out: `.git/` folders, `__pycache__/`
//! folders and `*.pyc` files (Airflow rebuilds them; shipping them would only make bundles
//! differ between machines). No directory entries are written: extracting creates the folders.
//!
//! The same tree always gives the same bytes: entries are sorted, every entry has the same
//! modification time ([`FIXED_MTIME`]), owner 0:0 without names, and mode 0644 (0755 when the
//! file is executable by its owner), and the gzip header carries no time or name. The archive
//! is written straight to a file while its sha256 is computed, so no bundle is ever held in
//! memory whole.
//!
//! A symlink may point anywhere inside the project (a link into `include/` resolves on Astro,
//! where the project sits at the same place), but not outside it, and never to an absolute
//! path: such a link is refused with an error naming it. "Outside" is judged twice: on the
//! link's text, and on where the file system resolves it, so that a chain of links
//! (`dags/x -> ../include/out`, `include/out -> /etc`) cannot leave the project either.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Component, Path, PathBuf};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The modification time of every entry: 2000-01-01T00:00:00Z. A constant keeps bundles
/// reproducible; a date well after 1980 keeps tools that dislike old times quiet.
pub const FIXED_MTIME: u64 = 946_684_800;

/// What was bundled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleSummary {
    /// Hex sha256 of the compressed archive, as uploaded.
    pub sha256: String,
    /// Size of the compressed archive.
    pub bytes: u64,
    /// Regular files in the bundle.
    pub files: u64,
    pub symlinks: u64,
    /// Size of the files before compression.
    pub content_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("the symlink `{link}` points outside the project (to `{target}`)")]
    SymlinkLeavesProject { link: String, target: String },
    #[error("`{0}` is not a regular file, folder or symlink")]
    SpecialFile(String),
    #[error("the path `{0}` is not valid UTF-8")]
    NonUtf8Path(String),
    #[error("reading `{path}`")]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("writing the bundle to `{path}`")]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl BundleError {
    pub fn hint(&self) -> Option<&'static str> {
        match self {
            BundleError::SymlinkLeavesProject { .. } => Some(
                "replace the link with the file itself, or point it at a relative path inside \
                 the project",
            ),
            BundleError::SpecialFile(_) => Some("remove it from dags/"),
            BundleError::NonUtf8Path(_) => Some("rename it to a UTF-8 name"),
            _ => None,
        }
    }
}

/// Writes the bundle of `project_root/dags` to `output` and says what it holds.
pub fn write_dag_bundle(project_root: &Path, output: &Path) -> Result<BundleSummary, BundleError> {
    let entries = collect_entries(project_root)?;

    let write_error = |source| BundleError::Write {
        path: output.to_owned(),
        source,
    };
    let file = File::create(output).map_err(write_error)?;
    let hashing = HashingWriter::new(BufWriter::new(file));
    let gzip = GzEncoder::new(hashing, Compression::default());
    let mut tar = tar::Builder::new(gzip);
    tar.mode(tar::HeaderMode::Deterministic);

    let mut summary = Counts::default();
    for entry in &entries {
        append_entry(&mut tar, project_root, entry, &mut summary)?;
    }

    let gzip = tar.into_inner().map_err(write_error)?;
    let mut hashing = gzip.finish().map_err(write_error)?;
    hashing.flush().map_err(write_error)?;
    let (sha256, bytes) = hashing.finish();

    Ok(BundleSummary {
        sha256,
        bytes,
        files: summary.files,
        symlinks: summary.symlinks,
        content_bytes: summary.content_bytes,
    })
}

#[derive(Default)]
struct Counts {
    files: u64,
    symlinks: u64,
    content_bytes: u64,
}

/// One file or symlink to bundle, by its path relative to the project root.
#[derive(Debug)]
struct Entry {
    relative: String,
    kind: EntryKind,
}

#[derive(Debug)]
enum EntryKind {
    File { executable: bool },
    Symlink { target: String },
}

fn collect_entries(project_root: &Path) -> Result<Vec<Entry>, BundleError> {
    let mut entries = Vec::new();
    let mut pending = vec!["dags".to_owned()];

    while let Some(dir) = pending.pop() {
        let absolute = project_root.join(&dir);
        let read_error = |source| BundleError::Read {
            path: absolute.clone(),
            source,
        };
        for item in std::fs::read_dir(&absolute).map_err(read_error)? {
            let item = item.map_err(read_error)?;
            let name = item
                .file_name()
                .into_string()
                .map_err(|name| BundleError::NonUtf8Path(format!("{dir}/{name:?}")))?;
            let relative = format!("{dir}/{name}");
            let file_type = item.file_type().map_err(read_error)?;

            if file_type.is_symlink() {
                let target = symlink_target(project_root, &relative)?;
                entries.push(Entry {
                    relative,
                    kind: EntryKind::Symlink { target },
                });
            } else if file_type.is_dir() {
                if name != ".git" && name != "__pycache__" {
                    pending.push(relative);
                }
            } else if file_type.is_file() {
                if !name.ends_with(".pyc") {
                    let executable = is_executable(&item.metadata().map_err(read_error)?);
                    entries.push(Entry {
                        relative,
                        kind: EntryKind::File { executable },
                    });
                }
            } else {
                return Err(BundleError::SpecialFile(relative));
            }
        }
    }

    entries.sort_by(|a, b| a.relative.as_bytes().cmp(b.relative.as_bytes()));
    Ok(entries)
}

/// Reads a symlink and checks that it stays inside the project.
pub(crate) fn symlink_target(project_root: &Path, relative: &str) -> Result<String, BundleError> {
    let link = project_root.join(relative);
    let target = std::fs::read_link(&link).map_err(|source| BundleError::Read {
        path: link.clone(),
        source,
    })?;
    let target_text = target
        .to_str()
        .ok_or_else(|| BundleError::NonUtf8Path(format!("{relative} -> {target:?}")))?
        .to_owned();
    let leaves = || BundleError::SymlinkLeavesProject {
        link: relative.to_owned(),
        target: target_text.clone(),
    };
    if target.is_absolute() {
        return Err(leaves());
    }

    // Resolve lexically from the link's folder: depth below the project root must never go
    // negative. This is what the link says wherever the project is unpacked.
    let mut depth = Path::new(relative).components().count() as i64 - 1;
    for component in target.components() {
        match component {
            Component::ParentDir => depth -= 1,
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(leaves()),
        }
        if depth < 0 {
            return Err(leaves());
        }
    }

    // The text can stay inside while the path it names passes through another link that does
    // not, so where the file system resolves the link must be inside the project too.
    let read_error = |source| BundleError::Read {
        path: link.clone(),
        source,
    };
    let root = std::fs::canonicalize(project_root).map_err(read_error)?;
    if !resolves_under(&root, &link).map_err(read_error)? {
        return Err(leaves());
    }
    Ok(target_text.replace('\\', "/"))
}

/// Whether `path` resolves, through every link on the way, to a place under `root` (a
/// canonical path). A dangling link is judged by the part of its path that exists; the part
/// that does not is only allowed to go down.
fn resolves_under(root: &Path, path: &Path) -> io::Result<bool> {
    let mut existing = path.to_owned();
    let mut missing_goes_up = false;
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(resolved) => return Ok(!missing_goes_up && resolved.starts_with(root)),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }

        // `existing` may be the dangling link itself: follow its text one step.
        if let Ok(target) = std::fs::read_link(&existing) {
            let parent = existing.parent().unwrap_or(Path::new("/")).to_owned();
            if target.is_absolute() {
                return Ok(false);
            }
            existing = parent.join(target);
            continue;
        }
        match existing.components().next_back() {
            Some(Component::Normal(_)) => {}
            Some(Component::CurDir) => {}
            _ => missing_goes_up = true,
        }
        if !existing.pop() {
            return Ok(false);
        }
    }
}

fn append_entry<W: Write>(
    tar: &mut tar::Builder<W>,
    project_root: &Path,
    entry: &Entry,
    counts: &mut Counts,
) -> Result<(), BundleError> {
    let path = project_root.join(&entry.relative);
    let mut header = tar::Header::new_gnu();
    header.set_mtime(FIXED_MTIME);
    header.set_uid(0);
    header.set_gid(0);

    let result = match &entry.kind {
        EntryKind::File { executable } => {
            let read_error = |source| BundleError::Read {
                path: path.clone(),
                source,
            };
            let file = File::open(&path).map_err(read_error)?;
            let size = file.metadata().map_err(read_error)?.len();
            header.set_entry_type(tar::EntryType::Regular);
            header.set_mode(if *executable { 0o755 } else { 0o644 });
            header.set_size(size);
            counts.files += 1;
            counts.content_bytes += size;
            tar.append_data(&mut header, &entry.relative, SizedReader::new(file, size))
        }
        EntryKind::Symlink { target } => {
            header.set_entry_type(tar::EntryType::Symlink);
            header.set_mode(0o777);
            header.set_size(0);
            counts.symlinks += 1;
            tar.append_link(&mut header, &entry.relative, target)
        }
    };
    result.map_err(|source| BundleError::Read { path, source })
}

/// Reads exactly `size` bytes, failing if the file shrank while it was read: a tar entry whose
/// content does not match its header would corrupt the rest of the archive.
pub(crate) struct SizedReader {
    inner: io::Take<File>,
    remaining: u64,
}

impl SizedReader {
    pub(crate) fn new(file: File, size: u64) -> Self {
        Self {
            inner: io::Read::take(file, size),
            remaining: size,
        }
    }
}

impl io::Read for SizedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        if read == 0 && self.remaining > 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file changed size while it was being bundled",
            ));
        }
        self.remaining -= read as u64;
        Ok(read)
    }
}

#[cfg(unix)]
fn is_executable(metadata: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    metadata.permissions().mode() & 0o100 != 0
}

#[cfg(not(unix))]
fn is_executable(_metadata: &std::fs::Metadata) -> bool {
    false
}

/// Passes bytes through while hashing and counting them.
pub(crate) struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> HashingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        Self {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    pub(crate) fn finish(self) -> (String, u64) {
        let digest = self.hasher.finalize();
        let hex = digest.iter().map(|b| format!("{b:02x}")).collect();
        (hex, self.bytes)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = self.inner.write(buf)?;
        self.hasher.update(&buf[..written]);
        self.bytes += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// How a bundle compares with the `dags/` folder it should hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleComparison {
    /// Entries identical in content (files) or target (symlinks).
    pub matching: u64,
    /// In the folder, not in the bundle.
    pub missing: Vec<String>,
    /// In the bundle, not in the folder.
    pub unexpected: Vec<String>,
    /// In both, with different content or target.
    pub different: Vec<String>,
}

impl BundleComparison {
    pub fn is_exact(&self) -> bool {
        self.missing.is_empty() && self.unexpected.is_empty() && self.different.is_empty()
    }
}

/// Compares a gzip-compressed bundle with what the project's `dags/` folder would give, by
/// content, so that a deployed bundle can be checked against the folder it came from.
pub fn compare_with_folder(
    bundle: impl io::Read,
    project_root: &Path,
) -> Result<BundleComparison, BundleError> {
    let read_error = |source| BundleError::Read {
        path: PathBuf::from("<bundle>"),
        source,
    };
    let mut expected: std::collections::BTreeMap<String, EntryKind> =
        collect_entries(project_root)?
            .into_iter()
            .map(|entry| (entry.relative, entry.kind))
            .collect();

    let mut comparison = BundleComparison::default();
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(bundle));
    for entry in archive.entries().map_err(read_error)? {
        let mut entry = entry.map_err(read_error)?;
        let name = entry
            .path()
            .map_err(read_error)?
            .to_string_lossy()
            .into_owned();
        let Some(kind) = expected.remove(&name) else {
            comparison.unexpected.push(name);
            continue;
        };

        let same = match kind {
            EntryKind::File { .. } => {
                let mut content = Vec::new();
                io::Read::read_to_end(&mut entry, &mut content).map_err(read_error)?;
                let path = project_root.join(&name);
                let on_disk =
                    std::fs::read(&path).map_err(|source| BundleError::Read { path, source })?;
                content == on_disk
            }
            EntryKind::Symlink { target } => {
                let link = entry.link_name().map_err(read_error)?;
                link.is_some_and(|link| link.to_string_lossy() == target)
            }
        };
        if same {
            comparison.matching += 1;
        } else {
            comparison.different.push(name);
        }
    }
    comparison.missing = expected.into_keys().collect();
    Ok(comparison)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read as _;

    use super::*;

    fn write(root: &Path, relative: &str, content: &str) {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "dags/b.py", "b = 1\n");
        write(dir.path(), "dags/a.py", "a = 1\n");
        write(dir.path(), "dags/utils/__init__.py", "");
        write(
            dir.path(),
            "dags/utils/__pycache__/x.cpython-311.pyc",
            "junk",
        );
        write(dir.path(), "dags/stale.pyc", "junk");
        write(dir.path(), "dags/.git/HEAD", "ref: x");
        write(dir.path(), "dags/sql/q.sql", "select 1;\n");
        write(dir.path(), "include/data.csv", "a,b\n");
        write(dir.path(), "Dockerfile", "FROM x\n");
        dir
    }

    /// Reads a bundle back as name -> (mode, mtime, uid, content or link target).
    fn read_bundle(path: &Path) -> BTreeMap<String, (u32, u64, u64, String)> {
        let gz = flate2::read::GzDecoder::new(File::open(path).unwrap());
        let mut archive = tar::Archive::new(gz);
        let mut seen = BTreeMap::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let header = entry.header().clone();
            let name = entry.path().unwrap().to_str().unwrap().to_owned();
            let body = match header.entry_type() {
                tar::EntryType::Symlink => {
                    format!("-> {}", entry.link_name().unwrap().unwrap().display())
                }
                _ => {
                    let mut text = String::new();
                    entry.read_to_string(&mut text).unwrap();
                    text
                }
            };
            let meta = (
                header.mode().unwrap(),
                header.mtime().unwrap(),
                header.uid().unwrap(),
            );
            seen.insert(name, (meta.0, meta.1, meta.2, body));
        }
        seen
    }

    #[test]
    fn bundles_dags_only_without_caches_or_git() {
        let dir = project();
        let out = dir.path().join("bundle.tar.gz");
        let summary = write_dag_bundle(dir.path(), &out).unwrap();

        let entries = read_bundle(&out);
        let names: Vec<&str> = entries.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "dags/a.py",
                "dags/b.py",
                "dags/sql/q.sql",
                "dags/utils/__init__.py"
            ]
        );
        assert_eq!(
            entries["dags/a.py"],
            (0o644, FIXED_MTIME, 0, "a = 1\n".to_owned())
        );
        assert_eq!(summary.files, 4);
        assert_eq!(summary.content_bytes, 6 + 6 + 10);
        assert_eq!(summary.bytes, std::fs::metadata(&out).unwrap().len());
    }

    #[test]
    fn the_same_tree_gives_the_same_bytes() {
        let first = project();
        let second = project();
        // Different times and an extra cache file must not change the bundle.
        std::thread::sleep(std::time::Duration::from_millis(20));
        write(second.path(), "dags/utils/__pycache__/y.pyc", "other");

        let a = write_dag_bundle(first.path(), &first.path().join("out.tgz")).unwrap();
        let b = write_dag_bundle(second.path(), &second.path().join("out.tgz")).unwrap();
        assert_eq!(a, b);

        let bytes_a = std::fs::read(first.path().join("out.tgz")).unwrap();
        let bytes_b = std::fs::read(second.path().join("out.tgz")).unwrap();
        assert_eq!(bytes_a, bytes_b);
        let digest: String = Sha256::digest(&bytes_a)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(a.sha256, digest);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_inside_the_project_are_kept_and_executables_marked() {
        use std::os::unix::fs::{symlink, PermissionsExt as _};

        let dir = project();
        symlink("../include/data.csv", dir.path().join("dags/data.csv")).unwrap();
        symlink("sql", dir.path().join("dags/queries")).unwrap();
        let script = dir.path().join("dags/run.sh");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o700)).unwrap();

        let out = dir.path().join("out.tgz");
        let summary = write_dag_bundle(dir.path(), &out).unwrap();
        let entries = read_bundle(&out);

        assert_eq!(entries["dags/data.csv"].3, "-> ../include/data.csv");
        assert_eq!(entries["dags/queries"].3, "-> sql");
        assert_eq!(entries["dags/run.sh"].0, 0o755);
        assert_eq!(summary.symlinks, 2);
    }

    #[test]
    fn a_bundle_compares_equal_to_its_folder_and_not_to_a_changed_one() {
        let dir = project();
        let out = dir.path().join("out.tgz");
        write_dag_bundle(dir.path(), &out).unwrap();

        let same = compare_with_folder(File::open(&out).unwrap(), dir.path()).unwrap();
        assert!(same.is_exact(), "{same:?}");
        assert_eq!(same.matching, 4);

        write(dir.path(), "dags/a.py", "a = 2\n");
        write(dir.path(), "dags/new.py", "");
        std::fs::remove_file(dir.path().join("dags/b.py")).unwrap();
        let changed = compare_with_folder(File::open(&out).unwrap(), dir.path()).unwrap();
        assert_eq!(changed.different, ["dags/a.py"]);
        assert_eq!(changed.missing, ["dags/new.py"]);
        assert_eq!(changed.unexpected, ["dags/b.py"]);
    }

    #[cfg(unix)]
    #[test]
    fn a_chain_of_symlinks_that_leaves_the_project_is_refused_by_name() {
        use std::os::unix::fs::symlink;

        let outside = tempfile::tempdir().unwrap();
        write(outside.path(), "secret.txt", "not yours\n");
        for (link, target) in [
            ("dags/x", "../include/out"),
            ("dags/y.txt", "../include/out/secret.txt"),
            ("dags/z", "../include/out/missing/file"),
        ] {
            let dir = project();
            symlink(outside.path(), dir.path().join("include/out")).unwrap();
            symlink(target, dir.path().join(link)).unwrap();

            let err = write_dag_bundle(dir.path(), &dir.path().join("out.tgz")).unwrap_err();

            assert_eq!(
                err.to_string(),
                format!("the symlink `{link}` points outside the project (to `{target}`)")
            );
            assert!(err
                .hint()
                .unwrap()
                .contains("relative path inside the project"));
        }
    }

    #[cfg(unix)]
    #[test]
    fn a_chain_of_symlinks_inside_the_project_and_a_dangling_one_are_kept() {
        use std::os::unix::fs::symlink;

        let dir = project();
        std::fs::create_dir_all(dir.path().join("include/real")).unwrap();
        symlink("real", dir.path().join("include/out")).unwrap();
        symlink("../include/out", dir.path().join("dags/x")).unwrap();
        symlink("../include/not-yet/file", dir.path().join("dags/later")).unwrap();

        let out = dir.path().join("out.tgz");
        let summary = write_dag_bundle(dir.path(), &out).unwrap();

        let entries = read_bundle(&out);
        assert_eq!(entries["dags/x"].3, "-> ../include/out");
        assert_eq!(entries["dags/later"].3, "-> ../include/not-yet/file");
        assert_eq!(summary.symlinks, 2);
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_that_leave_the_project_are_refused_by_name() {
        use std::os::unix::fs::symlink;

        for target in ["../../etc/passwd", "/etc/passwd", "utils/../../../x"] {
            let dir = project();
            symlink(target, dir.path().join("dags/evil.py")).unwrap();
            let err = write_dag_bundle(dir.path(), &dir.path().join("out.tgz")).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("the symlink `dags/evil.py` points outside the project (to `{target}`)")
            );
        }
    }
}
