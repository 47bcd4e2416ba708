//! A loaded OpenAPI document: its operations, and the checks of requests and responses against
//! them.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::build::Builder;
use crate::document::{yaml_to_json, Invalid};
use crate::params::Param;
use crate::paths::{concrete_segments, query_pairs, Template};
use crate::schema::{Compiled, Finding};
use crate::SpecError;

/// A parsed OpenAPI 3.0 document, ready to check exchanges. Cheap to clone.
#[derive(Clone)]
pub struct Spec {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub(crate) name: String,
    pub(crate) base_path: String,
    pub(crate) operations: Vec<Operation>,
}

pub(crate) struct Operation {
    pub(crate) method: String,
    pub(crate) template: Template,
    pub(crate) id: String,
    pub(crate) path_params: Vec<Param>,
    pub(crate) query_params: Vec<Param>,
    pub(crate) body: Option<RequestBody>,
    /// By status key as written: `200`, `4XX`, `default`.
    pub(crate) responses: Vec<(String, Content)>,
}

pub(crate) struct RequestBody {
    pub(crate) required: bool,
    pub(crate) content: Content,
}

/// What a request or response carries.
pub(crate) enum Content {
    /// No body at all.
    Empty,
    /// A JSON body, validated by the schema.
    Json(Arc<Compiled>),
    /// A body of another media type (or JSON without a schema), not validated.
    Opaque(String),
}

/// An operation of the spec: its method, path template and `operationId`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperationRef {
    /// Upper case: `GET`.
    pub method: String,
    /// As written in the spec, without the base path: `/organizations/{organizationId}`.
    pub path: String,
    pub operation_id: String,
}

impl fmt::Display for OperationRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({} {})", self.operation_id, self.method, self.path)
    }
}

/// One way in which an exchange departs from the spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The `operationId`, or `METHOD path` when no operation matched.
    pub operation: String,
    /// Where: "request", "query parameter \`limit\`", "request body /type",
    /// "response 200 body /deployments/0/status" (a JSON pointer into the body).
    pub location: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.operation, self.location, self.message)
    }
}

/// The specs vendored in the workspace: `api-specs/` at its root.
pub fn vendored_specs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../api-specs")
}

static PLATFORM: OnceLock<Spec> = OnceLock::new();
static IAM: OnceLock<Spec> = OnceLock::new();
static AIRFLOW: OnceLock<Spec> = OnceLock::new();

