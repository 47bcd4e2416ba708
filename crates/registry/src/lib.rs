//! An OCI distribution client (work in progress).
