//! Preview names: derived from the base Deployment and the full branch name, so that the same
//! branch always finds its preview again and two branches never share one.
//!
//! A name is `<branch slug>-<base slug>-<hash>`. The slugs are for people reading a list in
//! the Astro UI: lowercase ASCII letters, digits and single dashes, cut to fit. The hash is what
//! makes the name unique: the first 8 hex digits of the sha256 of the base Deployment's id and
//! the full branch name, so `a/x` and `b/x`, two branches whose slugs are cut to the same
//! prefix, or two branches that differ only in characters the slug drops, never collide.

use sha2::{Digest, Sha256};

use super::record::BranchRef;

/// The longest name a preview gets. The API allows 500 characters; 50 keeps the name whole in
/// the Astro UI's lists and in Kubernetes labels derived from it.
pub const MAX_NAME_LEN: usize = 50;

const HASH_LEN: usize = 8;
const MAX_BASE_SLUG: usize = 14;

/// The preview name for `branch` of the Deployment `base_id` named `base_name`.
pub fn preview_name(base_id: &str, base_name: &str, branch: &str) -> String {
    let hash = name_hash(base_id, branch);
    let base = slug(base_name, MAX_BASE_SLUG);
    let base = if base.is_empty() {
        "base".to_owned()
    } else {
        base
    };

    // Two dashes join the three parts.
    let room = MAX_NAME_LEN - HASH_LEN - base.len() - 2;
    let branch = slug(branch, room);
    let branch = if branch.is_empty() {
        "branch".to_owned()
    } else {
        branch
    };
    format!("{branch}-{base}-{hash}")
}

/// Whether `name` is the name astro-deploy gives the preview of `branch` of `base_id`. The
/// slugs may differ (the base may have been renamed since); the hash may not. A branch known
/// only by its sha256 cannot be hashed again, so there the shape of the name has to do.
pub fn owns_name(name: &str, base_id: &str, branch: &BranchRef) -> bool {
    let Some((_, hash)) = name.rsplit_once('-') else {
        return false;
    };
    match branch {
        BranchRef::Name(branch) => hash == name_hash(base_id, branch),
        BranchRef::Sha256(_) => {
            hash.len() == HASH_LEN && hash.bytes().all(|b| b.is_ascii_hexdigit())
        }
    }
}

fn name_hash(base_id: &str, branch: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(base_id.as_bytes());
    // A separator that a Deployment id cannot contain, so the split point is never ambiguous.
    hasher.update([0u8]);
    hasher.update(branch.as_bytes());
    let digest = hasher.finalize();
    digest
        .iter()
        .take(HASH_LEN / 2)
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Lowercase ASCII letters and digits, every other run of characters one dash, no dash at
/// either end, at most `max` characters.
fn slug(text: &str, max: usize) -> String {
    let mut out = String::new();
    let mut dash = false;
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if dash && !out.is_empty() {
                out.push('-');
            }
            dash = false;
            out.push(c.to_ascii_lowercase());
        } else {
            dash = true;
        }
    }
    out.truncate(max);
    out.trim_end_matches('-').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "clbase00000000000000000001";

    #[test]
    fn names_read_well_and_are_stable() {
        let name = preview_name(BASE, "Analytics Prod", "feature/Add-Orders");
        assert!(
            name.starts_with("feature-add-orders-analytics-prod-"),
            "{name}"
        );
        assert_eq!(
            name,
            preview_name(BASE, "Analytics Prod", "feature/Add-Orders")
        );
    }

    #[test]
    fn branches_with_the_same_last_segment_do_not_collide() {
        let a = preview_name(BASE, "prod", "a/x");
        let b = preview_name(BASE, "prod", "b/x");
        assert_ne!(a, b);
        assert_ne!(
            preview_name(BASE, "prod", "a-x"),
            preview_name(BASE, "prod", "a/x")
        );
    }

    #[test]
    fn the_same_branch_of_two_bases_gets_two_names() {
        let other = "clbase00000000000000000002";
        assert_ne!(
            preview_name(BASE, "prod", "main"),
            preview_name(other, "prod", "main")
        );
    }

    #[test]
    fn long_and_non_ascii_branches_fit() {
        let long = format!("feature/{}", "very-long-branch-name-".repeat(20));
        let name = preview_name(BASE, "a production deployment name", &long);
        assert!(name.len() <= MAX_NAME_LEN, "{name} ({})", name.len());

        let long_twin = format!("{long}2");
        assert_ne!(
            name,
            preview_name(BASE, "a production deployment name", &long_twin)
        );

        let unicode = preview_name(BASE, "prod", "特性/数据");
        assert!(unicode.starts_with("branch-prod-"), "{unicode}");
        assert!(unicode.is_ascii());
        assert_ne!(unicode, preview_name(BASE, "prod", "特性/数据2"));
    }

    #[test]
    fn a_name_is_owned_by_its_branch_only() {
        let name = preview_name(BASE, "prod", "feature/x");
        let branch = |b: &str| BranchRef::Name(b.to_owned());
        assert!(owns_name(&name, BASE, &branch("feature/x")));
        assert!(!owns_name(&name, BASE, &branch("feature/y")));
        assert!(!owns_name(&name, "clother", &branch("feature/x")));
        assert!(!owns_name("prod", BASE, &branch("feature/x")));
        let renamed_base = name.replace("-prod-", "-production-");
        assert!(owns_name(&renamed_base, BASE, &branch("feature/x")));
    }

    #[test]
    fn every_name_is_lowercase_ascii_and_dashes() {
        for branch in ["--x--", "UPPER/lower", "a  b", "ä/ö/ü-1", "x/../y", "-"] {
            let name = preview_name(BASE, "Prod (EU)", branch);
            assert!(
                name.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "{name}"
            );
            assert!(!name.starts_with('-') && !name.contains("--"), "{name}");
        }
    }
}
