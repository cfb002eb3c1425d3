//! terraform-provider-dbaas: databases, rotated credentials and Redis namespaces on shared
//! platform services, served to Terraform over its plugin protocol (tfplugin6).
//!
//! Layers, each depending only on those below it: [`plugin`] (the wire) serves a
//! [`framework`] provider; [`provider`] and its [`resources`], [`data_sources`],
//! [`ephemeral`] resources, [`list_resources`] and [`actions`] are that provider, on the [`platform`]
//! layer (naming, ownership, operations) over the [`backends`].

pub mod actions;
pub mod backends;
pub mod data_sources;
pub mod duration;
pub mod ephemeral;
pub mod errors;
pub mod framework;
pub mod list_resources;
pub mod operation;
pub mod platform;
pub mod plugin;
pub mod provider;
pub mod resources;
pub mod secret;
