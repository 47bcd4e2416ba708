//! OpenAPI 3.0 schema objects turned into strict JSON Schema (draft 7), compiled, and their
//! validation errors turned into findings that name the field and the schema at fault.
//!
//! The conversion:
//! - `$ref: '#/components/schemas/X'` becomes `#/definitions/X`; each compiled root carries
//!   the definitions it reaches. As OpenAPI 3.0 says, keywords beside a `$ref` are ignored.
//! - STRICT objects: a schema that declares `properties` and says nothing about
//!   `additionalProperties` gets `additionalProperties: false`, so an invented or misspelled
//!   field is an error. This is what the crate is for.
//! - `nullable: true` adds `null` to `type` (and to `enum`), or wraps the schema in
//!   `anyOf: [schema, {type: null}]` when it has no plain `type`.
//! - The boolean `exclusiveMinimum`/`exclusiveMaximum` of 3.0 become draft 7 numbers.
//! - OpenAPI-only keywords (`example`, `x-*`, `discriminator`, `xml`, `externalDocs`,
//!   `deprecated`, `readOnly`, `writeOnly`) and `description` are dropped.
//! - `oneOf` over `$ref`s is dispatched on a discriminator instead of being left as `oneOf`:
//!   with strict objects the Astro unions are not exclusive (every `UpdateDedicated…` body is
//!   also a valid `UpdateStandard…` body, a `Dedicated` create body a valid `Standard` one), so
//!   `oneOf` would fail on "more than one match" and, when nothing matches, say only "not valid
//!   under any". The discriminator is the declared `discriminator` when there is one; the Astro
//!   specs declare none, so otherwise it is inferred: the first property (by name) that every
//!   variant declares as a string `enum` such that exactly one value of each variant's enum
//!   appears in that variant's name (`type: DEDICATED` for `CreateDedicatedDeploymentRequest`,
//!   `cloudProvider: AWS` for `CreateAwsClusterRequest`, `clusterType: HYBRID` for
//!   `UpdateHybridClusterRequest`), each variant with its own value. The body is then checked
//!   against that one variant, so its errors name the real field. When the discriminator is
//!   absent and some variant does not require it, the plain `oneOf` decides.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use jsonschema::error::ValidationErrorKind;
use serde_json::{json, Map, Value};

use crate::document::{pointer_push, pointer_segments, Invalid};

const DROPPED: &[&str] = &[
    "example",
    "examples",
    "discriminator",
    "xml",
    "externalDocs",
    "deprecated",
    "readOnly",
    "writeOnly",
    "description",
    "nullable",
];

const SCHEMA_REF_PREFIX: &str = "#/components/schemas/";
const DEFINITION_PREFIX: &str = "#/definitions/";

/// Converts schemas of one document; knows its raw `components.schemas` to infer discriminators.
pub(crate) struct Converter<'a> {
    components: &'a Map<String, Value>,
}

