//! The embedded server's TLS: a CA and a server certificate generated at
//! start (rcgen), so `serve --tls` and `[server] tls = true` need no setup.
//!
//! Why a CA and not one self-signed certificate: a client is then given
//! the CA (`ca_file`, or by the engine directly) and verifies the server's
//! certificate the ordinary way, names included — the same path a real
//! staging CA takes. The certificate names `localhost`, `127.0.0.1`, `::1`
//! and the bound address. ALPN offers `h2` then `http/1.1`.
//!
//! Keys live in memory for the server's life; only the CA certificate
//! (public) is written out, by `serve --tls`.

use std::net::IpAddr;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The generated CA and server certificate, and the rustls config serving it.
#[derive(Clone)]
pub struct ServerTls {
    ca_der: CertificateDer<'static>,
    ca_pem: String,
    leaf_der: CertificateDer<'static>,
    config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("ca_sha256", &self.ca_fingerprint())
            .finish()
    }
}

impl ServerTls {
    /// A fresh CA and a server certificate for `localhost`, the loopback
    /// addresses and `ip`, valid from now for a year.
    ///
    /// # Errors
    /// Key generation or signing failed (not expected with ring).
    pub fn generate(ip: IpAddr) -> Result<ServerTls, rcgen::Error> {
        let ca_key = rcgen::KeyPair::generate()?;
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "streamsoak embedded server CA");
        ca_params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        let ca = ca_params.self_signed(&ca_key)?;

        let mut names = vec![
            "localhost".to_owned(),
            "127.0.0.1".to_owned(),
            "::1".to_owned(),
        ];
        if !names.contains(&ip.to_string()) && !ip.is_unspecified() {
            names.push(ip.to_string());
        }
        let key = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names)?;
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "streamsoak embedded server");
        params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &ca, &ca_key)?;

        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("invariant: ring supports the default TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone(), ca.der().clone()], key_der)
            .map_err(|err| rcgen::Error::PemError(err.to_string()))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(ServerTls {
            ca_der: ca.der().clone(),
            ca_pem: ca.pem(),
            leaf_der: cert.der().clone(),
            config: Arc::new(config),
        })
    }

    /// The CA certificate (DER), for a client's trusted roots.
    pub fn ca_der(&self) -> &CertificateDer<'static> {
        &self.ca_der
    }

    /// The server's own certificate (DER), signed by the CA.
    pub fn certificate(&self) -> &CertificateDer<'static> {
        &self.leaf_der
    }

    /// The CA certificate (PEM), for a `ca_file`.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// SHA-256 of the CA certificate, as `AB:CD:…`.
    pub fn ca_fingerprint(&self) -> String {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.ca_der);
        digest
            .as_ref()
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// The rustls server config (ALPN `h2`, `http/1.1`).
    pub(crate) fn config(&self) -> rustls::ServerConfig {
        (*self.config).clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ca_verifies_the_server_certificate_for_loopback_names() {
        let tls = ServerTls::generate(IpAddr::from([127, 0, 0, 2])).expect("generate");
        assert_eq!(tls.ca_fingerprint().len(), 32 * 3 - 1);
        assert!(tls.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        let mut roots = rustls::RootCertStore::empty();
        roots.add(tls.ca_der().clone()).expect("CA is a valid root");
        let verifier = rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::ring::default_provider()),
        )
        .build()
        .expect("verifier");
        let now = rustls::pki_types::UnixTime::now();
        for (name, ok) in [
            ("localhost", true),
            ("127.0.0.1", true),
            ("127.0.0.2", true),
            ("example.com", false),
        ] {
            let server_name = rustls::pki_types::ServerName::try_from(name).expect("name");
            let verified = rustls::client::danger::ServerCertVerifier::verify_server_cert(
                &*verifier,
                &tls.leaf_der,
                &[],
                &server_name,
                &[],
                now,
            );
            assert_eq!(verified.is_ok(), ok, "{name}: {verified:?}");
        }
        assert_eq!(tls.config().alpn_protocols[0], b"h2");
    }
}
