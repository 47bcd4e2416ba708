//! Path templates (`/organizations/{organizationId}/deployments`) and matching concrete paths
//! against them.

/// One segment of a template: text that must be equal, or a parameter that takes any non-empty
/// segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Literal(String),
    Param(String),
}

/// A parsed path template.
#[derive(Debug, Clone)]
pub(crate) struct Template {
    raw: String,
    segments: Vec<Segment>,
}

/// A template that matched: which of its segments were literal (to prefer the most literal
/// match) and the value of each parameter.
pub(crate) struct Match {
    pub(crate) literal_mask: Vec<bool>,
    pub(crate) params: Vec<(String, String)>,
}

impl Template {
    /// Parses a template; a parameter must fill a whole segment, as in every Astro path.
    pub(crate) fn parse(raw: &str) -> Result<Template, String> {
        let rest = raw
            .strip_prefix('/')
            .ok_or_else(|| format!("path `{raw}` does not start with `/`"))?;
        let segments = split(rest)
            .into_iter()
            .map(|segment| {
                let param = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}'));
                match param {
                    Some(name) if !name.is_empty() && !name.contains(['{', '}']) => {
                        Ok(Segment::Param(name.to_string()))
                    }
                    _ if segment.contains(['{', '}']) => Err(format!(
                        "path `{raw}`: segment `{segment}` mixes text and a parameter \
                         (unsupported)"
                    )),
                    _ => Ok(Segment::Literal(segment.to_string())),
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Template {
            raw: raw.to_string(),
            segments,
        })
    }

    pub(crate) fn raw(&self) -> &str {
        &self.raw
    }

    /// The parameter names, in path order.
    pub(crate) fn params(&self) -> impl Iterator<Item = &str> {
        self.segments.iter().filter_map(|s| match s {
            Segment::Param(name) => Some(name.as_str()),
            Segment::Literal(_) => None,
        })
    }

    /// The template with its parameter names erased: two templates with the same shape match
    /// the same paths.
    pub(crate) fn shape(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Literal(text) => format!("/{text}"),
                Segment::Param(_) => "/{}".to_string(),
            })
            .collect()
    }

    pub(crate) fn matches(&self, segments: &[&str]) -> Option<Match> {
        if segments.len() != self.segments.len() {
            return None;
        }
        let mut found = Match {
            literal_mask: Vec::with_capacity(segments.len()),
            params: Vec::new(),
        };
        for (template, concrete) in self.segments.iter().zip(segments) {
            match template {
                Segment::Literal(text) if text == concrete => found.literal_mask.push(true),
                Segment::Param(name) if !concrete.is_empty() => {
                    found.literal_mask.push(false);
                    found.params.push((name.clone(), (*concrete).to_string()));
                }
                _ => return None,
            }
        }
        Some(found)
    }
}

/// The segments of a concrete request path, relative to the API's base path: a full URL loses
/// its origin, a query string or fragment is dropped, and a leading `base_path` is removed.
pub(crate) fn concrete_segments<'p>(path: &'p str, base_path: &str) -> Vec<&'p str> {
    let mut path = path;
    if let Some((_, after_scheme)) = path.split_once("://") {
        path = after_scheme.find('/').map_or("", |i| &after_scheme[i..]);
    }
    path = path.split(['?', '#']).next().unwrap_or_default();

    if !base_path.is_empty() {
        if let Some(rest) = path.strip_prefix(base_path) {
            if rest.is_empty() || rest.starts_with('/') {
                path = rest;
            }
        }
    }
    split(path.strip_prefix('/').unwrap_or(path))
}

/// The decoded pairs of the query string of `path`, if it has one (`?limit=10&sorts=name%3Aasc`).
pub(crate) fn query_pairs(path: &str) -> Vec<(String, String)> {
    let Some((_, query)) = path.split_once('?') else {
        return Vec::new();
    };
    let query = query.split('#').next().unwrap_or_default();
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (form_decode(name), form_decode(value))
        })
        .collect()
}

/// Decodes `application/x-www-form-urlencoded` text: `+` is a space, `%XX` a byte. A `%` not
/// followed by two hex digits stays as it is.
fn form_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', _) => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn split(rest: &str) -> Vec<&str> {
    if rest.is_empty() {
        Vec::new()
    } else {
        rest.split('/').collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concrete_paths_lose_origin_base_and_query() {
        let base = "/platform/v1beta1";
        let expected = vec!["organizations", "o1"];
        assert_eq!(
            concrete_segments("/platform/v1beta1/organizations/o1", base),
            expected
        );
        assert_eq!(concrete_segments("/organizations/o1?x=1", base), expected);
        let url = "https://api.astronomer.io/platform/v1beta1/organizations/o1";
        assert_eq!(concrete_segments(url, base), expected);
        assert_eq!(
            concrete_segments("/platform/v1beta1", base),
            Vec::<&str>::new()
        );
        assert_eq!(
            concrete_segments("/platform/v1beta10/x", base),
            vec!["platform", "v1beta10", "x"]
        );
    }

    #[test]
    fn query_strings_are_decoded() {
        let pairs = query_pairs("/a?sorts=name%3Aasc&names=a+b&flag&limit=10#frag");
        let expected = [
            ("sorts", "name:asc"),
            ("names", "a b"),
            ("flag", ""),
            ("limit", "10"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(pairs, expected);
        assert_eq!(query_pairs("/a"), Vec::new());
        assert_eq!(form_decode("100%"), "100%");
    }

    #[test]
    fn parameters_take_one_non_empty_segment() {
        let template = Template::parse("/a/{id}/b").unwrap();
        assert!(template.matches(&["a", "x", "b"]).is_some());
        assert!(template.matches(&["a", "", "b"]).is_none());
        assert!(template.matches(&["a", "x", "y", "b"]).is_none());
        assert_eq!(template.shape(), "/a/{}/b");
    }

    #[test]
    fn mixed_segments_are_refused() {
        assert!(Template::parse("/a/{id}.json").is_err());
        assert!(Template::parse("a/b").is_err());
    }
}
