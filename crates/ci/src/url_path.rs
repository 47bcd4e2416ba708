//! Percent-encoding of one URL path segment, shared by the GitHub and GitLab clients: a branch
//! such as `feature/dags` or a project path such as `group/project` must travel as one segment.

/// Encodes everything but RFC 3986's unreserved characters, byte by byte, so `/` becomes `%2F`
/// and a non-ASCII character its UTF-8 bytes (`ü` is `%C3%BC`).
pub(crate) fn encode_path_segment(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::encode_path_segment;

    #[test]
    fn slashes_spaces_and_non_ascii_become_one_segment() {
        assert_eq!(
            encode_path_segment("feature/dags-v1.2"),
            "feature%2Fdags-v1.2"
        );
        assert_eq!(
            encode_path_segment("fix/über straße"),
            "fix%2F%C3%BCber%20stra%C3%9Fe"
        );
        assert_eq!(encode_path_segment("a+b%c#d?e"), "a%2Bb%25c%23d%3Fe");
    }
}
