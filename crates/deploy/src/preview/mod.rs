//! Ephemeral preview Deployments, one per branch: their names, the record that says which
//! base, branch and review each belongs to, their life from create to garbage collection, and
//! the copy of Airflow objects from the base.

pub mod airflow_copy;
pub mod host;

pub use host::{Liveness, NoHost, ReviewHost};
