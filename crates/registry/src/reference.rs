//! Image references: `host[:port]/repository[:tag][@digest]`, parsed and validated the way the
//! distribution spec and Docker read them.
//!
//! A reference without a registry host names Docker Hub (`docker.io`, with `library/` for
//! single-component names), and one without tag or digest means `:latest`, as every container
//! tool reads them. `Display` writes the full form, which parses back to the same value.

use std::fmt;
use std::str::FromStr;

use crate::digest::{quote, Digest};

/// The registry that references without a host name.
pub const DOCKER_HUB: &str = "docker.io";

const DEFAULT_TAG: &str = "latest";
const MAX_NAME_LENGTH: usize = 255;
const MAX_TAG_LENGTH: usize = 128;

/// A reference to an image in a registry.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ImageReference {
    registry: String,
    repository: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

/// A string that is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid image reference: {reason}")]
pub struct ReferenceError {
    pub input: String,
    pub reason: &'static str,
}

impl ImageReference {
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let invalid = |reason| ReferenceError {
            input: quote(input),
            reason,
        };
        if input.is_empty() {
            return Err(invalid("it is empty"));
        }

        let (name_and_tag, digest) = match input.split_once('@') {
            Some((name, digest)) => {
                let digest = Digest::parse(digest)
                    .map_err(|_| invalid("the part after `@` is no digest"))?;
                (name, Some(digest))
            }
            None => (input, None),
        };

        // A `:` after the last `/` starts the tag; one before it belongs to a host's port.
        let last_slash = name_and_tag.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match name_and_tag[last_slash..].rfind(':') {
            Some(colon) => {
                let colon = last_slash + colon;
                (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
            }
            None => (name_and_tag, None),
        };
        if let Some(tag) = tag {
            check_tag(tag).map_err(invalid)?;
        }
        let (registry, repository) = split_registry(name).map_err(invalid)?;

        let tag = match (tag, &digest) {
            (None, None) => Some(DEFAULT_TAG.to_owned()),
            (tag, _) => tag.map(str::to_owned),
        };
        Ok(Self {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// A reference from its parts, each validated.
    pub fn from_parts(registry: &str, repository: &str, tag: &str) -> Result<Self, ReferenceError> {
        Self::parse(&format!("{registry}/{repository}:{tag}")).and_then(|parsed| {
            // A registry-less `repository` would make parse pick another host; refuse that.
            if parsed.registry == registry.to_ascii_lowercase() && parsed.repository == repository {
                Ok(parsed)
            } else {
                Err(ReferenceError {
                    input: quote(&format!("{registry}/{repository}:{tag}")),
                    reason: "the registry host is not a valid host",
                })
            }
        })
    }

    /// The registry host as the reference names it, with its port: `127.0.0.1:5000`,
    /// `images.astronomer.cloud`, `docker.io`.
    pub fn registry(&self) -> &str {
        &self.registry
    }

    /// The repository path in the registry: `cxyz/dep-abc`, `library/ubuntu`.
    pub fn repository(&self) -> &str {
        &self.repository
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// What goes after `/manifests/` in the API: the digest when there is one, else the tag.
    pub fn reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => digest.to_string(),
            (None, Some(tag)) => tag.clone(),
            (None, None) => DEFAULT_TAG.to_owned(),
        }
    }

    /// The same repository, pinned to `digest` (any tag is kept for display).
    pub fn pinned(&self, digest: Digest) -> Self {
        Self {
            digest: Some(digest),
            ..self.clone()
        }
    }
}

impl fmt::Display for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for ImageReference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ImageReference({self})")
    }
}

impl FromStr for ImageReference {
    type Err = ReferenceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// Splits `name` into registry host and repository path, Docker's way: the first component is
/// a host when it has a `.` or a `:`, or is `localhost`.
fn split_registry(name: &str) -> Result<(String, String), &'static str> {
    if name.len() > MAX_NAME_LENGTH {
        return Err("the name is longer than 255 characters");
    }
    let (registry, repository) = match name.split_once('/') {
        Some((first, rest))
            if first.contains('.') || first.contains(':') || first == "localhost" =>
        {
            check_host(first)?;
            (first.to_ascii_lowercase(), rest.to_owned())
        }
        Some(_) => (DOCKER_HUB.to_owned(), name.to_owned()),
        None => (DOCKER_HUB.to_owned(), format!("library/{name}")),
    };
    check_repository(&repository)?;
    Ok((registry, repository))
}

/// A host name or IP address, with an optional port: `a.b.c`, `127.0.0.1:5000`, `[::1]:5000`.
pub(crate) fn check_host(host: &str) -> Result<(), &'static str> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (address, after) = rest
            .split_once(']')
            .ok_or("the IPv6 host has no closing `]`")?;
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return Err("the IPv6 host is not an address");
        }
        match after {
            "" => return Ok(()),
            _ => (
                "ipv6",
                after.strip_prefix(':').ok_or("junk after the IPv6 host")?,
            ),
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, port),
            None => (host, ""),
        }
    };

    let label_ok = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if !name.split('.').all(label_ok) {
        return Err("the registry host is not a valid host name");
    }
    if host.contains(':') && !host.ends_with(']') && port.parse::<u16>().is_err() {
        return Err("the registry port is not a number from 0 to 65535");
    }
    Ok(())
}

/// Checks a repository path given on its own, as the API operations take them.
pub(crate) fn validate_repository(repository: &str) -> Result<(), ReferenceError> {
    let checked = if repository.len() > MAX_NAME_LENGTH {
        Err("the name is longer than 255 characters")
    } else {
        check_repository(repository)
    };
    checked.map_err(|reason| ReferenceError {
        input: quote(repository),
        reason,
    })
}

