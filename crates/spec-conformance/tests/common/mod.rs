//! Helpers shared by the tests: the raw specs as JSON, and bodies built from their `example`s.

#![allow(dead_code)]

use std::path::PathBuf;

use serde_json::{Map, Value};
use spec_conformance::vendored_specs_dir;

pub const PLATFORM: &str = "platform-v1beta1.yaml";
pub const IAM: &str = "iam-v1beta1.yaml";
pub const AIRFLOW: &str = "airflow-v1.yaml";

pub fn spec_path(file: &str) -> PathBuf {
    vendored_specs_dir().join(file)
}

/// The spec file as JSON, as a test reads it (independently of the crate's own loader).
pub fn raw(file: &str) -> Value {
    let text = std::fs::read_to_string(spec_path(file)).expect("the vendored spec is readable");
    serde_norway::from_str(&text).expect("the vendored spec is YAML")
}

/// An instance of `schema` made of the spec's own `example` values: every declared property is
/// present, so that the strict checker sees every field name the spec uses.
pub fn example(doc: &Value, schema: &Value) -> Value {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let target = reference.trim_start_matches('#');
        return example(
            doc,
            doc.pointer(target).expect("a `$ref` of the spec resolves"),
        );
    }
    if let Some(variants) = schema.get("oneOf").and_then(Value::as_array) {
        return example(doc, &variants[0]);
    }
    if let Some(example) = schema.get("example") {
        return example.clone();
    }
    match schema.get("type").and_then(Value::as_str) {
        Some("array") => Value::Array(vec![example(doc, &schema["items"])]),
        Some("integer") => schema.get("minimum").cloned().unwrap_or(Value::from(1)),
        Some("number") => Value::from(1.5),
        Some("boolean") => Value::Bool(true),
        Some("string") => match schema.get("enum").and_then(Value::as_array) {
            Some(values) => values[0].clone(),
            None if schema.get("format").and_then(Value::as_str) == Some("date-time") => {
                Value::from("2024-08-07T10:00:00Z")
            }
            None => Value::from("text"),
        },
        _ => {
            let mut object = Map::new();
            if let Some(properties) = schema.get("properties").and_then(Value::as_object) {
                for (name, property) in properties {
                    object.insert(name.clone(), example(doc, property));
                }
            }
            Value::Object(object)
        }
    }
}

/// The example of a component schema.
pub fn component_example(doc: &Value, name: &str) -> Value {
    example(doc, &doc["components"]["schemas"][name])
}

/// A template with each `{param}` replaced by a value, e.g. `p-organizationId`.
pub fn concrete(template: &str) -> String {
    template
        .split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => format!("p-{name}"),
                None => segment.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// Renders violations one a line, for assertion messages.
pub fn show(violations: &[spec_conformance::Violation]) -> String {
    violations.iter().map(|v| format!("\n  {v}")).collect()
}
