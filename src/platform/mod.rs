//! The platform layer between Terraform types and the backends: how names are made
//! ([`naming`]), what a Redis namespace user may run ([`redis_acl`]), which objects are
//! ours ([`ownership`]), and the clients every type shares ([`services`]).
//!
//! It never sees a Terraform model: resources decode their model into the specs here,
//! and errors come back typed.

pub mod credentials;
pub mod databases;
pub mod namespaces;
pub mod naming;
pub mod redis_acl;
pub mod services;
pub mod settings;