impl<'a> Converter<'a> {
    pub(crate) fn new(components: &'a Map<String, Value>) -> Converter<'a> {
        Converter { components }
    }

    /// Converts every component schema, by name.
    pub(crate) fn definitions(&self) -> Result<Map<String, Value>, Invalid> {
        self.components
            .iter()
            .map(|(name, schema)| {
                let at = pointer_push("/components/schemas", name);
                Ok((name.clone(), self.convert(schema, &at)?))
            })
            .collect()
    }

    /// Converts one schema object found at `at` in the document.
    pub(crate) fn convert(&self, schema: &Value, at: &str) -> Result<Value, Invalid> {
        let object = match schema {
            Value::Bool(_) => return Ok(schema.clone()),
            Value::Object(object) => object,
            _ => return Err(Invalid::new(at, "a schema must be an object")),
        };
        if let Some(merged) = self.merged_all_of(object, 0) {
            return self.convert(&Value::Object(merged), at);
        }
        let nullable = object.get("nullable") == Some(&Value::Bool(true));

        if let Some(reference) = object.get("$ref") {
            let converted = json!({ "$ref": self.definition_ref(reference, at)? });
            return Ok(if nullable {
                or_null(converted)
            } else {
                converted
            });
        }

        let mut out = Map::new();
        for (key, value) in object {
            if DROPPED.contains(&key.as_str()) || key.starts_with("x-") || key == "oneOf" {
                continue;
            }
            let here = pointer_push(at, key);
            let converted = match key.as_str() {
                "properties" => Value::Object(self.convert_map(value, &here)?),
                "items" | "not" => self.convert(value, &here)?,
                "additionalProperties" if value.is_object() => self.convert(value, &here)?,
                "allOf" | "anyOf" => Value::Array(self.convert_list(value, &here)?),
                _ => value.clone(),
            };
            out.insert(key.clone(), converted);
        }

        if object.contains_key("properties") && !object.contains_key("additionalProperties") {
            out.insert("additionalProperties".into(), Value::Bool(false));
        }
        exclusive_bounds(&mut out);
        if let Some(variants) = object.get("oneOf") {
            self.one_of(object, variants, &mut out, &pointer_push(at, "oneOf"))?;
        }

        let converted = Value::Object(out);
        Ok(if nullable {
            or_null(converted)
        } else {
            converted
        })
    }

    /// An `allOf` whose parts are all plain objects (after following `$ref`s), merged into one
    /// object schema: the union of their `properties` and `required`. Left as `allOf`, each
    /// STRICT part would refuse the fields of the others, and no body could ever validate.
    /// `None` when some part is anything else (a `oneOf`, a scalar, an open object), which keeps
    /// the plain `allOf`.
    fn merged_all_of(&self, object: &Map<String, Value>, depth: u32) -> Option<Map<String, Value>> {
        let parts = object.get("allOf")?.as_array()?;
        let mut merged = object.clone();
        merged.remove("allOf");
        let mut properties = match merged.remove("properties") {
            Some(Value::Object(own)) => own,
            None => Map::new(),
            Some(_) => return None,
        };
        let mut required: Vec<Value> = match merged.remove("required") {
            Some(Value::Array(own)) => own,
            None => Vec::new(),
            Some(_) => return None,
        };

        for part in parts {
            let part = self.plain_object(part, depth + 1)?;
            if let Some(Value::Object(more)) = part.get("properties") {
                properties.extend(more.clone());
            }
            for name in part
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if !required.contains(name) {
                    required.push(name.clone());
                }
            }
        }

        merged.insert("type".into(), json!("object"));
        merged.insert("properties".into(), Value::Object(properties));
        if !required.is_empty() {
            merged.insert("required".into(), Value::Array(required));
        }
        Some(merged)
    }

    /// A part of an `allOf` as a plain object schema (only `type: object`, `properties`,
    /// `required` and annotations), following `$ref`s and nested `allOf`s a bounded depth.
    fn plain_object(&self, schema: &Value, depth: u32) -> Option<Map<String, Value>> {
        const MAX_DEPTH: u32 = 16;
        if depth > MAX_DEPTH {
            return None;
        }
        let object = schema.as_object()?;
        if let Some(reference) = object.get("$ref") {
            let target = self.components.get(component_name(reference)?)?;
            return self.plain_object(target, depth + 1);
        }
        if object.contains_key("allOf") {
            return self.merged_all_of(object, depth);
        }

        let plain_key = |key: &String| {
            matches!(key.as_str(), "type" | "properties" | "required" | "title")
                || DROPPED.contains(&key.as_str())
                || key.starts_with("x-")
        };
        let is_object = object.get("type").is_none_or(|kind| kind == "object");
        let nullable = object.get("nullable") == Some(&Value::Bool(true));
        (is_object && !nullable && object.keys().all(plain_key)).then(|| object.clone())
    }

