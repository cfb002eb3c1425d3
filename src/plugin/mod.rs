//! The Terraform plugin protocol: handshake, mTLS, gRPC services and the cty value codec.

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

pub mod codec;
