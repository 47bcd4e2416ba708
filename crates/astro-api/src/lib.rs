//! A typed client for the Astro Platform API and the IAM API's token calls ([`iam`]), plus the
//! Azure Blob Storage upload protocol that Astro's DAG bundle upload URLs speak.
//!
//! The [`airflow`] module is a client of each Deployment's own Airflow REST API, shaped by
//! Airflow's spec (`api-specs/airflow-v1.yaml`) rather than Astro's.
//!
//! Field names and enum values follow the public v1beta1 OpenAPI specs in `api-specs/`. Enums
//! keep values they do not know (`Other`), and unknown fields are ignored, so a newer server
//! never breaks an older client. The crate knows HTTP and nothing else: it reads no environment
//! variables and prints nothing.

mod client;
mod error;
mod retry;

pub mod airflow;
pub mod blob;
pub mod iam;
pub mod models;
pub mod platform;
pub mod token;

pub use client::{Client, ClientConfig, DEFAULT_BASE_URL};
pub use error::{ApiError, Error, ErrorKind};
pub use retry::RetryPolicy;
pub use token::{ApiToken, TokenClaims, TokenError, TokenKind};