    fn convert_map(&self, value: &Value, at: &str) -> Result<Map<String, Value>, Invalid> {
        let map = value
            .as_object()
            .ok_or_else(|| Invalid::new(at, "`properties` must be a map"))?;
        map.iter()
            .map(|(name, schema)| {
                Ok((name.clone(), self.convert(schema, &pointer_push(at, name))?))
            })
            .collect()
    }

    fn convert_list(&self, value: &Value, at: &str) -> Result<Vec<Value>, Invalid> {
        let list = value
            .as_array()
            .ok_or_else(|| Invalid::new(at, "a list of schemas is expected"))?;
        list.iter()
            .enumerate()
            .map(|(i, schema)| self.convert(schema, &format!("{at}/{i}")))
            .collect()
    }

    fn definition_ref(&self, reference: &Value, at: &str) -> Result<String, Invalid> {
        let name = component_name(reference)
            .ok_or_else(|| Invalid::new(at, format!("unsupported schema `$ref` {reference}")))?;
        if !self.components.contains_key(name) {
            return Err(Invalid::new(
                at,
                format!("`$ref` to unknown schema `{name}`"),
            ));
        }
        Ok(format!("{DEFINITION_PREFIX}{name}"))
    }

    /// Writes a `oneOf` into `out`: dispatched on a discriminator when one is found, else as is.
    fn one_of(
        &self,
        object: &Map<String, Value>,
        variants: &Value,
        out: &mut Map<String, Value>,
        at: &str,
    ) -> Result<(), Invalid> {
        let converted = self.convert_list(variants, at)?;
        let dispatch = match object.get("discriminator") {
            Some(discriminator) => Some(self.declared_dispatch(discriminator, variants, at)?),
            None => self.inferred_dispatch(variants),
        };
        let Some(dispatch) = dispatch else {
            out.insert("oneOf".into(), Value::Array(converted));
            return Ok(());
        };

        let property = &dispatch.property;
        let mut rules: Vec<Value> = dispatch
            .cases
            .iter()
            .map(|(value, target)| {
                let carries_value = json!({
                    "properties": { property: { "const": value } },
                    "required": [property],
                });
                json!({ "if": carries_value, "then": { "$ref": target } })
            })
            .collect();
        let values: Vec<&String> = dispatch.cases.iter().map(|(value, _)| value).collect();
        rules.push(json!({ "properties": { property: { "enum": values } } }));
        rules.push(if dispatch.required_everywhere {
            json!({ "required": [property] })
        } else {
            json!({ "if": { "not": { "required": [property] } }, "then": { "oneOf": converted } })
        });

        match out.get_mut("allOf").and_then(Value::as_array_mut) {
            Some(all_of) => all_of.extend(rules),
            None => {
                out.insert("allOf".into(), Value::Array(rules));
            }
        }
        Ok(())
    }

    fn declared_dispatch(
        &self,
        discriminator: &Value,
        variants: &Value,
        at: &str,
    ) -> Result<Dispatch, Invalid> {
        let property = discriminator
            .get("propertyName")
            .and_then(Value::as_str)
            .ok_or_else(|| Invalid::new(at, "`discriminator` without `propertyName`"))?;
        let names = self.variant_names(variants).ok_or_else(|| {
            Invalid::new(
                at,
                "a `oneOf` with a `discriminator` must list `$ref`s only",
            )
        })?;

        let mut cases = Vec::new();
        if let Some(mapping) = discriminator.get("mapping").and_then(Value::as_object) {
            for (value, reference) in mapping {
                cases.push((value.clone(), self.definition_ref(reference, at)?));
            }
        }
        for name in &names {
            let target = format!("{DEFINITION_PREFIX}{name}");
            if !cases.iter().any(|(_, mapped)| *mapped == target) {
                cases.push((name.to_string(), target));
            }
        }
        Ok(Dispatch {
            property: property.to_string(),
            cases,
            required_everywhere: self.required_everywhere(&names, property),
        })
    }

