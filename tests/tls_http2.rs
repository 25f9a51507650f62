//! Issue 17 (https://… issues show 17), the transport half: HTTP/2 (ALPN and
//! h2c), TLS verification with the embedded server's generated CA, the
//! `tls` failure's hint, connections per session counted at the server, and
//! the fault proxy in front of an https target with verification on.
//!
//! Every server is real and on 127.0.0.1: the embedded actix-web server
//! (`[server] tls`), with the crate's fault proxy in front of it as the
//! point where accepted TCP connections are counted (the proxy forwards TLS
//! untouched, so the client still verifies the server's certificate).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use bytes::Bytes;
use rand::SeedableRng;
use streamsoak::client::attempt::AttemptOutcome;
use streamsoak::client::breaker::{Breaker, BreakerConfig};
use streamsoak::client::config::{HttpSpec, StreamSpec, VersionPref};
use streamsoak::client::http::Transport;
use streamsoak::client::protocol::HttpVersion;
use streamsoak::client::retry::RetryPolicy;
use streamsoak::client::{CancelHandle, EventSink, FailureKind, Observer, PreparedRequest};
use streamsoak::client::{SeenEvent, StreamService};
use streamsoak::engine::progress::ProgressMode;
use streamsoak::engine::RunOptions;
use streamsoak::faults::{FaultProxy, ProxyFault};
use streamsoak::scenario::{self, LoadOptions};
use streamsoak::server::{EmbeddedServer, ServerConfig};

enum Command {
    Connections(std_mpsc::Sender<u64>),
    Fault(Option<ProxyFault>, std_mpsc::Sender<()>),
    Stop,
}

/// The embedded server and the fault proxy in front of it, on their own
/// thread and actix System.
struct Served {
    proxy: SocketAddr,
    server: SocketAddr,
    ca_pem: Option<String>,
    commands: tokio::sync::mpsc::UnboundedSender<Command>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn serve(config: ServerConfig) -> Served {
    let (ready, started) = std_mpsc::channel();
    let (commands, mut inbox) = tokio::sync::mpsc::unbounded_channel();
    let thread = std::thread::spawn(move || {
        actix_rt::System::new().block_on(async move {
            let loopback = SocketAddr::from(([127, 0, 0, 1], 0));
            let server = EmbeddedServer::start(config, loopback)
                .await
                .expect("the embedded server starts");
            let proxy = FaultProxy::start(loopback, server.local_addr()).expect("proxy starts");
            let ca = server.tls().map(|t| t.ca_pem().to_owned());
            ready
                .send((proxy.local_addr(), server.local_addr(), ca))
                .expect("test waits");
            while let Some(command) = inbox.recv().await {
                match command {
                    Command::Connections(reply) => {
                        let _ = reply.send(proxy.stats().connections);
                    }
                    Command::Fault(fault, reply) => {
                        proxy.control().set(fault);
                        proxy.control().settled().await;
                        let _ = reply.send(());
                    }
                    Command::Stop => break,
                }
            }
            proxy.shutdown().await;
            server.stop().await;
        });
    });
    let (proxy, server, ca_pem) = started.recv().expect("server thread started");
    Served {
        proxy,
        server,
        ca_pem,
        commands,
        thread: Some(thread),
    }
}

impl Served {
    /// The URL the client uses: the proxy's port (the certificate names
    /// 127.0.0.1, whatever the port).
    fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{}/trigger_invocation", self.proxy)
    }

    fn base(&self) -> String {
        self.url()
            .trim_end_matches("/trigger_invocation")
            .to_owned()
    }

    /// TCP connections the proxy (the server side) accepted so far.
    fn connections(&self) -> u64 {
        let (reply, answer) = std_mpsc::channel();
        let _ = self.commands.send(Command::Connections(reply));
        answer.recv().expect("server thread answers")
    }

    fn set_fault(&self, fault: Option<ProxyFault>) {
        let (reply, answer) = std_mpsc::channel();
        let _ = self.commands.send(Command::Fault(fault, reply));
        answer.recv().expect("server thread answers");
    }

