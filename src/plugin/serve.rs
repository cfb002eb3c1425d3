//! The go-plugin handshake and the server loop: refuse to run outside Terraform, set up
//! AutoMTLS, listen, print the handshake line, and serve until told to stop.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::Connected;

use crate::framework::component::Provider;

use super::go_plugin::{Broker, Controller, Stdio};
use super::proto::go_plugin::{
    grpc_broker_server::GrpcBrokerServer, grpc_controller_server::GrpcControllerServer,
    grpc_stdio_server::GrpcStdioServer,
};
use super::proto::tfplugin6::provider_server::ProviderServer as ProviderRpcServer;
use super::server::ProviderServer;
use super::tls::{ServerIdentity, TlsSetupError};

/// The environment variable go-plugin sets to prove the process was started by a plugin host.
pub const MAGIC_COOKIE_KEY: &str = "TF_PLUGIN_MAGIC_COOKIE";
/// Terraform's cookie value.
pub const MAGIC_COOKIE_VALUE: &str = "d602bf8f470bc67ca7faa0386276bbdd4330efaf76d1a219cb4d6991ca9872b2";
/// Setting this to `tcp` makes the provider listen on 127.0.0.1 instead of a unix socket
/// (the only choice off unix); used by tests and benchmarks of the TCP path.
pub const LISTEN_ENV: &str = "DBAAS_PLUGIN_LISTEN";

const CORE_PROTOCOL_VERSION: u32 = 1;
const APP_PROTOCOL_VERSION: u32 = 6;
/// A TLS handshake that takes longer than this is dropped, so a stuck peer holds nothing.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the provider could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Started by something other than a plugin host.
    #[error(
        "This binary is a Terraform plugin, not a program to run directly.\n\
         Run it through Terraform: declare the provider in required_providers and run `terraform init` and `terraform plan`."
    )]
    NotAPluginHost,
    /// The host speaks no protocol version we serve.
    #[error("the plugin host asked for protocol versions {0:?}; this provider serves version 6 only")]
    UnsupportedProtocol(String),
    /// AutoMTLS is required and the host gave no certificate.
    #[error("PLUGIN_CLIENT_CERT is not set: this provider requires AutoMTLS, which Terraform always enables")]
    NoClientCertificate,
    /// TLS setup failed.
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    /// Listening or serving failed.
    #[error("serving failed: {0}")]
    Io(#[from] std::io::Error),
    /// The gRPC server failed.
    #[error("gRPC server failed: {0}")]
    Transport(#[from] tonic::transport::Error),
}

/// Checks the magic cookie go-plugin's host sets.
///
/// # Errors
/// [`ServeError::NotAPluginHost`] when it is missing or wrong.
pub fn check_plugin_host() -> Result<(), ServeError> {
    match std::env::var(MAGIC_COOKIE_KEY) {
        Ok(v) if v == MAGIC_COOKIE_VALUE => Ok(()),
        _ => Err(ServeError::NotAPluginHost),
    }
}

/// Performs the handshake on stdout and serves `provider` until the host shuts us down.
///
/// # Errors
/// [`ServeError`] when started outside Terraform, without a client certificate, or when
/// listening fails.
pub async fn serve(provider: Arc<dyn Provider>) -> Result<(), ServeError> {
    check_plugin_host()?;
    if let Ok(versions) = std::env::var("PLUGIN_PROTOCOL_VERSIONS")
        && !versions.split(',').any(|v| v.trim() == APP_PROTOCOL_VERSION.to_string())
    {
        return Err(ServeError::UnsupportedProtocol(versions));
    }
    let client_cert = std::env::var("PLUGIN_CLIENT_CERT").map_err(|_| ServeError::NoClientCertificate)?;
    let identity = ServerIdentity::generate()?;
    let acceptor = TlsAcceptor::from(Arc::new(identity.server_config(&client_cert)?));
    let shutdown = CancellationToken::new();
    end_on_termination(shutdown.clone());

    if std::env::var(LISTEN_ENV).as_deref() == Ok("tcp") || cfg!(not(unix)) {
        let listener = bind_tcp().await?;
        let address = listener.local_addr()?;
        handshake_line("tcp", &address.to_string(), &identity)?;
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(accept_tcp(listener, acceptor, tx));
        run(provider, ReceiverStream::new(rx), shutdown).await
    } else {
        serve_unix(provider, acceptor, &identity, shutdown).await
    }
}

#[cfg(unix)]
async fn serve_unix(
    provider: Arc<dyn Provider>,
    acceptor: TlsAcceptor,
    identity: &ServerIdentity,
    shutdown: CancellationToken,
) -> Result<(), ServeError> {
    let dir = SocketDir::create()?;
    let listener = tokio::net::UnixListener::bind(dir.socket())?;
    handshake_line("unix", &dir.socket().to_string_lossy(), identity)?;
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((stream, _)) => spawn_tls(acceptor.clone(), stream, tx.clone()),
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            }
        }
    });
    run(provider, ReceiverStream::new(rx), shutdown).await
}

#[cfg(not(unix))]
async fn serve_unix(
    _: Arc<dyn Provider>,
    _: TlsAcceptor,
    _: &ServerIdentity,
    _: CancellationToken,
) -> Result<(), ServeError> {
    unreachable!("unix sockets are used only on unix")
}

async fn bind_tcp() -> std::io::Result<tokio::net::TcpListener> {
    let port = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<u16>().ok());
    if let (Some(min), Some(max)) = (port("PLUGIN_MIN_PORT"), port("PLUGIN_MAX_PORT")) {
        for p in min..=max {
            if let Ok(l) = tokio::net::TcpListener::bind(("127.0.0.1", p)).await {
                return Ok(l);
            }
        }
    }
    tokio::net::TcpListener::bind(("127.0.0.1", 0)).await
}

