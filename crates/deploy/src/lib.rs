//! The core of astro-deploy: what a deploy is, independent of any terminal or CI system.
//!
//! Data flows one way. [`pipeline::plan`] reads the inputs, the project and the target
//! Deployment, checks what Astro would refuse, and builds the DAG bundle; it makes no change
//! anywhere. [`pipeline::execute`] carries a plan out and returns an [`pipeline::Outcome`].
//! Progress is reported through the [`progress::Progress`] trait; nothing here prints, reads the
//! environment or exits the process.

pub mod bundle;
pub mod changes;
pub mod config;
pub mod deployment_body;
pub mod deployment_file;
pub mod error;
pub mod image;
pub mod monorepo;
pub mod pipeline;
pub mod policy;
pub mod preview;
pub mod progress;
pub mod project;

pub use error::{DeployError, FailureKind};
pub use pipeline::{execute, plan, DeployInputs, DeployKind, Outcome, Plan, Target, WaitOptions};
pub use progress::{Event, NoProgress, Progress};
