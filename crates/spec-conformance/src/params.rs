//! Path and query parameters: their declared shape, and turning the text of a URL into the
//! JSON value their schema validates.

use std::sync::Arc;

use serde_json::{Number, Value};

use crate::schema::{Compiled, Finding};

/// The JSON type a parameter's text must parse to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scalar {
    String,
    Integer,
    Number,
    Boolean,
}

impl Scalar {
    pub(crate) fn of(schema: &Value) -> Scalar {
        match schema.get("type").and_then(Value::as_str) {
            Some("integer") => Scalar::Integer,
            Some("number") => Scalar::Number,
            Some("boolean") => Scalar::Boolean,
            _ => Scalar::String,
        }
    }

    /// Parses the text of one value; the error says what the text is not.
    fn parse(self, text: &str) -> Result<Value, String> {
        match self {
            Scalar::String => Ok(Value::String(text.to_string())),
            Scalar::Integer => text
                .parse::<i64>()
                .map(Value::from)
                .or_else(|_| text.parse::<u64>().map(Value::from))
                .map_err(|_| format!("`{text}` is not an integer")),
            Scalar::Number => text
                .parse::<f64>()
                .ok()
                .and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| format!("`{text}` is not a number")),
            Scalar::Boolean => match text {
                "true" => Ok(Value::Bool(true)),
                "false" => Ok(Value::Bool(false)),
                _ => Err(format!("`{text}` is not a boolean (`true` or `false`)")),
            },
        }
    }
}

/// A declared path or query parameter.
pub(crate) struct Param {
    pub(crate) name: String,
    pub(crate) required: bool,
    /// `Some(items)` for an array parameter.
    pub(crate) array_of: Option<Scalar>,
    pub(crate) scalar: Scalar,
    pub(crate) schema: Arc<Compiled>,
}

impl Param {
    /// Checks the values a request gave this parameter (more than one only for a repeated
    /// query key). An array takes repeated keys, comma-separated values, or both.
    pub(crate) fn check(&self, values: &[&str]) -> Vec<Finding> {
        let value = match self.array_of {
            Some(items) => {
                let texts = values.iter().flat_map(|v| v.split(','));
                let parsed: Vec<Result<Value, String>> = texts.map(|t| items.parse(t)).collect();
                let errors = errors_at_index(&parsed);
                if !errors.is_empty() {
                    return errors;
                }
                Value::Array(parsed.into_iter().filter_map(Result::ok).collect())
            }
            None if values.len() > 1 => {
                return vec![Finding {
                    pointer: String::new(),
                    message: format!(
                        "given {} times, but it is not an array and takes one value",
                        values.len()
                    ),
                }];
            }
            None => match self
                .scalar
                .parse(values.first().copied().unwrap_or_default())
            {
                Ok(value) => value,
                Err(message) => {
                    return vec![Finding {
                        pointer: String::new(),
                        message,
                    }]
                }
            },
        };
        self.schema.check(&value)
    }
}

fn errors_at_index(parsed: &[Result<Value, String>]) -> Vec<Finding> {
    parsed
        .iter()
        .enumerate()
        .filter_map(|(i, result)| {
            result.as_ref().err().map(|message| Finding {
                pointer: format!("/{i}"),
                message: message.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_parse_strictly() {
        assert_eq!(Scalar::Integer.parse("20"), Ok(Value::from(20)));
        assert!(Scalar::Integer.parse("abc").is_err());
        assert!(Scalar::Integer.parse("1.5").is_err());
        assert!(Scalar::Integer.parse("").is_err());
        assert_eq!(Scalar::Boolean.parse("true"), Ok(Value::Bool(true)));
        assert!(Scalar::Boolean.parse("True").is_err());
        assert!(Scalar::Number.parse("NaN").is_err());
    }
}