    fn write_ca(&self, dir: &Path) -> std::path::PathBuf {
        let path = dir.join("ca.pem");
        std::fs::write(&path, self.ca_pem.as_deref().expect("a TLS server")).expect("write CA");
        path
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn server(tls: bool, events: u32, interval_ms: u64) -> ServerConfig {
    ServerConfig {
        tls,
        events,
        interval: Duration::from_millis(interval_ms),
        workers: 2,
        ..ServerConfig::default()
    }
}

/// Notes each attempt's version and failure.
#[derive(Default)]
struct Seen {
    versions: Vec<Option<HttpVersion>>,
}

impl EventSink for Seen {
    fn event(&mut self, _: &SeenEvent<'_>) {}
}

impl Observer for Seen {
    fn attempt_finished(&mut self, attempt: &AttemptOutcome) {
        self.versions.push(attempt.version);
    }
}

fn spec_with_ca(served: &Served, dir: &Path, version: VersionPref) -> HttpSpec {
    HttpSpec {
        version,
        tls: streamsoak::client::tls::TlsFiles {
            extra_roots: streamsoak::client::tls::load_roots(&served.write_ca(dir)).expect("CA"),
            identity: None,
        },
        ..HttpSpec::default()
    }
}

/// One stream (no retry) through `spec`: its result and attempt versions.
fn one_stream(spec: &HttpSpec, url: &str) -> (Result<(), streamsoak::client::Failure>, Seen) {
    actix_rt::System::new().block_on(async {
        let transport = Transport::new(spec, url, None);
        let request =
            PreparedRequest::new("POST", &transport.request_url(url), []).expect("request");
        let retry = RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        };
        let mut service = StreamService::new(
            transport.client(1),
            request,
            StreamSpec::default(),
            retry,
            Breaker::new(BreakerConfig::default()),
            rand::rngs::SmallRng::seed_from_u64(1),
        );
        let (_handle, mut cancel) = CancelHandle::new();
        let mut seen = Seen::default();
        let outcome = service
            .stream_with_retry(Bytes::from_static(b"{}"), &mut seen, &mut cancel)
            .await;
        (outcome.result, seen)
    })
}

#[test]
fn alpn_decides_the_version_over_tls_with_the_generated_ca() {
    let served = serve(server(true, 3, 10));
    let dir = tempfile::tempdir().expect("tempdir");
    for (version, expected) in [
        (VersionPref::Auto, HttpVersion::Http2),
        (VersionPref::Http2, HttpVersion::Http2),
        (VersionPref::Http1, HttpVersion::Http11),
    ] {
        let spec = spec_with_ca(&served, dir.path(), version);
        let (result, seen) = one_stream(&spec, &served.url());
        result.unwrap_or_else(|f| panic!("{version}: {f:?}"));
        assert_eq!(seen.versions, [Some(expected)], "version = {version}");
    }
}

#[test]
fn h2c_with_prior_knowledge_on_plain_http() {
    let served = serve(server(false, 3, 10));
    for (version, expected) in [
        (VersionPref::Http2, HttpVersion::Http2),
        (VersionPref::Auto, HttpVersion::Http11),
        (VersionPref::Http1, HttpVersion::Http11),
    ] {
        let spec = HttpSpec {
            version,
            ..HttpSpec::default()
        };
        let (result, seen) = one_stream(&spec, &served.url());
        result.unwrap_or_else(|f| panic!("{version}: {f:?}"));
        assert_eq!(seen.versions, [Some(expected)], "version = {version}");
    }
}

#[test]
fn an_untrusted_certificate_is_tls_and_names_the_fix() {
    let served = serve(server(true, 2, 10));
    for version in [VersionPref::Auto, VersionPref::Http1] {
        let spec = HttpSpec {
            version,
            ..HttpSpec::default()
        };
        let (result, seen) = one_stream(&spec, &served.url());
        let failure = result.expect_err("the generated CA is not a webpki root");
        assert_eq!(failure.kind, FailureKind::Tls, "{failure:?}");
        for fix in ["ca_file", "insecure_tls"] {
            assert!(
                failure.detail.contains(fix),
                "{version}: {}",
                failure.detail
            );
        }
        assert_eq!(seen.versions, [None], "no response");
    }
    let insecure = HttpSpec {
        insecure_tls: true,
        ..HttpSpec::default()
    };
    let (result, seen) = one_stream(&insecure, &served.url());
    result.expect("insecure_tls accepts it");
    assert_eq!(seen.versions, [Some(HttpVersion::Http2)]);
}

/// A closed-model run of `sessions` sessions with long streams; the
/// server's accepted connections and `summary.csv`.
fn run_sessions(
    served: &Served,
    sessions: u32,
    version: &str,
    share: bool,
) -> (u64, std::collections::HashMap<String, String>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = served
        .ca_pem
        .as_ref()
        .map(|_| format!("ca_file = \"{}\"\n", served.write_ca(dir.path()).display()))
        .unwrap_or_default();
    let text = format!(
        "name = \"conns\"\ntarget = \"{}\"\n[request]\nbody = {{ events = 20, interval_ms = 50 }}\n\
         [load]\nstages = [ {{ for = \"1s\", to = {sessions} }}, {{ for = \"2s\", to = {sessions} }} ]\n\
         [http]\nversion = \"{version}\"\nshare_connections = {share}\n{ca}",
        served.base()
    );
    let path = dir.path().join("conns.toml");
    std::fs::write(&path, text).expect("write scenario");
    let opts = LoadOptions {
        sets: vec![],
        target: None,
        env: &|_| None,
        lenient_env: false,
    };
    let scenario = scenario::load(&path, &opts).expect("valid scenario");
    let before = served.connections();
    let out = dir.path().join("report");
    std::fs::create_dir_all(&out).expect("out dir");
    let summary = streamsoak::engine::run(
        &scenario,
        &RunOptions {
            out_dir: out.clone(),
            events_out: None,
            progress: ProgressMode::Quiet,
            shard: None,
            arbiters: 2,
            start_at: None,
            metrics_addr: None,
            metrics_linger: std::time::Duration::ZERO,
        },
    )
    .expect("run");
    streamsoak::report::write_final(&out, &summary, &[]).expect("report");
    let connections = served.connections() - before;
    let mut reader = csv::Reader::from_path(out.join("summary.csv")).expect("summary.csv");
    let kv = reader
        .records()
        .map(|r| {
            let r = r.expect("row");
            (r[0].to_owned(), r[1].to_owned())
        })
        .collect();
    (connections, kv)
}

#[test]
fn each_session_has_its_own_connection_unless_shared() {
    const N: u32 = 40;
    let served = serve(server(true, 20, 50));
    for (version, share, seen) in [
        ("1.1", false, "1.1"),
        ("2", false, "2"),
        ("1.1", true, "1.1"),
        ("2", true, "2"),
    ] {
        let (connections, summary) = run_sessions(&served, N, version, share);
        let what = format!(
            "version {version}, share_connections {share}: {connections} connections, {summary:?}"
        );
        assert_eq!(summary["http_versions"], seen, "{what}");
        assert_eq!(summary["streams_failed"], "0", "{what}");
        let n = u64::from(N);
        if version == "2" && share {
            // Sessions start over a 1 s ramp: all but the first few find a
            // connection already open and multiplex over it.
            assert!(connections <= n / 4, "multiplexed: {what}");
        } else {
            // One user, one connection, kept alive across its streams
            // (a few reconnect when a stream ends as the run stops).
            assert!(connections >= n, "one per session at least: {what}");
            assert!(connections <= n + n / 4, "about one per session: {what}");
        }
    }
}

#[test]
fn proxied_faults_reach_an_https_target_with_verification_on() {
    // `reset` through the proxy while sessions stream over HTTP/2 and TLS:
    // the client still verifies the server (certificate for 127.0.0.1, CA
    // given), and the fault shows up as the transport failure it is.
    let served = serve(server(true, 50, 20));
    let dir = tempfile::tempdir().expect("tempdir");
    for version in [VersionPref::Http2, VersionPref::Http1] {
        let spec = spec_with_ca(&served, dir.path(), version);
        // The request names the server; only the socket goes to the proxy.
        let url = format!("https://{}/trigger_invocation", served.server);
        let before = served.connections();
        let (result, kinds) = actix_rt::System::new().block_on(async {
            let transport = Transport::new(&spec, &url, Some(served.proxy));
            let request = PreparedRequest::new("POST", &url, []).expect("request");
            let client = transport.client(1);
            let stream = StreamSpec::default();
            let (_h, mut cancel) = CancelHandle::new();
            // First an ordinary stream through the proxy...
            let ok = streamsoak::client::attempt::run(
                &client,
                &request,
                Bytes::from_static(b"{\"events\": 2, \"interval_ms\": 10}"),
                &stream,
                &mut (),
                &mut cancel,
                &mut streamsoak::client::attempt::Carry::default(),
            )
            .await;
            // ...then one during `reset` (a new request on the kept-alive
            // connection, or a new connection: both are reset).
            served.set_fault(Some(ProxyFault::Reset));
            let failed = streamsoak::client::attempt::run(
                &client,
                &request,
                Bytes::from_static(b"{}"),
                &stream,
                &mut (),
                &mut cancel,
                &mut streamsoak::client::attempt::Carry::default(),
            )
            .await;
            served.set_fault(None);
            (ok, failed.result.map_err(|f| f.kind))
        });
        result.result.unwrap_or_else(|f| panic!("{version}: {f:?}"));
        assert_eq!(kinds, Err(FailureKind::Reset), "{version}");
        assert!(
            served.connections() > before,
            "{version}: through the proxy"
        );
    }
}

/// `scenarios/https-proxy-faults.toml` against the embedded server over TLS
/// (`--target`, `ca_file` by `--set`): each proxied fault kind acts on the
/// https target while certificates are verified, and the run's streams
/// are HTTP/2.
#[test]
fn the_https_proxy_faults_scenario() {
    let served = serve(server(true, 4, 100));
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = served.write_ca(dir.path());
    let out = dir.path().join("report");
    let target = format!("https://{}", served.server);
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .args([
            "run",
            "scenarios/https-proxy-faults.toml",
            "--quiet",
            "--out",
        ])
        .arg(&out)
        .args(["--target", &target, "--set"])
        .arg(format!("http.ca_file=\"{}\"", ca.display()))
        .output()
        .expect("streamsoak runs");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let read = |file: &str| -> Vec<std::collections::HashMap<String, String>> {
        let mut reader = csv::Reader::from_path(out.join(file)).expect(file);
        let headers = reader.headers().expect("header").clone();
        reader
            .records()
            .map(|r| {
                let r = r.expect("row");
                headers
                    .iter()
                    .zip(r.iter())
                    .map(|(h, v)| (h.to_owned(), v.to_owned()))
                    .collect()
            })
            .collect()
    };
    let summary: std::collections::HashMap<String, String> = read("summary.csv")
        .into_iter()
        .map(|r| (r["key"].clone(), r["value"].clone()))
        .collect();
    assert_eq!(summary["http_versions"], "2", "{summary:?}");
    assert_ne!(summary["streams_ok"], "0", "{summary:?}");
    let errors: Vec<String> = read("errors.csv")
        .into_iter()
        .map(|r| r["kind"].clone())
        .collect();
    assert!(
        !errors.iter().any(|k| k == "tls"),
        "verification held: {errors:?}"
    );
    for kind in ["reset", "connect-refused"] {
        assert!(errors.iter().any(|k| k == kind), "{kind} in {errors:?}");
    }
    assert!(
        errors
            .iter()
            .any(|k| k == "first-event-timeout" || k == "idle-timeout"),
        "stall shows as a timeout: {errors:?}"
    );
    let faults = read("faults.csv");
    let failed = |kind: &str| -> u64 {
        faults
            .iter()
            .find(|f| f["kind"] == kind)
            .unwrap_or_else(|| panic!("{kind} in faults.csv"))["failed_streams"]
            .parse()
            .expect("count")
    };
    for kind in ["reset", "refuse", "stall"] {
        assert!(failed(kind) > 0, "{kind} failed streams: {faults:?}");
    }
}