    fn inferred_dispatch(&self, variants: &Value) -> Option<Dispatch> {
        let names = self.variant_names(variants)?;
        let candidates = names
            .iter()
            .map(|name| property_names(self.components.get(*name)))
            .reduce(|a, b| a.intersection(&b).cloned().collect())?;

        candidates.into_iter().find_map(|property| {
            let mut cases = Vec::new();
            for name in &names {
                let schema = self
                    .components
                    .get(*name)?
                    .get("properties")?
                    .get(&property)?;
                let value = value_named_by(name, &self.enum_of(schema)?)?;
                if cases.iter().any(|(taken, _)| *taken == value) {
                    return None;
                }
                cases.push((value, format!("{DEFINITION_PREFIX}{name}")));
            }
            Some(Dispatch {
                required_everywhere: self.required_everywhere(&names, &property),
                property,
                cases,
            })
        })
    }

    /// The component names of a `oneOf` made of `$ref`s only.
    fn variant_names<'v>(&self, variants: &'v Value) -> Option<Vec<&'v str>> {
        variants
            .as_array()?
            .iter()
            .map(|variant| {
                component_name(variant.get("$ref")?).filter(|n| self.components.contains_key(*n))
            })
            .collect()
    }

    fn required_everywhere(&self, names: &[&str], property: &str) -> bool {
        names.iter().all(|name| {
            self.components
                .get(*name)
                .and_then(|schema| schema.get("required"))
                .and_then(Value::as_array)
                .is_some_and(|required| required.iter().any(|r| r == property))
        })
    }

    /// The string values of an `enum`, inline or behind a `$ref`.
    fn enum_of(&self, schema: &Value) -> Option<Vec<String>> {
        let schema = match schema.get("$ref") {
            Some(reference) => self.components.get(component_name(reference)?)?,
            None => schema,
        };
        schema
            .get("enum")?
            .as_array()?
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect()
    }
}

/// How a `oneOf` is decided: the variant whose discriminator value the body carries.
struct Dispatch {
    property: String,
    /// (discriminator value, `#/definitions/…` of its variant)
    cases: Vec<(String, String)>,
    required_everywhere: bool,
}

fn component_name(reference: &Value) -> Option<&str> {
    reference.as_str()?.strip_prefix(SCHEMA_REF_PREFIX)
}

fn property_names(schema: Option<&Value>) -> BTreeSet<String> {
    schema
        .and_then(|s| s.get("properties"))
        .and_then(Value::as_object)
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default()
}

/// The only value of `values` that the schema name spells (`Dedicated` in
/// `CreateDedicatedDeploymentRequest` for `DEDICATED`), compared without case or punctuation.
fn value_named_by(name: &str, values: &[String]) -> Option<String> {
    let name = squash(name);
    let mut named = values.iter().filter(|v| {
        let v = squash(v);
        !v.is_empty() && name.contains(&v)
    });
    let first = named.next()?;
    named.next().is_none().then(|| first.clone())
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn or_null(schema: Value) -> Value {
    let Value::Object(mut object) = schema else {
        return schema;
    };
    let composite = ["$ref", "allOf", "anyOf", "oneOf", "not"]
        .iter()
        .any(|k| object.contains_key(*k));
    match object.get_mut("type") {
        Some(Value::String(t)) if !composite => {
            let t = std::mem::take(t);
            object.insert("type".into(), json!([t, "null"]));
        }
        Some(Value::Array(types)) if !composite => {
            if !types.iter().any(|t| t == "null") {
                types.push(json!("null"));
            }
        }
        _ => return json!({ "anyOf": [Value::Object(object), { "type": "null" }] }),
    }
    if let Some(Value::Array(values)) = object.get_mut("enum") {
        if !values.contains(&Value::Null) {
            values.push(Value::Null);
        }
    }
    Value::Object(object)
}

/// OpenAPI 3.0 (like draft 4) writes `exclusiveMinimum: true` beside `minimum`.
fn exclusive_bounds(out: &mut Map<String, Value>) {
    for (exclusive, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        match out.get(exclusive) {
            Some(Value::Bool(true)) => match out.remove(bound) {
                Some(limit) => {
                    out.insert(exclusive.into(), limit);
                }
                None => {
                    out.remove(exclusive);
                }
            },
            Some(Value::Bool(false)) => {
                out.remove(exclusive);
            }
            _ => {}
        }
    }
}

/// One schema ready to validate instances, with the JSON Schema it was compiled from.
pub(crate) struct Compiled {
    root: Value,
    validator: jsonschema::Validator,
}

/// What is wrong with an instance: where (a JSON pointer into it) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Finding {
    pub(crate) pointer: String,
    pub(crate) message: String,
}

