//! Ephemeral resources: one file per type.

pub mod credentials;
