//! Ephemeral preview Deployments, one per branch: their names, the record that says which
//! base, branch and review each belongs to, and their life from create to garbage collection.

pub mod host;

pub use host::{Liveness, NoHost, ReviewHost};
