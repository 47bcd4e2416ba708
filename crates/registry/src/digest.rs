//! Content digests (`sha256:<hex>`): parsing them, computing them, and checking content against
//! them while it streams.
//!
//! Any digest the OCI grammar allows parses, so that manifests naming other algorithms still
//! read; only `sha256` can be computed and verified, which is what registries use in practice.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

/// The longest input quoted back in an error, so that garbage from outside stays readable.
const QUOTE_LIMIT: usize = 100;

/// A content digest, `algorithm:encoded`, validated on construction.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest(String);

/// A string that is not a digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{input}` is not a valid digest: {reason}")]
pub struct DigestError {
    pub input: String,
    pub reason: &'static str,
}

impl Digest {
    /// Parses `algorithm:encoded` as the OCI image spec defines it; `sha256` and `sha512` must
    /// be lowercase hex of their length.
    pub fn parse(input: &str) -> Result<Self, DigestError> {
        let invalid = |reason| DigestError {
            input: quote(input),
            reason,
        };
        let (algorithm, encoded) = input
            .split_once(':')
            .ok_or_else(|| invalid("it has no `algorithm:` prefix"))?;

        if !is_algorithm(algorithm) {
            return Err(invalid("the algorithm is not lowercase letters and digits"));
        }
        let hex_length = match algorithm {
            "sha256" => Some(64),
            "sha512" => Some(128),
            _ => None,
        };
        match hex_length {
            Some(length) if encoded.len() != length || !is_lower_hex(encoded) => Err(invalid(
                "the hash is not lowercase hex of the algorithm's length",
            )),
            None if encoded.is_empty() || !encoded.bytes().all(is_encoded_byte) => {
                Err(invalid("the hash holds characters a digest cannot"))
            }
            _ => Ok(Self(input.to_owned())),
        }
    }

    /// The sha256 digest of `bytes`.
    pub fn sha256(bytes: &[u8]) -> Self {
        Self::from_sha256(Sha256::digest(bytes).as_slice())
    }

    pub fn algorithm(&self) -> &str {
        self.0
            .split_once(':')
            .map_or("", |(algorithm, _)| algorithm)
    }

    /// The part after `algorithm:`; for sha256 and sha512, lowercase hex. It holds no `/` or
    /// `.`, so it is safe as a file name.
    pub fn encoded(&self) -> &str {
        self.0.split_once(':').map_or("", |(_, encoded)| encoded)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn from_sha256(hash: &[u8]) -> Self {
        let mut text = String::with_capacity(7 + 64);
        text.push_str("sha256:");
        for byte in hash {
            text.push_str(&format!("{byte:02x}"));
        }
        Self(text)
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({})", self.0)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Digest::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// Hashes content that arrives in pieces, to compare with the digest it should have.
#[derive(Clone, Default)]
pub(crate) struct Sha256Hasher {
    hasher: Sha256,
    length: u64,
}

impl Sha256Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.hasher.update(bytes);
        self.length += bytes.len() as u64;
    }

    /// How many bytes have been hashed.
    pub fn len(&self) -> u64 {
        self.length
    }

    pub fn finish(self) -> Digest {
        Digest::from_sha256(self.hasher.finalize().as_slice())
    }
}

fn is_algorithm(algorithm: &str) -> bool {
    let mut previous_was_separator = true;
    for byte in algorithm.bytes() {
        let separator = matches!(byte, b'+' | b'.' | b'_' | b'-');
        if separator && previous_was_separator {
            return false;
        }
        if !(separator || byte.is_ascii_lowercase() || byte.is_ascii_digit()) {
            return false;
        }
        previous_was_separator = separator;
    }
    !algorithm.is_empty() && !previous_was_separator
}

fn is_lower_hex(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_encoded_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'=' | b'_' | b'-')
}

/// `input`, cut to a length that reads well in an error.
pub(crate) fn quote(input: &str) -> String {
    if input.len() <= QUOTE_LIMIT {
        return input.to_owned();
    }
    let mut end = QUOTE_LIMIT;
    while !input.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &input[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn computes_sha256_as_registries_name_blobs() {
        let digest = Digest::sha256(b"");
        assert_eq!(digest.as_str(), EMPTY);
        assert_eq!(digest.algorithm(), "sha256");
        assert_eq!(digest.encoded().len(), 64);

        let mut hasher = Sha256Hasher::default();
        hasher.update(b"hello ");
        hasher.update(b"world");
        assert_eq!(hasher.len(), 11);
        assert_eq!(hasher.finish(), Digest::sha256(b"hello world"));
    }

    #[test]
    fn parses_what_the_grammar_allows_and_names_what_it_refuses() {
        assert_eq!(Digest::parse(EMPTY).unwrap().to_string(), EMPTY);
        assert!(
            Digest::parse("multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8")
                .is_ok()
        );

        for bad in [
            "e3b0c44298fc",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha256:abc",
            "SHA256:abc",
            "sha256:../../etc/passwd",
            "x:a/b",
            ":abc",
        ] {
            let err = Digest::parse(bad).unwrap_err();
            assert!(err.to_string().contains(&format!("`{bad}`")), "{err}");
        }
    }

    #[test]
    fn long_garbage_is_cut_in_errors() {
        let err = Digest::parse(&"x".repeat(10_000)).unwrap_err();
        assert!(err.to_string().len() < 200);
    }

    #[test]
    fn serde_validates() {
        let json = format!("\"{EMPTY}\"");
        let digest: Digest = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&digest).unwrap(), json);
        assert!(serde_json::from_str::<Digest>("\"sha256:zz\"").is_err());
    }
}
