//! Test support: checks recorded HTTP exchanges against the vendored OpenAPI 3.0 specs
//! (`api-specs/*.yaml`: Astro's Platform and IAM APIs, and Airflow's stable REST API), so that
//! the API clients and the emulator are both held to the field names, enums and status codes
//! that Astro and Airflow publish.
//!
//! ```no_run
//! use spec_conformance::Spec;
//!
//! let spec = Spec::platform();
//! let body = serde_json::json!({ "type": "DAG_ONLY" });
//! let path = "/platform/v1beta1/organizations/o1/deployments/d1/deploys";
//! let violations = spec.check_request("POST", path, &[], Some(&body));
//! assert!(violations.is_empty(), "{violations:#?}");
//! ```
//!
//! Objects are checked STRICTLY: a schema that declares `properties` and says nothing about
//! `additionalProperties` admits no other field, so a misspelled or invented field is a
//! violation. OpenAPI 3.0 schemas become JSON Schema draft 7 (`$ref`s to `definitions`,
//! `nullable`, `format: date-time` checked as RFC 3339, OpenAPI-only keywords dropped), and a
//! `oneOf` of named variants is decided by a discriminator, declared or inferred from the
//! variant names (`type: DEDICATED` picks `CreateDedicatedDeploymentRequest`): with strict
//! objects the Astro unions overlap, so a plain `oneOf` would reject valid bodies. The
//! `schema` module (`src/schema.rs`) has the details.
//!
//! Known limits, each fixable where it lives:
//! - Only JSON bodies are validated; other media types are only checked for presence.
//! - Header and cookie parameters are not checked; path segments are not percent-decoded.
//! - An `allOf` of plain objects (as the Airflow spec writes `Connection` and every
//!   collection) is merged into one STRICT object before compiling. An `allOf` with any other
//!   part stays an `allOf` of STRICT parts, which can never validate (each part refuses the
//!   others' fields); draft 2019-09 `unevaluatedProperties` would fix that.
//! - `readOnly`/`writeOnly` are dropped, not enforced per direction.
//! - Only the first server's path is the base path.
//! - An undeclared discriminator is inferred from variant names; a union whose names spell no
//!   value of a shared enum stays a plain `oneOf`, where overlapping strict variants fail with
//!   "valid under more than one". Declaring `discriminator` in the spec would fix it.

mod build;
mod document;
mod error;
mod params;
mod paths;
mod schema;
mod spec;

pub use error::SpecError;
pub use spec::{vendored_specs_dir, OperationRef, Spec, Violation};
