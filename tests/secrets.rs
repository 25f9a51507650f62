//! Secrets never leak: a canary token in an environment variable, used as
//! `headers = { Authorization = "Bearer ${CANARY}" }` (and in a body, and
//! as the password of a target URL), must not appear in any report file,
//! on stdout or stderr (even with `-vv`), nor in `--events-out` — against
//! the embedded target, a `streamsoak serve` process (whose own `-vv`
//! stderr is checked too) and a raw server that proves the header was sent.
//! PRODUCT.md: "Nothing secret is written: header values and `${VAR}`
//! expansions never reach a report."

#[path = "hostile/server.rs"]
mod server;
mod support;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Output, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use support::{bin, int, show, summary};

const VAR: &str = "STREAMSOAK_TEST_CANARY";

/// A token that appears nowhere else.
fn canary() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos();
    format!("cnry{:x}{:x}tkn", std::process::id(), nanos)
}

/// A short closed-model scenario sending the canary in two headers and the body.
fn scenario(dir: &Path, target: &str, path: &str) -> PathBuf {
    let text = format!(
        r#"name = "secrets"
target = "{target}"
seed = 1

[server]
events = 2
interval = "10ms"

[request]
method = "POST"
path = "{path}"
headers = {{ Authorization = "Bearer ${{{VAR}}}", "X-Api-Key" = "${{{VAR}}}" }}
body = {{ query = "secret ${{{VAR}}} {{{{session}}}}" }}

[load]
executor = "ramping-sessions"
stages = [ {{ for = "0s", to = 2 }}, {{ for = "2s", to = 2 }} ]
"#
    );
    let file = dir.join("secrets.toml");
    std::fs::write(&file, text).expect("write scenario");
    file
}

/// Every file under `dir` (recursively).
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for entry in std::fs::read_dir(&d).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                todo.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn assert_absent(canary: &str, what: &str, bytes: &[u8]) {
    let found = bytes
        .windows(canary.len())
        .position(|w| w == canary.as_bytes());
    if let Some(at) = found {
        let text = String::from_utf8_lossy(bytes);
        let start = text.len().min(at.saturating_sub(200));
        let end = text.len().min(at + canary.len() + 100);
        panic!(
            "the canary leaked into {what}:\n…{}…",
            text.get(start..end).unwrap_or(&text)
        );
    }
}

fn assert_output_clean(canary: &str, what: &str, output: &Output) {
    assert_absent(canary, &format!("{what} stdout"), &output.stdout);
    assert_absent(canary, &format!("{what} stderr"), &output.stderr);
    let err = String::from_utf8_lossy(&output.stderr);
    assert!(!err.contains("panicked"), "{what}: {}", show(output));
}

/// `run SCENARIO --out DIR --events-out FILE -vv` with the canary set; checks
/// every output for it and returns the report folder's summary.
fn run_and_check(
    canary: &str,
    scenario: &Path,
    tmp: &Path,
) -> std::collections::BTreeMap<String, String> {
    let out = tmp.join("report");
    let events = tmp.join("events.jsonl");
    let output = bin()
        .env(VAR, canary)
        .arg("-vv")
        .arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(&out)
        .arg("--events-out")
        .arg(&events)
        .output()
        .expect("streamsoak run");
    // No thresholds in the scenario: nothing to fail, so exit 0.
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_output_clean(canary, "run -vv", &output);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("sse line"),
        "-vv really logged each SSE line (else this test checks little): {}",
        show(&output)
    );
    let report = files(&out);
    assert!(report.len() >= 8, "a full report folder: {report:?}");
    for file in &report {
        let bytes = std::fs::read(file).expect("read report file");
        assert_absent(canary, &file.display().to_string(), &bytes);
    }
    let events = std::fs::read(&events).expect("--events-out written");
    assert!(!events.is_empty(), "events were written");
    assert_absent(canary, "--events-out", &events);

    let check = bin()
        .env(VAR, canary)
        .arg("-vv")
        .arg("check")
        .arg(scenario)
        .output()
        .expect("streamsoak check");
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    assert_output_clean(canary, "check -vv", &check);
    summary(&out)
}

#[test]
fn embedded_target_never_writes_the_canary() {
    let canary = canary();
    let tmp = tempfile::tempdir().expect("tempdir");
    let file = scenario(tmp.path(), "embedded", "/trigger_invocation");
    let s = run_and_check(&canary, &file, tmp.path());
    assert!(int(&s, "streams_ok") > 0, "streams ran: {s:?}");
}

