//! Ephemeral preview Deployments, one per branch: their names, the record that says which
//! base, branch and review each belongs to, their life from create to garbage collection, and
//! the copy of Airflow objects from the base.

pub mod airflow_copy;
pub mod host;
pub mod lifecycle;
pub mod name;
pub mod record;
pub mod settings;

pub use host::{Liveness, NoHost, ReviewHost};
pub use lifecycle::{
    delete, ensure, find, gc, list, CreateOptions, Ensured, GcEntry, GcOptions, Preview, Selector,
    Verdict,
};
pub use name::preview_name;
pub use record::{BranchRef, PreviewRecord};
pub use settings::{PreviewConfig, PreviewOverrides};
