//! Building a [`Spec`](crate::Spec) from the JSON form of an OpenAPI document: operations,
//! their parameters, bodies and responses, each schema converted and compiled once.

use std::sync::OnceLock;

use serde_json::{Map, Value};

use crate::document::{pointer_push, resolve, Invalid};
use crate::params::{Param, Scalar};
use crate::paths::Template;
use crate::schema::{Compiler, Converter};
use crate::spec::{Content, Inner, Operation, RequestBody};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Turns the JSON document into operations.
pub(crate) struct Builder<'d> {
    name: &'d str,
    doc: &'d Value,
    /// `components.schemas` as written, for discriminator inference.
    components: &'d Map<String, Value>,
    compiler: Compiler,
}

impl<'d> Builder<'d> {
    pub(crate) fn new(name: &'d str, doc: &'d Value) -> Result<Builder<'d>, Invalid> {
        let version = doc
            .get("openapi")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !version.starts_with("3.0") {
            return Err(Invalid::new(
                "/openapi",
                format!("version `{version}` is not OpenAPI 3.0.x"),
            ));
        }
        static NO_SCHEMAS: OnceLock<Map<String, Value>> = OnceLock::new();
        let components = match doc.pointer("/components/schemas") {
            Some(Value::Object(schemas)) => schemas,
            Some(_) => return Err(Invalid::new("/components/schemas", "not a map")),
            None => NO_SCHEMAS.get_or_init(Map::new),
        };
        let definitions = Converter::new(components).definitions()?;
        Ok(Builder {
            name,
            doc,
            components,
            compiler: Compiler::new(definitions),
        })
    }

    pub(crate) fn build(mut self) -> Result<Inner, Invalid> {
        let operations = self.operations()?;
        Ok(Inner {
            name: self.name.to_string(),
            base_path: base_path(self.doc),
            operations,
        })
    }

    fn operations(&mut self) -> Result<Vec<Operation>, Invalid> {
        let paths = self
            .doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| Invalid::new("/paths", "missing or not a map"))?;

        let mut operations = Vec::new();
        for (raw, item) in paths {
            let at = pointer_push("/paths", raw);
            let template = Template::parse(raw).map_err(|problem| Invalid::new(&at, problem))?;
            let item = resolve(self.doc, item, &at)?;
            let shared = item
                .get("parameters")
                .map(|p| (p, pointer_push(&at, "parameters")));
            for method in METHODS {
                if let Some(op) = item.get(*method) {
                    let at = pointer_push(&at, method);
                    let shared = shared.as_ref().map(|(p, p_at)| (*p, p_at.as_str()));
                    operations.push(self.operation(method, &template, shared, op, &at)?);
                }
            }
        }
        check_unambiguous(&operations)?;
        Ok(operations)
    }

    fn operation(
        &mut self,
        method: &str,
        template: &Template,
        shared: Option<(&'d Value, &str)>,
        op: &'d Value,
        at: &str,
    ) -> Result<Operation, Invalid> {
        let method = method.to_ascii_uppercase();
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .map_or_else(|| format!("{method} {}", template.raw()), str::to_string);

        let own = op
            .get("parameters")
            .map(|p| (p, pointer_push(at, "parameters")));
        let own = own.as_ref().map(|(p, p_at)| (*p, p_at.as_str()));
        let params = self.parameters([shared, own])?;
        let (path_params, query_params): (Vec<_>, Vec<_>) = params
            .into_iter()
            .filter(|(location, _)| location == "path" || location == "query")
            .partition(|(location, _)| location == "path");
        let path_params: Vec<Param> = path_params.into_iter().map(|(_, p)| p).collect();
        check_path_params(template, &path_params, at)?;

        Ok(Operation {
            method,
            template: template.clone(),
            id,
            path_params,
            query_params: query_params.into_iter().map(|(_, p)| p).collect(),
            body: self.request_body(op.get("requestBody"), at)?,
            responses: self.responses(op.get("responses"), at)?,
        })
    }

    /// The path item's parameters overridden by the operation's, each with where it goes.
    fn parameters(
        &mut self,
        lists: [Option<(&'d Value, &str)>; 2],
    ) -> Result<Vec<(String, Param)>, Invalid> {
        let mut merged: Vec<(&str, &str, &Value, String)> = Vec::new();
        for (list, list_at) in lists.into_iter().flatten() {
            let list = list
                .as_array()
                .ok_or_else(|| Invalid::new(list_at, "`parameters` must be a list"))?;
            for (i, param) in list.iter().enumerate() {
                let param_at = format!("{list_at}/{i}");
                let param = resolve(self.doc, param, &param_at)?;
                let name = str_field(param, "name", &param_at)?;
                let location = str_field(param, "in", &param_at)?;
                merged.retain(|(n, l, _, _)| !(*n == name && *l == location));
                merged.push((name, location, param, param_at));
            }
        }

        merged
            .into_iter()
            .map(|(name, location, param, at)| {
                Ok((location.to_string(), self.parameter(name, param, &at)?))
            })
            .collect()
    }

    fn parameter(&mut self, name: &str, param: &Value, at: &str) -> Result<Param, Invalid> {
        let empty = Value::Object(Map::new());
        let raw_schema = param.get("schema").unwrap_or(&empty);
        let schema_at = pointer_push(at, "schema");
        let schema = Converter::new(self.components).convert(raw_schema, &schema_at)?;

        let is_array = raw_schema.get("type").and_then(Value::as_str) == Some("array");
        let items = raw_schema.get("items").unwrap_or(&empty);
        Ok(Param {
            name: name.to_string(),
            required: param.get("required") == Some(&Value::Bool(true)),
            array_of: is_array.then(|| Scalar::of(items)),
            scalar: Scalar::of(raw_schema),
            schema: self.compiler.compile(schema, &schema_at)?,
        })
    }

    fn request_body(
        &mut self,
        body: Option<&Value>,
        at: &str,
    ) -> Result<Option<RequestBody>, Invalid> {
        let Some(body) = body else {
            return Ok(None);
        };
        let at = pointer_push(at, "requestBody");
        let body = resolve(self.doc, body, &at)?;
        Ok(Some(RequestBody {
            required: body.get("required") == Some(&Value::Bool(true)),
            content: self.content(body.get("content"), &at)?,
        }))
    }

    fn responses(
        &mut self,
        responses: Option<&Value>,
        at: &str,
    ) -> Result<Vec<(String, Content)>, Invalid> {
        let at = pointer_push(at, "responses");
        let responses = responses
            .and_then(Value::as_object)
            .ok_or_else(|| Invalid::new(&at, "missing or not a map"))?;
        responses
            .iter()
            .map(|(status, response)| {
                let at = pointer_push(&at, status);
                let response = resolve(self.doc, response, &at)?;
                Ok((status.clone(), self.content(response.get("content"), &at)?))
            })
            .collect()
    }

    fn content(&mut self, content: Option<&Value>, at: &str) -> Result<Content, Invalid> {
        let Some(media_types) = content.and_then(Value::as_object).filter(|m| !m.is_empty()) else {
            return Ok(Content::Empty);
        };
        let json = media_types.iter().find(|(media, _)| is_json(media));
        let Some((media, media_type)) = json else {
            let first = media_types.keys().next().cloned().unwrap_or_default();
            return Ok(Content::Opaque(first));
        };
        let Some(schema) = media_type.get("schema") else {
            return Ok(Content::Opaque(media.clone()));
        };

        let at = pointer_push(&pointer_push(&pointer_push(at, "content"), media), "schema");
        let converted = Converter::new(self.components).convert(schema, &at)?;
        Ok(Content::Json(self.compiler.compile(converted, &at)?))
    }
}

fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json") || essence.ends_with("+json")
}

fn str_field<'v>(value: &'v Value, field: &str, at: &str) -> Result<&'v str, Invalid> {
    value
        .get(field)
        .and_then(Value::as_str)
        .ok_or_else(|| Invalid::new(at, format!("`{field}` is missing or not text")))
}