/// Checks what may follow `/manifests/`: a tag or a digest.
pub(crate) fn validate_manifest_reference(reference: &str) -> Result<(), ReferenceError> {
    let checked = if reference.contains(':') {
        Digest::parse(reference)
            .map(|_| ())
            .map_err(|_| "it is neither a tag nor a digest")
    } else {
        check_tag(reference)
    };
    checked.map_err(|reason| ReferenceError {
        input: quote(reference),
        reason,
    })
}

/// Path components of lowercase letters and digits, joined by `.`, `_`, `__` or dashes.
fn check_repository(repository: &str) -> Result<(), &'static str> {
    if repository.is_empty() {
        return Err("the repository is empty");
    }
    for component in repository.split('/') {
        if !is_path_component(component) {
            return Err(
                "a repository path component is not lowercase letters and digits \
                        joined by `.`, `_`, `__` or `-`",
            );
        }
    }
    Ok(())
}

fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }

    let mut separator = String::new();
    for byte in bytes {
        if alnum(byte) {
            let allowed = separator.is_empty()
                || separator == "."
                || separator == "_"
                || separator == "__"
                || separator.bytes().all(|b| b == b'-');
            if !allowed {
                return false;
            }
            separator.clear();
        } else if matches!(byte, b'.' | b'_' | b'-') {
            separator.push(char::from(*byte));
        } else {
            return false;
        }
    }
    true
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
pub(crate) fn check_tag(tag: &str) -> Result<(), &'static str> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let valid = !tag.is_empty()
        && tag.len() <= MAX_TAG_LENGTH
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(
            "the tag is not 1 to 128 of letters, digits, `_`, `.` and `-`, starting with a \
             letter, digit or `_`",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    fn parts(input: &str) -> (String, String, Option<String>, Option<String>) {
        let r = ImageReference::parse(input).unwrap();
        (
            r.registry().to_owned(),
            r.repository().to_owned(),
            r.tag().map(str::to_owned),
            r.digest().map(ToString::to_string),
        )
    }

    #[test]
    fn reads_astro_deploy_targets() {
        let r = ImageReference::parse(
            "images.astronomer.cloud/cxyz/dep-abc:deploy-2026-01-02t03-04-05",
        )
        .unwrap();
        assert_eq!(r.registry(), "images.astronomer.cloud");
        assert_eq!(r.repository(), "cxyz/dep-abc");
        assert_eq!(r.tag(), Some("deploy-2026-01-02t03-04-05"));
        assert_eq!(r.reference(), "deploy-2026-01-02t03-04-05");
    }

    #[test]
    fn hosts_with_ports_digests_and_hub_names() {
        assert_eq!(
            parts("127.0.0.1:5000/a/b"),
            (
                "127.0.0.1:5000".into(),
                "a/b".into(),
                Some("latest".into()),
                None
            )
        );
        assert_eq!(
            parts(&format!("localhost/x@{DIGEST}")),
            ("localhost".into(), "x".into(), None, Some(DIGEST.into()))
        );
        assert_eq!(
            parts(&format!("[::1]:5000/x:t@{DIGEST}")),
            (
                "[::1]:5000".into(),
                "x".into(),
                Some("t".into()),
                Some(DIGEST.into())
            )
        );
        assert_eq!(
            parts("ubuntu:22.04"),
            (
                "docker.io".into(),
                "library/ubuntu".into(),
                Some("22.04".into()),
                None
            )
        );
        assert_eq!(
            parts("quay.io/astronomer/astro-runtime:12.1.0"),
            (
                "quay.io".into(),
                "astronomer/astro-runtime".into(),
                Some("12.1.0".into()),
                None
            )
        );
        let pinned = ImageReference::parse(&format!("h.io/r@{DIGEST}")).unwrap();
        assert_eq!(pinned.reference(), DIGEST);
    }

    #[test]
    fn display_round_trips() {
        for input in [
            "images.astronomer.cloud/cxyz/dep-abc:deploy-1",
            "127.0.0.1:5000/a/b_c/d__e.f-g---h:v1.2_3",
            "ubuntu",
            "[::1]:5000/x:t",
        ] {
            let parsed = ImageReference::parse(input).unwrap();
            let again = ImageReference::parse(&parsed.to_string()).unwrap();
            assert_eq!(parsed, again, "{input}");
        }
        let with_digest = format!("h.io:1/r:t@{DIGEST}");
        assert_eq!(
            ImageReference::parse(&with_digest).unwrap().to_string(),
            with_digest
        );
    }

    #[test]
    fn errors_name_the_input_and_the_reason() {
        for (bad, reason) in [
            ("", "empty"),
            ("h.io/Upper/x:t", "lowercase"),
            ("h.io/a//b:t", "component"),
            ("h.io/a-/b", "component"),
            ("h.io/a..b", "component"),
            ("h.io/x:-t", "tag"),
            ("h.io/x:", "tag"),
            ("h.io:port/x", "port"),
            ("h.io/x@sha256:abc", "digest"),
            ("bad_host.io/x", "host"),
        ] {
            let err = ImageReference::parse(bad).unwrap_err();
            let message = err.to_string();
            assert!(message.contains(&format!("`{bad}`")), "{message}");
            assert!(message.contains(reason), "{bad}: {message}");
        }
        assert!(ImageReference::parse(&format!("h.io/{}", "a".repeat(300))).is_err());
        assert!(ImageReference::parse(&format!("h.io/x:{}", "t".repeat(129))).is_err());
    }

    #[test]
    fn built_from_parts() {
        let r = ImageReference::from_parts("127.0.0.1:5000", "a/b", "t").unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/a/b:t");
        assert!(ImageReference::from_parts("nohost", "a", "t").is_err());
        assert!(ImageReference::from_parts("h.io", "A", "t").is_err());
    }
}
