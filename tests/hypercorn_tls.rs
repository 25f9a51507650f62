//! Issue 17: the FastAPI test app served by hypercorn — a real ASGI server
//! that speaks HTTP/2 — over TLS with certificates generated here (rcgen),
//! one with client-certificate verification (`--ca-certs` +
//! `--verify-mode CERT_REQUIRED`), and over h2c. Each case is a real
//! `streamsoak run`, read back from its report folder: streams succeed with
//! the right `ca_file` / client certificate and `http_versions` says `2`;
//! otherwise they fail as `tls` with the option that fixes it in the
//! example message.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::fastapi::{require_hypercorn, HypercornTls};

/// A CA, and certificates it signs, written as PEM files into a folder.
struct Pki {
    dir: PathBuf,
    ca: rcgen::Certificate,
    ca_key: rcgen::KeyPair,
}

impl Pki {
    fn new(dir: &Path, name: &str) -> Pki {
        let ca_key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, format!("{name} CA"));
        let ca = params.self_signed(&ca_key).expect("CA");
        let pki = Pki {
            dir: dir.to_owned(),
            ca,
            ca_key,
        };
        std::fs::write(pki.ca_path(name), pki.ca.pem()).expect("write CA");
        pki
    }

    fn ca_path(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{name}-ca.pem"))
    }

    /// A certificate for `names` (server) or a client certificate; returns
    /// (certificate, key) paths.
    fn issue(&self, file: &str, names: &[&str], client: bool) -> (PathBuf, PathBuf) {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params = rcgen::CertificateParams::new(
            names.iter().map(|n| (*n).to_owned()).collect::<Vec<_>>(),
        )
        .expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, file);
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .expect("sign");
        let (cert_path, key_path) = (
            self.dir.join(format!("{file}.pem")),
            self.dir.join(format!("{file}.key")),
        );
        std::fs::write(&cert_path, cert.pem()).expect("write cert");
        std::fs::write(&key_path, key.serialize_pem()).expect("write key");
        (cert_path, key_path)
    }
}

