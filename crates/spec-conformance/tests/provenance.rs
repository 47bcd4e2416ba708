//! The vendored specs are the files PROVENANCE.md describes, byte for byte.

use sha2::{Digest, Sha256};
use spec_conformance::vendored_specs_dir;

/// `(file, sha256)` from the table of PROVENANCE.md.
fn recorded_checksums() -> Vec<(String, String)> {
    let provenance = std::fs::read_to_string(vendored_specs_dir().join("PROVENANCE.md"))
        .expect("api-specs/PROVENANCE.md is readable");
    let mut header: Option<Vec<String>> = None;
    let mut rows = Vec::new();
    for line in provenance
        .lines()
        .filter(|l| l.trim_start().starts_with('|'))
    {
        let cells: Vec<String> = line
            .trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect();
        if cells
            .iter()
            .all(|c| c.chars().all(|ch| ch == '-' || ch == ':'))
        {
            continue;
        }
        match &header {
            None => header = Some(cells),
            Some(header) => {
                let column = |name: &str| {
                    let i = header.iter().position(|h| h == name);
                    cells[i.unwrap_or_else(|| panic!("PROVENANCE.md has no `{name}` column"))]
                        .clone()
                };
                rows.push((column("file"), column("sha256")));
            }
        }
    }
    rows
}

#[test]
fn every_spec_matches_its_recorded_sha256() {
    let recorded = recorded_checksums();
    let files: Vec<&str> = recorded.iter().map(|(f, _)| f.as_str()).collect();
    assert_eq!(
        files,
        [
            "platform-v1beta1.yaml",
            "iam-v1beta1.yaml",
            "airflow-v1.yaml"
        ]
    );

    for (file, expected) in &recorded {
        assert_eq!(expected.len(), 64, "`{file}`: `{expected}` is not a sha256");
        let bytes = std::fs::read(vendored_specs_dir().join(file)).expect("the spec is readable");
        let actual: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            &actual, expected,
            "`api-specs/{file}` differs from PROVENANCE.md"
        );
    }
}
