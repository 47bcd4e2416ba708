//! The ownership record a preview carries in its description: which base Deployment, branch
//! and pull/merge request it belongs to, and when it was made.
//!
//! `list`, `delete` and `gc` only ever touch Deployments whose description holds a record for
//! their base and whose name is the one derived from that record, so a Deployment that
//! astro-deploy did not create is never listed, let alone deleted. The record is one line that
//! people can read and the tool can parse:
//!
//! ```text
//! astro-deploy-preview/v1 base=clbase... branch=feature%2Forders review=12 created=2026-...
//! ```
//!
//! The branch is percent-encoded so that spaces, newlines and non-ASCII characters survive. A
//! branch too long for Astro's 1000-character description is recorded by its sha256 instead;
//! such a preview is still found for its branch, and `gc` decides on its review and age.

use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

/// Astro's limit on a Deployment's description.
pub const MAX_DESCRIPTION_LEN: usize = 1000;

const MARKER: &str = "astro-deploy-preview/v1";

/// What a preview belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PreviewRecord {
    pub base_id: String,
    pub branch: BranchRef,
    /// The pull request (GitHub) or merge request (GitLab) number, when known.
    pub review: Option<u64>,
    pub created_at: OffsetDateTime,
}

/// A branch as recorded: by name, or by hash when the name is too long to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BranchRef {
    Name(String),
    Sha256(String),
}

impl BranchRef {
    /// Whether this is the record of `branch`.
    pub fn is(&self, branch: &str) -> bool {
        match self {
            BranchRef::Name(name) => name == branch,
            BranchRef::Sha256(hash) => *hash == sha256_hex(branch),
        }
    }

    /// The name, when it was kept.
    pub fn name(&self) -> Option<&str> {
        match self {
            BranchRef::Name(name) => Some(name),
            BranchRef::Sha256(_) => None,
        }
    }
}

impl PreviewRecord {
    pub fn new(
        base_id: &str,
        branch: &str,
        review: Option<u64>,
        created_at: OffsetDateTime,
    ) -> Self {
        Self {
            base_id: base_id.to_owned(),
            branch: BranchRef::Name(branch.to_owned()),
            review,
            created_at,
        }
    }

    /// The description of the preview: a sentence for people, then the record line. The
    /// sentence goes first when something has to give way to the length limit.
    pub fn description(&self, base_name: &str) -> String {
        let line = self.line(&self.branch);
        let branch = self.branch.name().unwrap_or("(a long branch name)");
        let sentence = format!(
            "Preview of `{base_name}` for branch `{branch}`{}, made by astro-deploy and \
             deleted with its branch.",
            self.review
                .map(|n| format!(" (review #{n})"))
                .unwrap_or_default()
        );

        let full = format!("{sentence}\n{line}");
        if full.len() <= MAX_DESCRIPTION_LEN {
            return full;
        }
        if line.len() <= MAX_DESCRIPTION_LEN {
            return line;
        }
        let hashed = match &self.branch {
            BranchRef::Name(name) => BranchRef::Sha256(sha256_hex(name)),
            other => other.clone(),
        };
        self.line(&hashed)
    }

    fn line(&self, branch: &BranchRef) -> String {
        let branch = match branch {
            BranchRef::Name(name) => format!("branch={}", percent_encode(name)),
            BranchRef::Sha256(hash) => format!("branch-sha256={hash}"),
        };
        let review = self
            .review
            .map(|n| n.to_string())
            .unwrap_or_else(|| "-".to_owned());
        let created = self
            .created_at
            .format(&Rfc3339)
            .unwrap_or_else(|_| "-".to_owned());
        format!(
            "{MARKER} base={} {branch} review={review} created={created}",
            self.base_id
        )
    }

    /// The record in a Deployment's description, if it holds a well-formed one.
    pub fn parse(description: &str) -> Option<Self> {
        let line = description
            .lines()
            .find_map(|line| line.trim().strip_prefix(MARKER))?;

        let mut base_id = None;
        let mut branch = None;
        let mut review = None;
        let mut created_at = None;
        for field in line.split_whitespace() {
            let (key, value) = field.split_once('=')?;
            match key {
                "base" => base_id = Some(value.to_owned()),
                "branch" => branch = Some(BranchRef::Name(percent_decode(value)?)),
                "branch-sha256" => branch = Some(BranchRef::Sha256(value.to_owned())),
                "review" if value == "-" => review = Some(None),
                "review" => review = Some(Some(value.parse().ok()?)),
                "created" => created_at = OffsetDateTime::parse(value, &Rfc3339).ok(),
                // Later versions may add fields; they do not make the record foreign.
                _ => {}
            }
        }
        Some(Self {
            base_id: base_id?,
            branch: branch?,
            review: review?,
            created_at: created_at?,
        })
    }
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Every byte but ASCII letters, digits and `-._~` as `%XX`.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(branch: &str, review: Option<u64>) -> PreviewRecord {
        PreviewRecord::new("clbase1", branch, review, datetime!(2026-12-03 10:00 UTC))
    }

    #[test]
    fn a_record_survives_its_description() {
        for branch in ["main", "feature/a b", "特性/数据", "x\ny", "100%=done"] {
            let original = record(branch, Some(12));
            let description = original.description("prod");
            assert!(description.len() <= MAX_DESCRIPTION_LEN);
            assert_eq!(
                PreviewRecord::parse(&description),
                Some(original),
                "{branch}"
            );
        }
        let without_review = record("main", None);
        let parsed = PreviewRecord::parse(&without_review.description("prod"));
        assert_eq!(parsed, Some(without_review));
    }

    #[test]
    fn a_branch_too_long_to_keep_is_recorded_by_hash() {
        let branch = "é".repeat(400);
        let description = record(&branch, Some(3)).description("prod");
        assert!(
            description.len() <= MAX_DESCRIPTION_LEN,
            "{}",
            description.len()
        );

        let parsed = PreviewRecord::parse(&description).unwrap();
        assert!(parsed.branch.is(&branch));
        assert!(!parsed.branch.is("main"));
        assert_eq!(parsed.branch.name(), None);
        assert_eq!(parsed.review, Some(3));
    }

    #[test]
    fn descriptions_without_a_whole_record_are_foreign() {
        for description in [
            "",
            "Production Deployment",
            "astro-deploy-preview/v1 base=x",
            "astro-deploy-preview/v1 base=x branch=main review=abc created=2026-12-03T10:00:00Z",
            "astro-deploy-preview/v1 base=x branch=%zz review=1 created=2026-12-03T10:00:00Z",
        ] {
            assert_eq!(PreviewRecord::parse(description), None, "{description}");
        }
    }
}