/// Every `{name}` of the template is a declared path parameter, and the other way round.
fn check_path_params(template: &Template, declared: &[Param], at: &str) -> Result<(), Invalid> {
    for name in template.params() {
        if !declared.iter().any(|p| p.name == name) {
            return Err(Invalid::new(
                at,
                format!("path parameter `{name}` is not declared"),
            ));
        }
    }
    for param in declared {
        if !template.params().any(|name| name == param.name) {
            let problem = format!("path parameter `{}` is not in the path", param.name);
            return Err(Invalid::new(at, problem));
        }
    }
    Ok(())
}

/// No two operations of one method have templates that match the same paths.
fn check_unambiguous(operations: &[Operation]) -> Result<(), Invalid> {
    for (i, a) in operations.iter().enumerate() {
        let twin = operations[i + 1..]
            .iter()
            .find(|b| a.method == b.method && a.template.shape() == b.template.shape());
        if let Some(b) = twin {
            let problem = format!(
                "{} `{}` and `{}` match the same paths",
                a.method,
                a.template.raw(),
                b.template.raw()
            );
            return Err(Invalid::new("/paths", problem));
        }
    }
    Ok(())
}

/// The path of `servers[0].url`: `https://api.astronomer.io/platform/v1beta1` gives
/// `/platform/v1beta1`; no server gives the empty path.
fn base_path(doc: &Value) -> String {
    let url = doc
        .pointer("/servers/0/url")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let path = match url.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("", |i| &rest[i..]),
        None => url,
    };
    path.trim_end_matches('/').to_string()
}
