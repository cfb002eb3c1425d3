//! The platform layer between Terraform types and the backends: how names are made
//! ([`naming`]), what a Redis namespace user may run ([`redis_acl`]), the operations that
//! own ordering, ownership checks and compensation ([`databases`], [`namespaces`],
//! [`credentials`]), and the resolved configuration they work from ([`settings`]). The
//! clients every type shares are built on the resource side (`crate::provider::services`),
//! which turns a missing service into a diagnostic: nothing here sees one.
//!
//! It never sees a Terraform model: resources decode their model into the specs here,
//! call one operation, and map the typed error it returns to diagnostics
//! (`crate::errors`).

pub mod authority;
pub mod claims;
pub mod credentials;
pub mod databases;
pub mod inventory;
pub mod namespaces;
pub mod naming;
pub mod privileges;
pub mod redis_acl;
pub mod rotation;
pub mod settings;
