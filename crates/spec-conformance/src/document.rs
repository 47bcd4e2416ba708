//! The OpenAPI document as JSON: YAML parsing, pointers into it and `$ref` to its components.

use serde_json::{Map, Number, Value};

/// A problem found at a place in the document, before it is tied to a file name.
#[derive(Debug)]
pub(crate) struct Invalid {
    pub(crate) at: String,
    pub(crate) problem: String,
}

impl Invalid {
    pub(crate) fn new(at: impl Into<String>, problem: impl Into<String>) -> Invalid {
        Invalid {
            at: at.into(),
            problem: problem.into(),
        }
    }
}

/// Turns parsed YAML into JSON. YAML allows keys that are not strings (`200:` unquoted is a
/// number), which OpenAPI means as strings, so scalar keys are written out as text.
pub(crate) fn yaml_to_json(yaml: serde_norway::Value, at: &str) -> Result<Value, Invalid> {
    use serde_norway::Value as Y;

    match yaml {
        Y::Null => Ok(Value::Null),
        Y::Bool(b) => Ok(Value::Bool(b)),
        Y::Number(n) => number_to_json(&n, at).map(Value::Number),
        Y::String(s) => Ok(Value::String(s)),
        Y::Sequence(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, item)| yaml_to_json(item, &format!("{at}/{i}")))
            .collect::<Result<Vec<_>, _>>()
            .map(Value::Array),
        Y::Mapping(mapping) => {
            let mut out = Map::new();
            for (key, value) in mapping {
                let key = match key {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(Invalid::new(at, format!("unsupported key {other:?}"))),
                };
                let value = yaml_to_json(value, &pointer_push(at, &key))?;
                out.insert(key, value);
            }
            Ok(Value::Object(out))
        }
        Y::Tagged(tagged) => Err(Invalid::new(
            at,
            format!("unsupported tag `{}`", tagged.tag),
        )),
    }
}

fn number_to_json(n: &serde_norway::Number, at: &str) -> Result<Number, Invalid> {
    if let Some(i) = n.as_i64() {
        return Ok(Number::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Ok(Number::from(u));
    }
    n.as_f64()
        .and_then(Number::from_f64)
        .ok_or_else(|| Invalid::new(at, format!("`{n}` is not a finite number")))
}

/// Appends one segment to a JSON pointer, escaping it.
pub(crate) fn pointer_push(pointer: &str, segment: &str) -> String {
    format!(
        "{pointer}/{}",
        segment.replace('~', "~0").replace('/', "~1")
    )
}

/// Splits a JSON pointer into its unescaped segments.
pub(crate) fn pointer_segments(pointer: &str) -> Vec<String> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| s.replace("~1", "/").replace("~0", "~"))
        .collect()
}

/// Follows `$ref: '#/components/<kind>/<name>'` (for parameters, request bodies, responses)
/// until a value that is not a reference.
pub(crate) fn resolve<'a>(
    doc: &'a Value,
    value: &'a Value,
    at: &str,
) -> Result<&'a Value, Invalid> {
    let mut current = value;
    for _ in 0..32 {
        let Some(reference) = current.get("$ref") else {
            return Ok(current);
        };
        let target = reference
            .as_str()
            .and_then(|r| r.strip_prefix('#'))
            .ok_or_else(|| Invalid::new(at, format!("unsupported `$ref` {reference}")))?;
        current = doc
            .pointer(target)
            .ok_or_else(|| Invalid::new(at, format!("`$ref` to `#{target}` points nowhere")))?;
    }
    Err(Invalid::new(
        at,
        "`$ref` chain is longer than 32 links (a cycle?)",
    ))
}