/// Compiles converted schemas, sharing the result between identical ones (most responses of an
/// API share its `Error` schema).
pub(crate) struct Compiler {
    definitions: Map<String, Value>,
    cache: HashMap<String, Arc<Compiled>>,
}

impl Compiler {
    pub(crate) fn new(definitions: Map<String, Value>) -> Compiler {
        Compiler {
            definitions,
            cache: HashMap::new(),
        }
    }

    /// Compiles a converted schema found at `at` (for the error message only).
    pub(crate) fn compile(&mut self, schema: Value, at: &str) -> Result<Arc<Compiled>, Invalid> {
        let key = schema.to_string();
        if let Some(compiled) = self.cache.get(&key) {
            return Ok(Arc::clone(compiled));
        }

        let root = json!({
            "definitions": self.reachable_definitions(&schema),
            "allOf": [schema],
        });
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft7)
            .should_validate_formats(true)
            .should_ignore_unknown_formats(true)
            .build(&root)
            .map_err(|e| Invalid::new(at, e.to_string()))?;

        let compiled = Arc::new(Compiled { root, validator });
        self.cache.insert(key, Arc::clone(&compiled));
        Ok(compiled)
    }

    fn reachable_definitions(&self, schema: &Value) -> Map<String, Value> {
        let mut reached = Map::new();
        let mut pending = Vec::new();
        collect_refs(schema, &mut pending);
        while let Some(name) = pending.pop() {
            if reached.contains_key(&name) {
                continue;
            }
            if let Some(definition) = self.definitions.get(&name) {
                collect_refs(definition, &mut pending);
                reached.insert(name, definition.clone());
            }
        }
        reached
    }
}

