//! The only place an awc [`Client`] is built.
//!
//! awc's defaults are wrong for a load tester, so every one that matters is
//! set here explicitly:
//! - `Connector::limit` defaults to 100 connections and silently *queues*
//!   requests past it, which would show up as latency that the server never
//!   caused. We set it from the number of sessions this thread will run.
//! - The client timeout (default 5 s) covers connect and response headers
//!   only; it is set to `http.timeout`. First-event, idle and total stream
//!   timeouts are enforced by [`crate::client::attempt`] itself.
//! - Compression: awc is built without its compression features and every
//!   request says `Accept-Encoding: identity`, so no decoder sits between the
//!   socket and the SSE parser buffering events. A server that compresses
//!   anyway is decoded incrementally by the attempt (gzip/deflate).
//! - TLS: rustls with the webpki roots (certificates verified), or a verifier
//!   that accepts anything when `insecure_tls = true`. ALPN offers HTTP/1.1
//!   only: one stream per connection, as a browser's `EventSource` over HTTP/1.1.
//!
//! awc's `Client` is `!Send`, so one is built per thread (arbiter) and shared
//! by the sessions on it through [`client_for_this_thread`].

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use awc::{Client, Connector};

use crate::client::config::HttpSpec;

thread_local! {
    static THREAD_CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

/// The awc client of the current thread, built on first use from `spec`.
///
/// Every session on one arbiter shares this client and so its connection
/// pool; `connections` should be the most sessions this thread will run
/// at once (each holds at most one streaming connection).
pub fn client_for_this_thread(spec: &HttpSpec, connections: usize) -> Client {
    THREAD_CLIENT.with(|cell| {
        cell.borrow_mut()
            .get_or_insert_with(|| build_client(spec, connections))
            .clone()
    })
}

thread_local! {
    /// One client per `[http] local_addresses` entry (issue #16).
    static SOURCE_CLIENTS: RefCell<Vec<Client>> = const { RefCell::new(Vec::new()) };
}

/// The client session `session` uses on this thread: with `[http]
/// local_addresses`, the one bound to `local_addresses[session % len]`
/// (loopback has about 28,000 ephemeral ports per source address, so
/// 100,000 connections need several), else [`client_for_this_thread`].
pub fn client_for_session(spec: &HttpSpec, connections: usize, session: u64) -> Client {
    let n = spec.local_addresses.len();
    if n == 0 {
        return client_for_this_thread(spec, connections);
    }
    let index = (session % n as u64) as usize;
    SOURCE_CLIENTS.with(|cell| {
        let mut clients = cell.borrow_mut();
        if clients.is_empty() {
            // The limit is a cap, not a reservation: sessions are spread over
            // arbiters and addresses by id, so one address's client on a
            // thread may serve all of that thread's sessions.
            clients.extend(
                spec.local_addresses
                    .iter()
                    .map(|ip| build_client_from(spec, connections, Some(*ip))),
            );
        }
        clients[index].clone()
    })
}

/// Builds a client with every awc default that matters set explicitly.
pub fn build_client(spec: &HttpSpec, connections: usize) -> Client {
    build_client_from(spec, connections, None)
}

fn build_client_from(
    spec: &HttpSpec,
    connections: usize,
    local: Option<std::net::IpAddr>,
) -> Client {
    let mut connector = Connector::new();
    if let Some(ip) = local {
        connector = connector.local_address(ip);
    }
    let connector = connector
        .rustls_0_23(Arc::new(tls_config(spec.insecure_tls)))
        .timeout(spec.timeout)
        .handshake_timeout(spec.timeout)
        // Sessions bound concurrency themselves; the margin covers
        // connections still closing while a session opens its next one.
        .limit(connections.saturating_add(16))
        // `pool_max_idle_per_host = 0`: no idle connection is kept, so none
        // is reused (awc closes a pooled connection idle longer than this).
        .conn_keep_alive(if spec.pool_max_idle_per_host == 0 {
            Duration::ZERO
        } else {
            spec.idle_conn_timeout
        })
        .conn_lifetime(Duration::from_secs(24 * 3600))
        .disconnect_timeout(Duration::from_secs(1));
    Client::builder()
        .connector(connector)
        .timeout(spec.timeout)
        .no_default_headers()
        .add_default_header((
            "user-agent",
            concat!("streamsoak/", env!("CARGO_PKG_VERSION")),
        ))
        .add_default_header(("accept", "text/event-stream"))
        .add_default_header(("accept-encoding", "identity"))
        .add_default_header(("cache-control", "no-cache"))
        .max_redirects(10)
        .finish()
}

fn tls_config(insecure: bool) -> rustls::ClientConfig {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("invariant: ring supports the default TLS versions");
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}

/// `insecure_tls = true`: accepts any certificate, still checks signatures
/// are well-formed so the handshake itself stays real.
#[derive(Debug)]
struct AcceptAnyCert(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
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
        cert: &rustls::pki_types::CertificateDer<'_>,
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
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A keep-alive HTTP/1.1 server on 127.0.0.1 that counts connections.
    fn counting_server() -> (String, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&accepted);
        std::thread::spawn(move || {
            for stream in listener.incoming().take(8).flatten() {
                count.fetch_add(1, Ordering::SeqCst);
                std::thread::spawn(move || {
                    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                    let mut writer = stream;
                    let mut line = String::new();
                    // One response per request head, until the client closes.
                    while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                        if line == "\r\n" {
                            let ok =
                                writer.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
                            if ok.is_err() {
                                return;
                            }
                        }
                        line.clear();
                    }
                });
            }
        });
        (format!("http://{addr}/"), accepted)
    }

    async fn two_requests(spec: &HttpSpec) -> usize {
        let (url, accepted) = counting_server();
        let client = build_client(spec, 4);
        for _ in 0..2 {
            let mut response = client.get(url.as_str()).send().await.expect("response");
            let body = response.body().await.expect("body");
            assert_eq!(&body[..], b"ok");
        }
        accepted.load(Ordering::SeqCst)
    }

    #[actix_rt::test]
    async fn pool_max_idle_per_host_zero_means_a_new_connection_per_request() {
        let reuse = two_requests(&HttpSpec::default()).await;
        assert_eq!(reuse, 1, "default: the kept-alive connection is reused");
        let none = HttpSpec {
            pool_max_idle_per_host: 0,
            ..HttpSpec::default()
        };
        assert_eq!(two_requests(&none).await, 2, "0: no idle connection kept");
    }
}
