//! TLS for the client: `[http] ca_file`, `client_cert`/`client_key`,
//! `insecure_tls`, and the ALPN list of `[http] version`.
//!
//! The PEM files are read and parsed once, when the scenario is loaded
//! ([`load_roots`], [`load_client_chain`], [`load_client_key`]), and carried as DER in a [`TlsFiles`];
//! [`client_config`] turns them into the rustls `ClientConfig` every awc
//! client of a run shares (one `Arc`, so a thousand sessions with their own
//! connections hold one config). The scenario loader calls it too, so
//! a key that does not match its certificate fails `check`, not the run.
//!
//! Trust: the webpki roots (Mozilla's list, compiled in) plus `ca_file`'s
//! certificates. `insecure_tls = true` swaps the verifier for one that
//! accepts any certificate but still checks handshake signatures.
//!
//! [`hint`] is the pure half of the error story: a rustls error to the
//! option that fixes it, appended to the `tls` failure's detail.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::client::protocol::VersionPref;

/// `ca_file` and `client_cert`/`client_key`, parsed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsFiles {
    /// Extra trust anchors (`ca_file`), besides the webpki roots.
    pub extra_roots: Vec<CertificateDer<'static>>,
    /// The client certificate chain and key for mutual TLS.
    pub identity: Option<ClientIdentity>,
}

/// A client certificate chain and its private key (mutual TLS).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// End-entity certificate first.
    pub chain: Vec<CertificateDer<'static>>,
    key: Arc<PrivateKeyDer<'static>>,
}

impl std::fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .field("key", &"[elided]")
            .finish()
    }
}

/// A TLS file that cannot be used; the message says what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TlsFileError(pub String);

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path)
        .map_err(|err| TlsFileError(format!("cannot read `{}`: {err}", path.display())))
}

fn certificates(path: &Path, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let pem = read(path)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| TlsFileError(format!("`{}` is not valid PEM: {err}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsFileError(format!(
            "`{}` holds no `-----BEGIN CERTIFICATE-----` block: {what} must be PEM certificates",
            path.display()
        )));
    }
    Ok(certs)
}

/// Reads `ca_file`: one or more PEM certificates, each usable as a root.
///
/// # Errors
/// Unreadable file, no certificate, or one that is not a valid X.509 root.
pub fn load_roots(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let certs = certificates(path, "ca_file")?;
    let mut store = rustls::RootCertStore::empty();
    for (i, cert) in certs.iter().enumerate() {
        store.add(cert.clone()).map_err(|err| {
            TlsFileError(format!(
                "certificate {} of `{}` cannot be a trusted root: {err}",
                i + 1,
                path.display()
            ))
        })?;
    }
    Ok(certs)
}

/// Reads `client_cert`: a PEM certificate chain, end-entity first.
///
/// # Errors
/// Unreadable file or no certificate.
pub fn load_client_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    certificates(path, "client_cert")
}

/// Reads `client_key`: a PEM PKCS#8, PKCS#1 or SEC1 private key.
///
/// # Errors
/// Unreadable file or no private key in it.
pub fn load_client_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let pem = read(path)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|err| {
        TlsFileError(format!(
            "`{}` holds no usable private key ({err}): client_key must be a PEM `PRIVATE KEY`, `RSA PRIVATE KEY` or `EC PRIVATE KEY`",
            path.display()
        ))
    })
}

impl ClientIdentity {
    /// A chain and its key; [`client_config`] checks that they match.
    pub fn new(chain: Vec<CertificateDer<'static>>, key: PrivateKeyDer<'static>) -> ClientIdentity {
        ClientIdentity {
            chain,
            key: Arc::new(key),
        }
    }
}

impl TlsFiles {
    /// The same files plus one more trusted root (the embedded server's CA).
    pub fn with_root(&self, root: CertificateDer<'static>) -> TlsFiles {
        let mut files = self.clone();
        files.extra_roots.push(root);
        files
    }
}