impl Spec {
    /// Loads an OpenAPI 3.0 document (YAML or JSON).
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|source| SpecError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        Spec::parse(&name, &text)
    }

    /// Parses an OpenAPI 3.0 document given as text; `name` is used in messages.
    pub fn parse(name: &str, text: &str) -> Result<Spec, SpecError> {
        let yaml: serde_norway::Value =
            serde_norway::from_str(text).map_err(|source| SpecError::Yaml {
                name: name.to_string(),
                source,
            })?;
        let invalid = |e: Invalid| SpecError::Invalid {
            name: name.to_string(),
            at: display_at(&e.at),
            problem: e.problem,
        };
        let doc = yaml_to_json(yaml, "").map_err(invalid)?;
        let inner = Builder::new(name, &doc)
            .and_then(Builder::build)
            .map_err(invalid)?;
        Ok(Spec {
            inner: Arc::new(inner),
        })
    }

    /// The Astro Platform API (`api-specs/platform-v1beta1.yaml`), loaded once per process.
    ///
    /// # Panics
    /// When the vendored file is missing or unusable: a test cannot run without it.
    pub fn platform() -> Spec {
        vendored(&PLATFORM, "platform-v1beta1.yaml")
    }

    /// The Astro IAM API (`api-specs/iam-v1beta1.yaml`), loaded once per process.
    ///
    /// # Panics
    /// When the vendored file is missing or unusable: a test cannot run without it.
    pub fn iam() -> Spec {
        vendored(&IAM, "iam-v1beta1.yaml")
    }

    /// Apache Airflow's stable REST API (`api-specs/airflow-v1.yaml`, base path `/api/v1`),
    /// which each Astro Deployment serves at its `webServerAirflowApiUrl`; loaded once per
    /// process.
    ///
    /// # Panics
    /// When the vendored file is missing or unusable: a test cannot run without it.
    pub fn airflow() -> Spec {
        vendored(&AIRFLOW, "airflow-v1.yaml")
    }

    /// The file name the spec was loaded from.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The path of `servers[0].url`, without a trailing `/`: `/platform/v1beta1`.
    pub fn base_path(&self) -> &str {
        &self.inner.base_path
    }

    /// The operation a request hits: `method` in any case, `path` concrete, with or without
    /// the base path (a full URL or a query string is tolerated). When two templates match,
    /// the one with a literal segment where the other has a parameter wins.
    pub fn operation(&self, method: &str, path: &str) -> Option<OperationRef> {
        match self.find(method, path) {
            Found::Operation(op, _) => Some(op.reference()),
            Found::WrongMethod(_) | Found::Nothing => None,
        }
    }

    /// Every operation, ordered by path then method.
    pub fn operations(&self) -> Vec<OperationRef> {
        self.inner
            .operations
            .iter()
            .map(Operation::reference)
            .collect()
    }

    /// Checks a request: operation, path and query parameters, and body (`None` when the
    /// request has none). `query` holds decoded pairs in request order; a query string left
    /// in `path` is checked too, before them.
    pub fn check_request(
        &self,
        method: &str,
        path: &str,
        query: &[(String, String)],
        body: Option<&Value>,
    ) -> Vec<Violation> {
        let (op, path_values) = match self.find(method, path) {
            Found::Operation(op, params) => (op, params),
            not_found => return vec![self.unknown(method, path, "request", &not_found)],
        };
        let mut report = Report::new(&op.id);

        for (name, value) in &path_values {
            if let Some(param) = op.path_params.iter().find(|p| p.name == *name) {
                report.findings(&format!("path parameter `{name}`"), param.check(&[value]));
            }
        }
        let mut pairs = query_pairs(path);
        pairs.extend_from_slice(query);
        op.check_query(&pairs, &mut report);
        op.check_request_body(body, &mut report);
        report.violations
    }

    /// Checks a response to `method path`: its status is declared, and its body (`None` when
    /// the response has none) is what the spec says for that status.
    pub fn check_response(
        &self,
        method: &str,
        path: &str,
        status: u16,
        body: Option<&Value>,
    ) -> Vec<Violation> {
        let op = match self.find(method, path) {
            Found::Operation(op, _) => op,
            not_found => {
                let location = format!("response {status}");
                return vec![self.unknown(method, path, &location, &not_found)];
            }
        };
        let mut report = Report::new(&op.id);
        op.check_response(status, body, &mut report);
        report.violations
    }

    fn find(&self, method: &str, path: &str) -> Found<'_> {
        let segments = concrete_segments(path, &self.inner.base_path);
        let method = method.to_ascii_uppercase();

        let mut best: Option<(&Operation, crate::paths::Match)> = None;
        let mut other_methods = Vec::new();
        for op in &self.inner.operations {
            let Some(found) = op.template.matches(&segments) else {
                continue;
            };
            if op.method != method {
                other_methods.push(op.method.clone());
                continue;
            }
            if best
                .as_ref()
                .is_none_or(|(_, b)| found.literal_mask > b.literal_mask)
            {
                best = Some((op, found));
            }
        }
        match best {
            Some((op, found)) => Found::Operation(op, found.params),
            None if !other_methods.is_empty() => Found::WrongMethod(other_methods),
            None => Found::Nothing,
        }
    }

    fn unknown(&self, method: &str, path: &str, location: &str, found: &Found<'_>) -> Violation {
        let method = method.to_ascii_uppercase();
        let message = match found {
            Found::WrongMethod(allowed) => format!(
                "`{path}` matches a path of `{}` but not with method {method} (it takes {})",
                self.inner.name,
                allowed.join(", ")
            ),
            _ => format!(
                "no operation of `{}` matches `{method} {path}`",
                self.inner.name
            ),
        };
        Violation {
            operation: format!("{method} {path}"),
            location: location.to_string(),
            message,
        }
    }
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("name", &self.inner.name)
            .field("base_path", &self.inner.base_path)
            .field("operations", &self.inner.operations.len())
            .finish()
    }
}

fn vendored(cell: &'static OnceLock<Spec>, file: &str) -> Spec {
    cell.get_or_init(|| {
        let path = vendored_specs_dir().join(file);
        match Spec::load(&path) {
            Ok(spec) => spec,
            Err(error) => panic!(
                "the vendored OpenAPI spec `{}` cannot be used: {}\n(it belongs in `api-specs/` \
                 at the root of the workspace; see api-specs/PROVENANCE.md)",
                path.display(),
                chain(&error)
            ),
        }
    })
    .clone()
}

fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

