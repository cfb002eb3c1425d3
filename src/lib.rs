//! terraform-provider-dbaas: databases, rotated credentials and Redis namespaces on shared
//! platform services, served to Terraform over its plugin protocol (tfplugin6).
pub mod framework;
pub mod plugin;
