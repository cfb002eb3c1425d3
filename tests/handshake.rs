//! The go-plugin handshake, tested on the real binary: it refuses to run outside a plugin
//! host, and serves only a peer presenting the client certificate it was given.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use dbaas::plugin::proto::tfplugin6::{get_provider_schema, provider_client::ProviderClient};
use dbaas::plugin::serve::{MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;
use tonic::transport::{Channel, Endpoint, Uri};

fn binary() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_terraform-provider-dbaas"));
    cmd.env_remove(MAGIC_COOKIE_KEY)
        .env_remove("PLUGIN_CLIENT_CERT")
        .env_remove("TF_LOG")
        .env_remove("TF_LOG_PROVIDER");
    cmd
}

/// A client certificate like go-plugin's: self-signed ECDSA P-521.
struct ClientCert {
    pem: String,
    der: CertificateDer<'static>,
    key: PrivatePkcs8KeyDer<'static>,
}

fn client_cert() -> ClientCert {
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P521_SHA512).unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    ClientCert { pem: cert.pem(), der: cert.der().clone(), key: PrivatePkcs8KeyDer::from(key.serialize_der()) }
}

struct Plugin {
    child: Child,
    network: String,
    address: String,
    server_cert: CertificateDer<'static>,
}

impl Drop for Plugin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(client: &ClientCert, network: &str) -> Plugin {
    let mut cmd = binary();
    cmd.env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_CLIENT_CERT", &client.pem)
        .env("PLUGIN_PROTOCOL_VERSIONS", "5,6")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    if network == "tcp" {
        cmd.env("DBAAS_PLUGIN_LISTEN", "tcp");
    }
    let mut child = cmd.spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    let parts: Vec<_> = line.trim().split('|').collect();
    assert_eq!(parts.len(), 6, "handshake line: {line:?}");
    assert_eq!(&parts[..2], ["1", "6"]);
    assert_eq!(parts[4], "grpc");
    assert!(parts[5].len() > 50 && !parts[5].ends_with('='), "certificate must be unpadded base64: {}", parts[5]);
    let der = base64::engine::general_purpose::STANDARD_NO_PAD.decode(parts[5]).unwrap();
    Plugin { child, network: parts[2].into(), address: parts[3].into(), server_cert: CertificateDer::from(der) }
}

/// Trusts exactly the certificate the plugin printed, as go-plugin's client does.
#[derive(Debug)]
struct PinnedServer(CertificateDer<'static>);

impl ServerCertVerifier for PinnedServer {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        assert_eq!(end_entity.as_ref(), self.0.as_ref(), "server presented another certificate");
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(m, c, d, &algs)
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algs = rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(m, c, d, &algs)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider().signature_verification_algorithms.supported_schemes()
    }
}

async fn connect(plugin: &Plugin, identity: Option<&ClientCert>) -> Result<Channel, tonic::transport::Error> {
    let builder = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServer(plugin.server_cert.clone())));
    let mut config = match identity {
        Some(c) => builder.with_client_auth_cert(vec![c.der.clone()], PrivateKeyDer::Pkcs8(c.key.clone_key())).unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = TlsConnector::from(Arc::new(config));
    let (network, address) = (plugin.network.clone(), plugin.address.clone());
    Endpoint::try_from("http://localhost")
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_: Uri| {
            let (connector, network, address) = (connector.clone(), network.clone(), address.clone());
            async move {
                let name = ServerName::try_from("localhost").unwrap();
                if network == "unix" {
                    let stream = tokio::net::UnixStream::connect(&address).await?;
                    Ok::<_, std::io::Error>(TokioIo::new(
                        Box::new(connector.connect(name, stream).await?) as Box<dyn Io>
                    ))
                } else {
                    let stream = tokio::net::TcpStream::connect(&address).await?;
                    Ok(TokioIo::new(Box::new(connector.connect(name, stream).await?) as Box<dyn Io>))
                }
            }
        }))
        .await
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

async fn schema_call(channel: Channel) -> Result<get_provider_schema::Response, tonic::Status> {
    ProviderClient::new(channel).get_provider_schema(get_provider_schema::Request {}).await.map(|r| r.into_inner())
}

#[test]
fn refuses_to_run_without_the_magic_cookie() {
    let out = binary().output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("Terraform plugin") && stderr.contains("Run it through Terraform"), "{stderr}");
    assert!(out.stdout.is_empty(), "no handshake line without the cookie");
}

