//! AutoMTLS as go-plugin does it: we present a fresh self-signed certificate, and accept
//! exactly one client certificate, the one Terraform passed us in `PLUGIN_CLIENT_CERT`.
//!
//! Terraform's certificate is self-signed and marked as a CA, so a WebPKI chain check
//! would refuse it as an end-entity certificate; pinning the exact bytes is both what
//! go-plugin means and the stronger check.
//!
//! ring does the TLS (our key, key exchange, ciphers). go-plugin's keys are P-521, which
//! ring cannot verify, so the client's handshake signature is checked with RustCrypto's
//! `p521`: one curve, in pure Rust. Linking aws-lc-rs for that one check cost about 2 MB
//! of resident code in every provider process (and ~23 ms of seeding at each start when
//! it did the TLS), and Terraform starts the provider three or four times per run.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{WebPkiSupportedAlgorithms, ring};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{
    AlgorithmIdentifier, CertificateDer, InvalidSignature, PrivateKeyDer, PrivatePkcs8KeyDer,
    SignatureVerificationAlgorithm, UnixTime, alg_id,
};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme};

/// The server's certificate, ready to print in the handshake line and to serve.
pub struct ServerIdentity {
    /// DER of the certificate.
    pub certificate: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    /// `PLUGIN_CLIENT_CERT` held no PEM certificate.
    #[error("PLUGIN_CLIENT_CERT does not hold a PEM certificate: {0}")]
    ClientCertificate(String),
    /// Generating our certificate failed.
    #[error("could not generate the server certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the configuration.
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

impl ServerIdentity {
    /// A new self-signed P-256 certificate for `localhost`, which go-plugin's client
    /// expects as the server name.
    ///
    /// # Errors
    /// [`TlsSetupError::Generate`] if key or certificate generation fails.
    pub fn generate() -> Result<ServerIdentity, TlsSetupError> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?;
        params.distinguished_name.push(rcgen::DnType::CommonName, "localhost");
        params.distinguished_name.push(rcgen::DnType::OrganizationName, "terraform-provider-dbaas");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::minutes(5);
        params.not_after = now + time::Duration::days(1);
        // Terraform puts this certificate in its root pool and accepts it as the leaf.
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.self_signed(&key)?;
        Ok(ServerIdentity {
            certificate: cert.der().clone(),
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        })
    }

    /// The certificate as go-plugin prints it: base64 of the DER without padding.
    pub fn handshake_text(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(self.certificate.as_ref())
    }

    /// A rustls server configuration that requires `client_cert_pem`'s certificate.
    ///
    /// # Errors
    /// [`TlsSetupError`] when the PEM holds no certificate or rustls refuses the setup.
    pub fn server_config(&self, client_cert_pem: &str) -> Result<ServerConfig, TlsSetupError> {
        let expected = CertificateDer::from_pem_slice(client_cert_pem.as_bytes())
            .map_err(|e| TlsSetupError::ClientCertificate(e.to_string()))?;
        let provider = Arc::new(ring::default_provider());
        let verifier = PinnedClientCertificate {
            expected,
            algorithms: ring::default_provider().signature_verification_algorithms,
        };
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_client_cert_verifier(Arc::new(verifier))
            .with_single_cert(vec![self.certificate.clone()], self.key.clone_key())?;
        config.alpn_protocols = vec![b"h2".to_vec()];
        Ok(config)
    }
}

#[derive(Debug)]
struct PinnedClientCertificate {
    expected: CertificateDer<'static>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for PinnedClientCertificate {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.expected.as_ref() {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(CertificateError::ApplicationVerificationFailure))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, self.algorithms_for(dss.scheme))
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, self.algorithms_for(dss.scheme))
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        let mut schemes = self.algorithms.supported_schemes();
        schemes.push(SignatureScheme::ECDSA_NISTP521_SHA512);
        schemes
    }
}

impl PinnedClientCertificate {
    fn algorithms_for(&self, scheme: SignatureScheme) -> &WebPkiSupportedAlgorithms {
        if scheme == SignatureScheme::ECDSA_NISTP521_SHA512 { &P521_ALGORITHMS } else { &self.algorithms }
    }
}

/// ECDSA over P-521 with SHA-512: what go-plugin's certificates sign with.
#[derive(Debug)]
struct EcdsaP521Sha512;

impl SignatureVerificationAlgorithm for EcdsaP521Sha512 {
    fn verify_signature(&self, public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), InvalidSignature> {
        use p521::ecdsa::signature::Verifier;
        let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(public_key).map_err(|_| InvalidSignature)?;
        let signature = p521::ecdsa::Signature::from_der(signature).map_err(|_| InvalidSignature)?;
        key.verify(message, &signature).map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_P521
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::ECDSA_SHA512
    }
}

static P521_ALGORITHMS: WebPkiSupportedAlgorithms = WebPkiSupportedAlgorithms {
    all: &[&EcdsaP521Sha512],
    mapping: &[(SignatureScheme::ECDSA_NISTP521_SHA512, &[&EcdsaP521Sha512])],
};

#[cfg(test)]
mod tests {
    use super::*;
    use p521::ecdsa::signature::Signer;

    #[test]
    fn p521_signatures_verify_and_a_changed_one_does_not() {
        let signing = p521::ecdsa::SigningKey::from_slice(&[1u8; 66]).expect("a valid scalar");
        let public = p521::ecdsa::VerifyingKey::from(&signing).to_encoded_point(false);
        let message = b"TLS 1.3, client CertificateVerify";
        let signature: p521::ecdsa::Signature = signing.sign(message);
        let der = signature.to_der();
        let alg = EcdsaP521Sha512;
        assert!(alg.verify_signature(public.as_bytes(), message, der.as_bytes()).is_ok());
        assert!(alg.verify_signature(public.as_bytes(), b"another message", der.as_bytes()).is_err());
        let mut changed = der.as_bytes().to_vec();
        let last = changed.len() - 1;
        changed[last] ^= 1;
        assert!(alg.verify_signature(public.as_bytes(), message, &changed).is_err());
    }
}
