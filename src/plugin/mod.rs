//! The Terraform plugin protocol: handshake, mTLS, gRPC services and the cty value codec.
//! Knows no databases: it serves whatever [`crate::framework::component::Provider`] it is given.

mod action;
pub mod codec;
mod generate;
pub mod go_plugin;
mod list;
pub mod logging;
mod resource;
mod rpc;
pub mod serve;
pub mod server;
pub mod tls;
mod wire;

/// Generated protobuf types and gRPC stubs.
#[allow(missing_docs, unreachable_pub, clippy::all)]
pub mod proto {
    /// Terraform's plugin protocol 6.
    pub mod tfplugin6 {
        tonic::include_proto!("tfplugin6");
    }
    /// go-plugin's side services.
    pub mod go_plugin {
        tonic::include_proto!("plugin");
    }
}
