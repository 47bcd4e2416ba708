//! The emulator driven through HTTP, as a client would: Astro's rules, the blob protocol,
//! faults and persistence.

mod airflow;
mod auth;
mod blobs;
mod deployments;
mod deploys;
mod faults;
mod hibernation;
mod iam;
mod persistence;
mod support;