fn collect_refs(value: &Value, names: &mut Vec<String>) {
    match value {
        Value::Object(object) => {
            for (key, child) in object {
                match child
                    .as_str()
                    .and_then(|r| r.strip_prefix(DEFINITION_PREFIX))
                {
                    Some(name) if key == "$ref" => names.push(name.to_string()),
                    _ => collect_refs(child, names),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_refs(item, names)),
        _ => {}
    }
}

impl Compiled {
    /// Everything wrong with `instance`, in the validator's order. An unexpected field is a
    /// finding of its own, located at the field.
    pub(crate) fn check(&self, instance: &Value) -> Vec<Finding> {
        let mut findings = Vec::new();
        for error in self.validator.iter_errors(instance) {
            let pointer = error.instance_path.as_str().to_string();
            let (owner, node) = self.keyword_owner(error.schema_path.as_str());
            let in_owner = owner.map(|o| format!(" in `{o}`")).unwrap_or_default();

            if let ValidationErrorKind::AdditionalProperties { unexpected } = &error.kind {
                let known = property_names(node);
                for field in unexpected {
                    findings.push(Finding {
                        pointer: pointer_push(&pointer, field),
                        message: format!(
                            "unknown field `{field}`{in_owner}{}",
                            hint(field, &known)
                        ),
                    });
                }
                continue;
            }

            let message = shorten(error.to_string(), &error.instance);
            findings.push(Finding {
                pointer,
                message: format!("{message}{in_owner}"),
            });
        }
        findings
    }

    /// The component schema a failing keyword belongs to, and the schema object holding it,
    /// found by walking `schema_path` (which names each `$ref` it went through, not its target).
    fn keyword_owner(&self, schema_path: &str) -> (Option<String>, Option<&Value>) {
        let mut segments = pointer_segments(schema_path);
        segments.pop();

        let mut owner = None;
        let mut node = &self.root;
        for segment in segments {
            let next = if segment == "$ref" {
                let name = node
                    .get("$ref")
                    .and_then(Value::as_str)
                    .and_then(|r| r.strip_prefix(DEFINITION_PREFIX));
                owner = name.map(str::to_string).or(owner);
                name.and_then(|n| self.root.get("definitions")?.get(n))
            } else {
                match node {
                    Value::Array(items) => segment.parse::<usize>().ok().and_then(|i| items.get(i)),
                    _ => node.get(&segment),
                }
            };
            match next {
                Some(next) => node = next,
                None => return (owner, None),
            }
        }
        (owner, Some(node))
    }
}

/// `(did you mean `x`?)` for the declared field closest to a misspelled or cut one.
fn hint(field: &str, known: &BTreeSet<String>) -> String {
    let lowered = field.to_lowercase();
    let best = known
        .iter()
        .map(|k| {
            let k_lowered = k.to_lowercase();
            let shortened = k_lowered.starts_with(&lowered) || lowered.starts_with(&k_lowered);
            let distance = if shortened {
                1
            } else {
                edit_distance(&lowered, &k_lowered)
            };
            (distance, k)
        })
        .min();
    match best {
        Some((distance, name)) if distance <= (field.chars().count() / 4).max(2) => {
            format!(" (did you mean `{name}`?)")
        }
        _ => String::new(),
    }
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The validator writes the whole failing instance into some messages ("{…} is not of type
/// …"); a large one is cut so that the message stays readable.
fn shorten(message: String, instance: &Value) -> String {
    const LIMIT: usize = 80;
    let full = instance.to_string();
    if full.len() <= LIMIT {
        return message;
    }
    let cut: String = full.chars().take(LIMIT).collect();
    message.replacen(&full, &format!("{cut}…"), 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edit_distance_counts_edits() {
        assert_eq!(
            edit_distance("isdagdeploysenabled", "isdagdeployenabled"),
            1
        );
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn value_named_by_needs_exactly_one_value() {
        let values = ["DEDICATED".to_string(), "HYBRID".into(), "STANDARD".into()];
        let named = value_named_by("CreateHybridDeploymentRequest", &values);
        assert_eq!(named.as_deref(), Some("HYBRID"));
        assert_eq!(value_named_by("CreateDeploymentRequest", &values), None);
        assert_eq!(value_named_by("HybridStandard", &values), None);
    }

    #[test]
    fn nullable_adds_null_to_type_and_enum() {
        let converted = or_null(json!({ "type": "string", "enum": ["A"] }));
        assert_eq!(
            converted,
            json!({ "type": ["string", "null"], "enum": ["A", null] })
        );
        let converted = or_null(json!({ "$ref": "#/definitions/X" }));
        assert_eq!(
            converted,
            json!({ "anyOf": [{ "$ref": "#/definitions/X" }, { "type": "null" }] })
        );
    }

    #[test]
    fn boolean_exclusive_bounds_become_numbers() {
        let mut out = json!({ "minimum": 0, "exclusiveMinimum": true, "maximum": 9,
            "exclusiveMaximum": false });
        let Value::Object(object) = &mut out else {
            panic!("not an object");
        };
        exclusive_bounds(object);
        assert_eq!(out, json!({ "exclusiveMinimum": 0, "maximum": 9 }));
    }
}
