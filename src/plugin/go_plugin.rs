//! The services go-plugin's host expects beside the provider: health, the broker, the
//! controller (Shutdown) and stdio. We open no extra connections and write nothing to
//! stdout after the handshake, so the broker and stdio streams stay open and silent.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use tokio::sync::Notify;
use tonic::{Request, Response, Status, Streaming};

use super::proto::go_plugin as pb;

type Silent<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// `plugin.GRPCBroker`: accepts the host's stream and never asks for a connection.
pub struct Broker;

#[tonic::async_trait]
impl pb::grpc_broker_server::GrpcBroker for Broker {
    type StartStreamStream = Silent<pb::ConnInfo>;

    async fn start_stream(
        &self,
        request: Request<Streaming<pb::ConnInfo>>,
    ) -> Result<Response<Self::StartStreamStream>, Status> {
        let mut incoming = request.into_inner();
        // Drain what the host sends so its stream does not stall; we never answer.
        tokio::spawn(async move { while let Ok(Some(_)) = incoming.message().await {} });
        Ok(Response::new(Box::pin(futures::stream::pending())))
    }
}

/// `plugin.GRPCController`: Shutdown stops the server gracefully.
pub struct Controller {
    /// Notified on Shutdown.
    pub shutdown: Arc<Notify>,
}

#[tonic::async_trait]
impl pb::grpc_controller_server::GrpcController for Controller {
    async fn shutdown(&self, _: Request<pb::Empty>) -> Result<Response<pb::Empty>, Status> {
        tracing::debug!("shutdown requested by the plugin host");
        self.shutdown.notify_one();
        Ok(Response::new(pb::Empty {}))
    }
}

/// `plugin.GRPCStdio`: we log to stderr, which the host reads directly.
pub struct Stdio;

#[tonic::async_trait]
impl pb::grpc_stdio_server::GrpcStdio for Stdio {
    type StreamStdioStream = Silent<pb::StdioData>;

    async fn stream_stdio(&self, _: Request<()>) -> Result<Response<Self::StreamStdioStream>, Status> {
        Ok(Response::new(Box::pin(futures::stream::pending())))
    }
}
