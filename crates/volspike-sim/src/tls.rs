//! TLS for the exchange simulator: a certificate authority and a server
//! certificate made at start (rcgen), so a client's `wss://` path runs
//! against a local server that trusts nothing but that CA.

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::TlsAcceptor;

/// Why the simulator's certificates could not be made.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// rcgen could not make a key or a certificate (a name it cannot use).
    #[error("making the simulator's certificate: {0}")]
    Certificate(#[from] rcgen::Error),
    /// rustls refused the server configuration.
    #[error("the simulator's TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

/// A server certificate for some names, signed by a CA made with it.
#[derive(Clone)]
pub struct SimTls {
    /// Accepts TLS connections with the server certificate.
    pub acceptor: TlsAcceptor,
    /// The CA's certificate (PEM): what a client must trust.
    pub ca_pem: String,
}

impl std::fmt::Debug for SimTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SimTls")
    }
}

impl SimTls {
    /// A fresh CA and a certificate for `names` (DNS names or IP addresses)
    /// signed by it.
    pub fn generate(names: &[String]) -> Result<SimTls, TlsError> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "volspike exchange-sim CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key)?;

        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names.to_vec())?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "volspike exchange-sim");
        let cert = params.signed_by(&key, &ca)?;

        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), CertificateDer::clone(ca.der())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )?;
        Ok(SimTls {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            ca_pem: ca.pem(),
        })
    }
}
