//! Images: what a project's image is built from, how it is built, and how a code-only change is
//! turned into a new image without a builder.

pub mod builder;
pub mod dockerfile;
pub mod dockerignore;
pub mod inputs;
pub mod layer;
pub mod produce;