fn display_at(pointer: &str) -> String {
    if pointer.is_empty() {
        "the document root".to_string()
    } else {
        format!("`{pointer}`")
    }
}

enum Found<'s> {
    Operation(&'s Operation, Vec<(String, String)>),
    /// The path matches, for these other methods only.
    WrongMethod(Vec<String>),
    Nothing,
}

/// Collects the violations of one check.
struct Report {
    operation: String,
    violations: Vec<Violation>,
}

impl Report {
    fn new(operation: &str) -> Report {
        Report {
            operation: operation.to_string(),
            violations: Vec::new(),
        }
    }

    fn push(&mut self, location: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation {
            operation: self.operation.clone(),
            location: location.into(),
            message: message.into(),
        });
    }

    fn findings(&mut self, prefix: &str, findings: Vec<Finding>) {
        for finding in findings {
            let location = if finding.pointer.is_empty() {
                prefix.to_string()
            } else {
                format!("{prefix} {}", finding.pointer)
            };
            self.push(location, finding.message);
        }
    }
}

impl Operation {
    fn reference(&self) -> OperationRef {
        OperationRef {
            method: self.method.clone(),
            path: self.template.raw().to_string(),
            operation_id: self.id.clone(),
        }
    }

    fn check_query(&self, query: &[(String, String)], report: &mut Report) {
        let mut given: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (name, value) in query {
            given.entry(name.as_str()).or_default().push(value.as_str());
        }

        for (name, values) in &given {
            let location = format!("query parameter `{name}`");
            match self.query_params.iter().find(|p| p.name == *name) {
                Some(param) => report.findings(&location, param.check(values)),
                None => report.push(location, self.unknown_query_message(name)),
            }
        }
        for param in &self.query_params {
            if param.required && !given.contains_key(param.name.as_str()) {
                let location = format!("query parameter `{}`", param.name);
                report.push(location, "required, but missing");
            }
        }
    }

    fn unknown_query_message(&self, name: &str) -> String {
        let declared: Vec<String> = self
            .query_params
            .iter()
            .map(|p| format!("`{}`", p.name))
            .collect();
        if declared.is_empty() {
            format!("unknown query parameter `{name}` (the operation declares none)")
        } else {
            format!(
                "unknown query parameter `{name}` (declared: {})",
                declared.join(", ")
            )
        }
    }

    fn check_request_body(&self, body: Option<&Value>, report: &mut Report) {
        let Some(declared) = &self.body else {
            if body.is_some() {
                report.push(
                    "request body",
                    "sent, but the operation takes no request body",
                );
            }
            return;
        };
        match (body, &declared.content) {
            (None, _) if declared.required => {
                report.push("request body", "required, but the request has none");
            }
            (None, _) => {}
            (Some(body), Content::Json(schema)) => {
                report.findings("request body", schema.check(body));
            }
            (Some(_), Content::Empty | Content::Opaque(_)) => {}
        }
    }

    fn check_response(&self, status: u16, body: Option<&Value>, report: &mut Report) {
        let location = format!("response {status}");
        let Some(content) = self.response(status) else {
            let declared: Vec<&str> = self.responses.iter().map(|(k, _)| k.as_str()).collect();
            report.push(
                location,
                format!(
                    "status {status} is not declared (declared: {})",
                    declared.join(", ")
                ),
            );
            return;
        };

        let body_location = format!("response {status} body");
        if matches!(status, 204 | 304) || matches!(content, Content::Empty) {
            if body.is_some() {
                report.push(
                    body_location,
                    format!("status {status} has no content, got a body"),
                );
            }
            return;
        }
        match (body, content) {
            (None, Content::Json(_)) => {
                report.push(body_location, "declared as `application/json`, but missing");
            }
            (None, Content::Opaque(media)) => {
                report.push(body_location, format!("declared as `{media}`, but missing"));
            }
            (Some(body), Content::Json(schema)) => {
                report.findings(&body_location, schema.check(body));
            }
            (_, Content::Opaque(_) | Content::Empty) => {}
        }
    }

    /// The response declared for a status: exact, then its range (`4XX`), then `default`.
    fn response(&self, status: u16) -> Option<&Content> {
        let exact = status.to_string();
        let range = format!("{}XX", status / 100);
        [exact.as_str(), range.as_str(), "default"]
            .iter()
            .find_map(|key| {
                self.responses
                    .iter()
                    .find(|(declared, _)| declared.eq_ignore_ascii_case(key))
            })
            .map(|(_, content)| content)
    }
}