/// The rustls client config for these files, verification mode and version.
///
/// # Errors
/// rustls refuses the client key (unsupported type, or it does not match the
/// certificate); roots were checked by [`load_roots`].
pub fn client_config(
    files: &TlsFiles,
    insecure: bool,
    version: VersionPref,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("invariant: ring supports the default TLS versions");
    let builder = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
    } else {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // Checked by `load_roots` (or generated by us): adding cannot fail.
        let (_, _) = roots.add_parsable_certificates(files.extra_roots.iter().cloned());
        builder.with_root_certificates(roots)
    };
    let identity = match &files.identity {
        Some(id) => Some(Arc::new(rustls::sign::CertifiedKey::from_der(
            id.chain.clone(),
            id.key.clone_key(),
            &rustls::crypto::ring::default_provider(),
        )?)),
        None => None,
    };
    let mut config = builder.with_client_cert_resolver(Arc::new(NotingResolver(identity)));
    config.alpn_protocols = version.alpn();
    Ok(config)
}

/// What to change when the handshake failed with `err`; `None` when no
/// option of ours fixes it.
pub fn hint(err: &rustls::Error) -> Option<&'static str> {
    use rustls::{AlertDescription as A, CertificateError as C, Error as E};
    match err {
        E::InvalidCertificate(C::NotValidForName | C::NotValidForNameContext { .. }) => Some(
            "the server's certificate does not name the target's host: use a host name it was issued for in `target`, or set [http] insecure_tls = true (testing only)",
        ),
        E::InvalidCertificate(
            C::Expired | C::ExpiredContext { .. } | C::NotValidYet | C::NotValidYetContext { .. },
        ) => Some(
            "the server's certificate is expired or not valid yet: renew it, or set [http] insecure_tls = true (testing only)",
        ),
        E::InvalidCertificate(_) => Some(
            "the server's certificate is not trusted: give the CA that signed it in [http] ca_file = \"ca.pem\" (PEM), or set [http] insecure_tls = true to skip verification (testing only)",
        ),
        E::AlertReceived(A::CertificateRequired | A::BadCertificate | A::UnknownCA | A::CertificateUnknown | A::AccessDenied) => Some(
            "the server wants a client certificate it trusts (mutual TLS): give [http] client_cert and client_key (PEM) issued by the CA the server verifies clients against",
        ),
        E::NoApplicationProtocol | E::AlertReceived(A::NoApplicationProtocol) => Some(
            "the server speaks none of the protocols offered in ALPN: try [http] version = \"auto\" (or \"1.1\")",
        ),
        _ => None,
    }
}

thread_local! {
    /// Set by [`NotingResolver`] while a handshake runs on this thread:
    /// the server asked for a client certificate (`Some(we had one)`).
    static ASKED: std::cell::Cell<Option<bool>> = const { std::cell::Cell::new(None) };
}

/// Takes what the handshake that just ran on this thread noted: `Some(had
/// an identity)` when the server asked for a client certificate. Read by
/// the watched TCP stream right after (see `client/watch.rs`).
pub(crate) fn take_client_auth_request() -> Option<bool> {
    ASKED.with(std::cell::Cell::take)
}

/// Answers a server's certificate request with our identity (if any) and
/// notes that it was asked: a TLS 1.3 server that rejects the answer may
/// just close the connection after the handshake, and this note is how the
/// failure can still say "client certificate" rather than "reset".
#[derive(Debug)]
struct NotingResolver(Option<Arc<rustls::sign::CertifiedKey>>);

impl rustls::client::ResolvesClientCert for NotingResolver {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        ASKED.with(|asked| asked.set(Some(self.0.is_some())));
        self.0.clone()
    }

    fn has_certs(&self) -> bool {
        self.0.is_some()
    }
}

/// The server asked for a client certificate, then closed or reset the
/// connection before sending anything else: it did not accept our answer.
#[derive(Debug, thiserror::Error)]
#[error("the server asked for a client certificate and closed the connection right after the handshake ({})", if *.had_identity { "it refused the one sent" } else { "none is configured" })]
pub(crate) struct ClientCertRefused {
    /// Whether we sent a certificate.
    pub(crate) had_identity: bool,
    /// The I/O error that ended the connection, if it was not a clean close.
    #[source]
    pub(crate) source: Option<std::io::Error>,
}

