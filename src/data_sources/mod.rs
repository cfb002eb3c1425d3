//! Data sources: one file per type.

pub mod endpoints;