#[test]
fn a_raw_server_gets_the_header_but_no_output_shows_it() {
    let canary = canary();
    let server = server::Hostile::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = format!("http://{}", server.addr);
    let file = scenario(tmp.path(), &target, "/ok");
    let s = run_and_check(&canary, &file, tmp.path());
    assert!(int(&s, "streams_ok") > 0, "streams ran: {s:?}");
    let requests = server.requests("/ok");
    assert!(!requests.is_empty());
    for request in &requests {
        let header = |name: &str| {
            request
                .headers
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(header("authorization"), Some(format!("Bearer {canary}")));
        assert_eq!(header("x-api-key"), Some(canary.clone()));
        let body = String::from_utf8_lossy(&request.body);
        assert!(
            body.contains(&canary),
            "the body carries the expansion: {body}"
        );
    }
}

/// `streamsoak serve -vv` in the background, its stderr collected.
struct Serve {
    child: Child,
    addr: SocketAddr,
    stderr: Option<JoinHandle<String>>,
}

impl Serve {
    fn start() -> Serve {
        let mut child = bin()
            .args([
                "-vv",
                "serve",
                "--port",
                "0",
                "--events",
                "2",
                "--interval",
                "10ms",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("streamsoak serve");
        let pipe = child.stderr.take().expect("stderr");
        let (tx, rx) = mpsc::channel();
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            for line in BufReader::new(pipe).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split_once("listening on ").map(|(_, r)| r) {
                    if let Some(addr) = rest.split_whitespace().next() {
                        let _ = tx.send(addr.to_owned());
                    }
                }
                all.push_str(&line);
                all.push('\n');
            }
            all
        });
        let addr = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(addr) => addr.parse().expect("listening address"),
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("serve did not report its address: {err}");
            }
        };
        Serve {
            child,
            addr,
            stderr: Some(stderr),
        }
    }

    /// Stops the server; its whole stderr.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_serve_process_target_never_writes_the_canary() {
    let canary = canary();
    let serve = Serve::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = format!("http://{}", serve.addr);
    let file = scenario(tmp.path(), &target, "/trigger_invocation");
    let s = run_and_check(&canary, &file, tmp.path());
    assert!(int(&s, "streams_ok") > 0, "streams ran: {s:?}");

    // The single client, with the scenario's headers and with --header.
    let events = tmp.path().join("stream-events.jsonl");
    let output = bin()
        .env(VAR, &canary)
        .arg("-vv")
        .arg("stream")
        .arg("--scenario")
        .arg(&file)
        .arg("--events-out")
        .arg(&events)
        .output()
        .expect("streamsoak stream");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_output_clean(&canary, "stream --scenario -vv", &output);
    assert_absent(
        &canary,
        "stream --events-out",
        &std::fs::read(&events).expect("events"),
    );

    let output = bin()
        .arg("-vv")
        .arg("stream")
        .arg("--url")
        .arg(format!("{target}/trigger_invocation"))
        .arg("--header")
        .arg(format!("Authorization: Bearer {canary}"))
        .arg("--events-out")
        .arg(&events)
        .output()
        .expect("streamsoak stream");
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    assert_output_clean(&canary, "stream --header -vv", &output);
    assert_absent(
        &canary,
        "stream --events-out",
        &std::fs::read(&events).expect("events"),
    );

    let serve_log = serve.stop();
    assert_absent(&canary, "serve -vv stderr", serve_log.as_bytes());
}

#[test]
fn a_password_in_the_target_url_is_stripped() {
    // PRODUCT.md: summary.csv `target` has its credentials stripped; the
    // password here is a ${VAR} expansion, so it must reach no output at all.
    let canary = canary();
    let serve = Serve::start();
    let tmp = tempfile::tempdir().expect("tempdir");
    let target = format!("http://soak:${{{VAR}}}@{}", serve.addr);
    let file = scenario(tmp.path(), &target, "/trigger_invocation");
    let s = run_and_check(&canary, &file, tmp.path());
    assert_eq!(s["target"], format!("http://{}", serve.addr), "{s:?}");

    let output = bin()
        .env(VAR, &canary)
        .arg("-v")
        .arg("stream")
        .arg("--scenario")
        .arg(&file)
        .output()
        .expect("streamsoak stream");
    assert_output_clean(
        &canary,
        "stream --scenario (password in target) -v",
        &output,
    );
    drop(serve);
}

/// A syntax error on a line holding a literal header value names the key,
/// never the value.
#[test]
fn a_broken_headers_line_is_not_echoed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("broken.toml");
    std::fs::write(
        &file,
        "name = \"x\"\n[request]\nheaders = { Authorization = \"Bearer canary-literal-77 }\n",
    )
    .expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .arg("check")
        .arg(&file)
        .output()
        .expect("check runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("request.headers"), "{stderr}");
    assert!(!stderr.contains("canary-literal-77"), "{stderr}");
}