async fn accept_tcp(
    listener: tokio::net::TcpListener,
    acceptor: TlsAcceptor,
    tx: mpsc::Sender<std::io::Result<tokio_rustls::server::TlsStream<tokio::net::TcpStream>>>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Without TCP_NODELAY every RPC waits on Nagle and delayed-ACK stalls.
                if let Err(e) = stream.set_nodelay(true) {
                    tracing::warn!(error = %e, "could not set TCP_NODELAY");
                }
                spawn_tls(acceptor.clone(), stream, tx.clone());
            }
            Err(e) => tracing::warn!(error = %e, "accept failed"),
        }
    }
}

/// Completes the TLS handshake off the accept loop; a peer without the pinned client
/// certificate is dropped here and never reaches a gRPC service.
fn spawn_tls<IO>(
    acceptor: TlsAcceptor,
    stream: IO,
    tx: mpsc::Sender<std::io::Result<tokio_rustls::server::TlsStream<IO>>>,
) where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => {
                let _ = tx.send(Ok(tls)).await;
            }
            Ok(Err(e)) => tracing::warn!(error = %e, "refused a connection: TLS handshake failed"),
            Err(_) => tracing::warn!("refused a connection: TLS handshake timed out"),
        }
    });
}

fn handshake_line(network: &str, address: &str, identity: &ServerIdentity) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{CORE_PROTOCOL_VERSION}|{APP_PROTOCOL_VERSION}|{network}|{address}|grpc|{}",
        identity.handshake_text()
    )?;
    out.flush()
}

async fn run<IO>(
    provider: Arc<dyn Provider>,
    incoming: ReceiverStream<std::io::Result<IO>>,
    shutdown: CancellationToken,
) -> Result<(), ServeError>
where
    IO: AsyncRead + AsyncWrite + Connected + Unpin + Send + 'static,
{
    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_service_status("plugin", tonic_health::ServingStatus::Serving).await;
    let provider_server = ProviderServer::new(provider.clone());
    let stop = provider_server.stop_signal();
    let notify = Arc::new(tokio::sync::Notify::new());
    let on_shutdown = notify.clone();
    let token = shutdown.clone();
    tokio::spawn(async move {
        on_shutdown.notified().await;
        stop.cancel();
        token.cancel();
    });
    let server = tonic::transport::Server::builder()
        .add_service(health_service)
        .add_service(ProviderRpcServer::new(provider_server))
        .add_service(GrpcBrokerServer::new(Broker))
        .add_service(GrpcControllerServer::new(Controller { shutdown: notify }))
        .add_service(GrpcStdioServer::new(Stdio))
        .serve_with_incoming_shutdown(incoming, shutdown.clone().cancelled_owned());
    // Graceful shutdown waits for open streams (broker, stdio) that never end by
    // themselves; the host kills us 2 s after Shutdown, so stop waiting after one.
    let served = tokio::select! {
        result = server => result,
        () = async { shutdown.cancelled().await; tokio::time::sleep(Duration::from_millis(500)).await } => Ok(()),
    };
    // The host kills the process 2 s after Shutdown: half a second to let go of what
    // would outlive it.
    let _ = tokio::time::timeout(Duration::from_millis(500), provider.shutdown()).await;
    served?;
    Ok(())
}

/// SIGTERM and SIGHUP end serving the way Terraform's Shutdown does, so the socket
/// directory is removed on the way out (SIGKILL cannot be caught: the next start sweeps).
fn end_on_termination(shutdown: CancellationToken) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        for kind in [SignalKind::terminate(), SignalKind::hangup()] {
            let Ok(mut signals) = signal(kind) else { continue };
            let shutdown = shutdown.clone();
            tokio::spawn(async move {
                if signals.recv().await.is_some() {
                    tracing::info!("terminated by signal: shutting down");
                    shutdown.cancel();
                }
            });
        }
    }
    #[cfg(not(unix))]
    let _ = shutdown;
}

/// The prefix of every socket directory; the process id follows it.
#[cfg(unix)]
const SOCKET_DIR_PREFIX: &str = "tf-dbaas-";

/// A private directory for the socket, removed when serving ends.
#[cfg(unix)]
struct SocketDir(PathBuf);

#[cfg(unix)]
impl SocketDir {
    fn create() -> std::io::Result<SocketDir> {
        use std::os::unix::fs::DirBuilderExt;
        let base = std::env::var_os("PLUGIN_UNIX_SOCKET_DIR").map_or_else(std::env::temp_dir, PathBuf::from);
        sweep_dead(&base);
        let unique = format!("{SOCKET_DIR_PREFIX}{}-{}", std::process::id(), rand_suffix());
        let dir = base.join(unique);
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        Ok(SocketDir(dir))
    }

    fn socket(&self) -> PathBuf {
        self.0.join("plugin.sock")
    }
}

/// Removes socket directories of provider processes that died without cleaning up
/// (SIGKILL). Only where `/proc` tells which processes live, and only our own directories.
#[cfg(unix)]
fn sweep_dead(base: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(base) else { return };
    // /proc/self belongs to this process's user: who "we" are, without libc.
    let Ok(me) = std::fs::metadata("/proc/self").map(|m| m.uid()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(SOCKET_DIR_PREFIX))
            .and_then(|rest| rest.split('-').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        let ours = entry.metadata().is_ok_and(|m| m.is_dir() && m.uid() == me);
        if ours && !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(unix)]
impl Drop for SocketDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn rand_suffix() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos());
    format!("{:016x}", h.finish())
}
