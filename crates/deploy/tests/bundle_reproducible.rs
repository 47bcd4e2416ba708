//! A DAG bundle depends on what the tree holds, never on how it came to be: the order files
//! were created in, their times, or permission bits other than "executable".

use std::io::Read as _;
use std::path::Path;

use deploy::bundle::write_dag_bundle;

/// The tree, as (path under the project, content, mode).
const TREE: &[(&str, &str, u32)] = &[
    ("dags/a_first.py", "a = 1\n", 0o644),
    ("dags/B_upper.py", "b = 1\n", 0o600),
    ("dags/z_last.py", "z = 1\n", 0o664),
    ("dags/common/__init__.py", "", 0o644),
    ("dags/common/helpers.py", "def helper(): ...\n", 0o640),
    ("dags/common/sql/report.sql", "select 1;\n", 0o644),
    ("dags/m-dash.py", "m = 1\n", 0o644),
    ("dags/m.py", "m = 2\n", 0o644),
    ("dags/m_under.py", "m = 3\n", 0o644),
    ("dags/run.sh", "#!/bin/sh\n", 0o755),
];

#[cfg(unix)]
fn create(root: &Path, order: impl Iterator<Item = usize>, mode_offset: u32) {
    use std::os::unix::fs::PermissionsExt as _;

    for index in order {
        let (relative, content, mode) = TREE[index];
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        // Read bits for group and others differ between the trees; only the owner's execute
        // bit may show in a bundle.
        let mode = mode | mode_offset;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

fn entry_names(bundle: &Path) -> Vec<String> {
    let gzip = flate2::read::GzDecoder::new(std::fs::File::open(bundle).unwrap());
    let mut archive = tar::Archive::new(gzip);
    let mut names = Vec::new();
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        names.push(entry.path().unwrap().to_string_lossy().into_owned());
        let mut sink = Vec::new();
        entry.read_to_end(&mut sink).unwrap();
    }
    names
}

#[cfg(unix)]
#[test]
fn trees_made_in_different_orders_give_byte_identical_bundles() {
    let forward = tempfile::tempdir().unwrap();
    let backward = tempfile::tempdir().unwrap();
    create(forward.path(), 0..TREE.len(), 0);
    create(backward.path(), (0..TREE.len()).rev(), 0o044);
    let out = tempfile::tempdir().unwrap();
    let (first, second) = (out.path().join("a.tgz"), out.path().join("b.tgz"));

    let a = write_dag_bundle(forward.path(), &first).unwrap();
    let b = write_dag_bundle(backward.path(), &second).unwrap();

    assert_eq!(a, b);
    assert!(
        std::fs::read(&first).unwrap() == std::fs::read(&second).unwrap(),
        "the bundles differ"
    );
    let names = entry_names(&first);
    let mut sorted = names.clone();
    sorted.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
    assert_eq!(names, sorted, "entries are in byte order of their paths");
    assert_eq!(names.len(), TREE.len());
}