/// A short run against `base` with `http` lines in `[http]`; returns
/// `summary.csv` and `errors.csv` (kind → example).
fn run(
    dir: &Path,
    base: &str,
    http: &str,
) -> (
    std::collections::HashMap<String, String>,
    std::collections::HashMap<String, String>,
) {
    let scenario = dir.join("hypercorn.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"hypercorn\"\ntarget = \"{base}\"\n\
             [request]\nbody = {{ events = 3, interval_ms = 20 }}\n\
             [load]\nstages = [ {{ for = \"2s\", to = 2 }} ]\nthink_time = \"100ms\"\n\
             [retry]\nmax_retries = 0\n[http]\n{http}\n"
        ),
    )
    .expect("write scenario");
    let out = dir.join(format!("report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let output = Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .arg("run")
        .arg(&scenario)
        .args(["--quiet", "--out"])
        .arg(&out)
        .output()
        .expect("streamsoak runs");
    assert!(
        out.join("summary.csv").exists(),
        "no report: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pairs = |file: &str, key: &str, value: &str| {
        let mut reader = csv::Reader::from_path(out.join(file)).expect(file);
        let headers = reader.headers().expect("header").clone();
        let (k, v) = (
            headers.iter().position(|h| h == key).expect("key column"),
            headers
                .iter()
                .position(|h| h == value)
                .expect("value column"),
        );
        reader
            .records()
            .map(|r| {
                let r = r.expect("row");
                (r[k].to_owned(), r[v].to_owned())
            })
            .collect::<std::collections::HashMap<_, _>>()
    };
    (
        pairs("summary.csv", "key", "value"),
        pairs("errors.csv", "kind", "example"),
    )
}

fn assert_ok_over_h2(summary: &std::collections::HashMap<String, String>, what: &str) {
    assert_eq!(summary["http_versions"], "2", "{what}: {summary:?}");
    assert_eq!(summary["streams_failed"], "0", "{what}: {summary:?}");
    assert_ne!(summary["streams_ok"], "0", "{what}: {summary:?}");
}

fn assert_tls_failure(
    (summary, errors): &(
        std::collections::HashMap<String, String>,
        std::collections::HashMap<String, String>,
    ),
    fix: &str,
    what: &str,
) {
    assert_eq!(summary["streams_ok"], "0", "{what}: {summary:?}");
    let example = errors
        .get("tls")
        .unwrap_or_else(|| panic!("{what}: no tls error in {errors:?}"));
    assert!(example.contains(fix), "{what}: `{fix}` not in {example}");
}

fn toml_path(p: &Path) -> String {
    p.display().to_string().replace('\\', "/")
}

#[test]
fn http2_over_tls_trusts_ca_file_and_names_it_when_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), "staging");
    let (cert, key) = pki.issue("server", &["127.0.0.1", "localhost"], false);
    let tls = HypercornTls {
        cert,
        key,
        client_ca: None,
    };
    let Some(server) = require_hypercorn(Some(&tls)) else {
        return;
    };
    let ca = format!("ca_file = \"{}\"", toml_path(&pki.ca_path("staging")));
    let (summary, _) = run(dir.path(), &server.base_url, &ca);
    assert_ok_over_h2(&summary, "with ca_file");
    let (summary, _) = run(
        dir.path(),
        &server.base_url,
        &format!("{ca}\nversion = \"1.1\""),
    );
    assert_eq!(summary["http_versions"], "1.1", "{summary:?}");

    let untrusted = run(dir.path(), &server.base_url, "");
    assert_tls_failure(&untrusted, "ca_file", "without ca_file");
    assert_tls_failure(&untrusted, "insecure_tls", "without ca_file");
    let (summary, _) = run(dir.path(), &server.base_url, "insecure_tls = true");
    assert_ok_over_h2(&summary, "insecure_tls");
}

#[test]
fn mutual_tls_needs_a_client_certificate_the_server_trusts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = Pki::new(dir.path(), "staging");
    let (cert, key) = pki.issue("server", &["127.0.0.1"], false);
    let (client_cert, client_key) = pki.issue("client", &["streamsoak-client"], true);
    let rogue = Pki::new(dir.path(), "rogue");
    let (rogue_cert, rogue_key) = rogue.issue("rogue-client", &["streamsoak-client"], true);
    let tls = HypercornTls {
        cert,
        key,
        client_ca: Some(pki.ca_path("staging")),
    };
    let Some(server) = require_hypercorn(Some(&tls)) else {
        return;
    };
    let ca = format!("ca_file = \"{}\"", toml_path(&pki.ca_path("staging")));
    let identity = |cert: &Path, key: &Path| {
        format!(
            "{ca}\nclient_cert = \"{}\"\nclient_key = \"{}\"",
            toml_path(cert),
            toml_path(key)
        )
    };
    let (summary, _) = run(
        dir.path(),
        &server.base_url,
        &identity(&client_cert, &client_key),
    );
    assert_ok_over_h2(&summary, "with the client certificate");

    let none = run(dir.path(), &server.base_url, &ca);
    assert_tls_failure(&none, "client_cert", "without a client certificate");
    let foreign = run(
        dir.path(),
        &server.base_url,
        &identity(&rogue_cert, &rogue_key),
    );
    assert_tls_failure(&foreign, "client_cert", "with a certificate of another CA");
}

#[test]
fn h2c_with_prior_knowledge_against_hypercorn() {
    let dir = tempfile::tempdir().expect("tempdir");
    let Some(server) = require_hypercorn(None) else {
        return;
    };
    let (summary, _) = run(dir.path(), &server.base_url, "version = \"2\"");
    assert_ok_over_h2(&summary, "h2c");
    let (summary, _) = run(dir.path(), &server.base_url, "");
    assert_eq!(summary["http_versions"], "1.1", "plain auto: {summary:?}");
}
