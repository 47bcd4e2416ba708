//! Embeds `examples/astro-project` in the binary, so that `astro-deploy demo` works wherever
//! the binary is: it writes `$OUT_DIR/example_project.rs`, a list of the project's files with
//! `include_bytes!` of each, which `commands/demo.rs` includes.
//!
//! Caches Python writes (`__pycache__/`, `*.pyc`) and `.git/` stay out, as they stay out of a
//! bundle. Anything but files and folders (a symlink, a socket) stops the build: the demo
//! unpacks plain files only.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest.join("../../examples/astro-project");
    // For a folder, cargo reruns the script when anything below it changes.
    println!("cargo:rerun-if-changed={}", root.display());

    let mut files = Vec::new();
    collect(&root, &root, &mut files);
    files.sort();

    let mut code = String::from(
        "/// The example project's files: path below the project, content, executable.\n\
         pub(crate) const FILES: &[(&str, &[u8], bool)] = &[\n",
    );
    for (relative, absolute, executable) in &files {
        writeln!(
            code,
            "    ({relative:?}, include_bytes!({absolute:?}), {executable}),"
        )
        .expect("writing to a String");
    }
    code.push_str("];\n");

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo"));
    std::fs::write(out.join("example_project.rs"), code).expect("writing the embedded project");
}

/// Adds the files under `dir` as (path relative to `root` with `/`, absolute path, executable).
fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, String, bool)>) {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("reading `{}`: {error}", dir.display()));
    for entry in entries {
        let entry = entry.unwrap_or_else(|error| panic!("reading `{}`: {error}", dir.display()));
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().expect("a file type");

        if kind.is_dir() {
            if name != ".git" && name != "__pycache__" {
                collect(root, &path, files);
            }
        } else if kind.is_file() {
            if name.ends_with(".pyc") {
                continue;
            }
            let relative = path.strip_prefix(root).expect("below the root");
            let relative: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            let absolute = path.canonicalize().expect("an existing file");
            files.push((
                relative.join("/"),
                absolute.to_string_lossy().into_owned(),
                is_executable(&path),
            ));
        } else {
            panic!(
                "`{}`: only files and folders of the example project can be embedded",
                path.display()
            );
        }
    }
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o100 != 0)
}

#[cfg(not(unix))]
fn is_executable(_path: &Path) -> bool {
    false
}