#[test]
fn refuses_to_run_without_a_client_certificate() {
    let out = binary().env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("PLUGIN_CLIENT_CERT is not set"));
}

#[test]
fn refuses_a_host_without_protocol_6() {
    let out = binary()
        .env(MAGIC_COOKIE_KEY, MAGIC_COOKIE_VALUE)
        .env("PLUGIN_CLIENT_CERT", client_cert().pem)
        .env("PLUGIN_PROTOCOL_VERSIONS", "4,5")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("serves version 6 only"));
}

#[tokio::test]
async fn serves_the_pinned_client_over_a_unix_socket() {
    let client = client_cert();
    let plugin = start(&client, "unix");
    assert_eq!(plugin.network, "unix");
    let schema = schema_call(connect(&plugin, Some(&client)).await.unwrap()).await.unwrap();
    assert!(schema.data_source_schemas.contains_key("dbaas_endpoints"));
    assert!(schema.server_capabilities.unwrap().get_provider_schema_optional);
}

#[tokio::test]
async fn serves_over_tcp_when_asked() {
    let client = client_cert();
    let plugin = start(&client, "tcp");
    assert_eq!(plugin.network, "tcp");
    assert!(plugin.address.starts_with("127.0.0.1:"));
    schema_call(connect(&plugin, Some(&client)).await.unwrap()).await.unwrap();
}

#[tokio::test]
async fn refuses_a_connection_without_the_client_certificate() {
    let client = client_cert();
    let plugin = start(&client, "unix");
    // With TLS 1.3 the client may finish its side of the handshake before the server
    // checks the certificate, so the refusal shows up at the connection or the first call.
    let refused = match connect(&plugin, None).await {
        Err(_) => true,
        Ok(channel) => schema_call(channel).await.is_err(),
    };
    assert!(refused, "a client without a certificate was served");
    // The rightful client is still served afterwards.
    schema_call(connect(&plugin, Some(&client)).await.unwrap()).await.unwrap();
}

#[tokio::test]
async fn refuses_a_connection_with_another_certificate() {
    let client = client_cert();
    let impostor = client_cert();
    let plugin = start(&client, "unix");
    let refused = match connect(&plugin, Some(&impostor)).await {
        Err(_) => true,
        Ok(channel) => schema_call(channel).await.is_err(),
    };
    assert!(refused, "a client with another certificate was served");
}

#[tokio::test]
async fn shutdown_ends_the_process() {
    use dbaas::plugin::proto::go_plugin::{Empty, grpc_controller_client::GrpcControllerClient};
    let client = client_cert();
    let mut plugin = start(&client, "unix");
    let socket = plugin.address.clone();
    GrpcControllerClient::new(connect(&plugin, Some(&client)).await.unwrap()).shutdown(Empty {}).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while plugin.child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "still running 5 s after Shutdown");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(plugin.child.try_wait().unwrap().unwrap().success());
    assert!(!std::path::Path::new(&socket).exists(), "socket left behind");
}

/// The socket directory the plugin printed (unix only).
fn socket_dir(plugin: &Plugin) -> std::path::PathBuf {
    std::path::Path::new(&plugin.address).parent().expect("a socket in a directory").to_path_buf()
}

#[cfg(unix)]
#[test]
fn sigterm_removes_the_socket_directory() {
    let client = client_cert();
    let mut plugin = start(&client, "unix");
    let dir = socket_dir(&plugin);
    assert!(dir.exists(), "{}", dir.display());
    let pid = plugin.child.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let started = Instant::now();
    while plugin.child.try_wait().unwrap().is_none() {
        assert!(started.elapsed() < Duration::from_secs(5), "still running after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!dir.exists(), "{} outlived the plugin", dir.display());
}

#[cfg(unix)]
#[test]
fn a_start_sweeps_directories_of_killed_plugins_only() {
    let client = client_cert();
    let mut killed = start(&client, "unix");
    let dead_dir = socket_dir(&killed);
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    assert!(dead_dir.exists(), "SIGKILL leaves the directory: nothing can catch it");
    let alive = start(&client, "unix");
    let alive_dir = socket_dir(&alive);
    // Another plugin's start sweeps the dead one's directory and leaves the live one's.
    let next = start(&client, "unix");
    assert!(!dead_dir.exists(), "{} was not swept", dead_dir.display());
    assert!(alive_dir.exists(), "a live plugin's directory was removed");
    drop(next);
    drop(alive);
}