impl ClientCertRefused {
    /// What to change.
    pub(crate) fn hint(&self) -> &'static str {
        Self::hint_for(self.had_identity)
    }

    /// `Some(had_identity)` when `text` is this error's message.
    pub(crate) fn parse(text: &str) -> Option<bool> {
        let refused = |had_identity| {
            ClientCertRefused {
                had_identity,
                source: None,
            }
            .to_string()
        };
        [false, true].into_iter().find(|had| text == refused(*had))
    }

    /// What to change, given whether a certificate was sent.
    pub(crate) fn hint_for(had_identity: bool) -> &'static str {
        if had_identity {
            "the server refused our client certificate (mutual TLS): give a client_cert and client_key issued by the CA the server verifies clients against"
        } else {
            "the server requires a client certificate (mutual TLS): give [http] client_cert and client_key (PEM)"
        }
    }
}

/// `insecure_tls = true`: accepts any certificate, still checks signatures
/// are well-formed so the handshake itself stays real.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write");
        path
    }

    fn pair() -> (String, String) {
        let key = rcgen::KeyPair::generate().expect("key");
        let params = rcgen::CertificateParams::new(vec!["client.test".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("cert");
        (cert.pem(), key.serialize_pem())
    }

    #[test]
    fn files_load_or_say_what_is_wrong() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, key) = pair();
        let cert_path = write(dir.path(), "c.pem", &cert);
        let key_path = write(dir.path(), "k.pem", &key);
        assert_eq!(load_roots(&cert_path).expect("root").len(), 1);
        let id = ClientIdentity::new(
            load_client_chain(&cert_path).expect("chain"),
            load_client_key(&key_path).expect("key"),
        );
        let files = TlsFiles {
            extra_roots: vec![],
            identity: Some(id),
        };
        client_config(&files, false, VersionPref::Auto).expect("config");

        let empty = write(dir.path(), "empty.pem", "no pem here\n");
        for (result, needle) in [
            (
                load_roots(&dir.path().join("missing.pem")).map(|_| ()),
                "cannot read",
            ),
            (load_roots(&empty).map(|_| ()), "no `-----BEGIN CERTIFICATE"),
            (
                load_client_key(&cert_path).map(|_| ()),
                "no usable private key",
            ),
            (
                load_client_chain(&key_path).map(|_| ()),
                "no `-----BEGIN CERTIFICATE",
            ),
        ] {
            let err = result.expect_err(needle);
            assert!(err.0.contains(needle), "{err}");
        }
    }

    #[test]
    fn a_key_of_another_certificate_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (cert, _) = pair();
        let (_, other_key) = pair();
        let id = ClientIdentity::new(
            load_client_chain(&write(dir.path(), "c.pem", &cert)).expect("chain"),
            load_client_key(&write(dir.path(), "k.pem", &other_key)).expect("key"),
        );
        let files = TlsFiles {
            extra_roots: vec![],
            identity: Some(id),
        };
        assert!(client_config(&files, false, VersionPref::Auto).is_err());
    }

    #[test]
    fn hints_name_the_option_that_fixes_it() {
        use rustls::{AlertDescription as A, CertificateError as C, Error as E};
        for (err, needle) in [
            (E::InvalidCertificate(C::UnknownIssuer), "ca_file"),
            (E::InvalidCertificate(C::BadSignature), "insecure_tls"),
            (E::InvalidCertificate(C::NotValidForName), "`target`"),
            (E::InvalidCertificate(C::Expired), "expired"),
            (E::AlertReceived(A::CertificateRequired), "client_cert"),
            (E::AlertReceived(A::UnknownCA), "client_key"),
            (E::NoApplicationProtocol, "version"),
        ] {
            let hint = hint(&err).unwrap_or_default();
            assert!(hint.contains(needle), "{err:?}: {hint}");
        }
        assert_eq!(hint(&E::DecryptError), None);
    }
}
