//! Helpers shared by the CLI integration tests: run the `streamsoak`
//! binary (`run`, `report`, `merge`, `check`'s plan), run `streamsoak
//! serve` in the background, read report CSVs and query a server's
//! `GET /stats`.
//!
//! Only std (plus the crate's `csv`/`serde_json`); no sleeps: `serve` is
//! started on port 0 and the test waits for the "listening on ADDR" line it
//! prints, so there is no free-port race and no polling.

// Each integration test binary uses a different part of this helper.
#![allow(dead_code)]

pub mod manifests;
pub mod summary_json;

use std::{
    collections::BTreeMap,
    io::{BufRead, BufReader, Read, Write},
    net::{SocketAddr, TcpStream},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::mpsc,
    time::Duration,
};

/// How long `streamsoak serve` may take to print its "listening on" line.
const SERVE_READY_WITHIN: Duration = Duration::from_secs(30);

/// The binary under test.
pub fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_streamsoak"));
    cmd.current_dir(repo_root()).stdin(Stdio::null());
    cmd
}

/// The crate root (where `scenarios/` lives).
pub fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A scenario shipped in `scenarios/`.
pub fn scenario(name: &str) -> PathBuf {
    repo_root().join("scenarios").join(name)
}

/// Runs the binary with `args` to completion and returns its output.
pub fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("streamsoak runs")
}

/// `streamsoak run SCENARIO --out OUT --quiet`, to add to and run.
pub fn run_cmd(scenario: &Path, out: &Path) -> Command {
    let mut cmd = bin();
    cmd.arg("run")
        .arg(scenario)
        .arg("--out")
        .arg(out)
        .arg("--quiet");
    cmd
}

/// `streamsoak report DIR`, run to completion.
pub fn report(dir: &Path) -> Output {
    bin().arg("report").arg(dir).output().expect("report")
}

/// `streamsoak merge DIRS… --out OUT`, run to completion.
pub fn merge<P: AsRef<std::ffi::OsStr>>(dirs: &[P], out: &Path) -> Output {
    bin()
        .arg("merge")
        .args(dirs)
        .arg("--out")
        .arg(out)
        .output()
        .expect("streamsoak merge starts")
}

/// Asserts that a `run`, `report` or `merge` wrote its report: exit 0
/// (thresholds passed) or 1 (a threshold failed), not an error (2, 3).
pub fn assert_reported(output: &Output) {
    assert!(
        output.status.code().is_some_and(|c| c <= 1),
        "{}",
        show(output)
    );
}

/// The `expected streams N` that `streamsoak check SCENARIO` prints (the
/// unsharded plan); asserts that `check` accepts the scenario.
pub fn expected_streams(scenario: &Path) -> u64 {
    let check = bin()
        .arg("check")
        .arg(scenario)
        .output()
        .expect("streamsoak check");
    assert_eq!(check.status.code(), Some(0), "{}", show(&check));
    let plan = String::from_utf8_lossy(&check.stdout);
    plan.lines()
        .find_map(|l| l.trim().strip_prefix("expected streams"))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("an `expected streams N` line:\n{plan}"))
}

/// The `summary.csv` keys that are counters: summed by `merge`, exported
/// as `streamsoak_<key>_total` by `/metrics`.
pub const SUMMARY_COUNTERS: [&str; 10] = [
    "streams_started",
    "streams_ok",
    "streams_failed",
    "attempts",
    "retries",
    "short_circuited",
    "breaker_opens",
    "events",
    "bytes",
    "dropped_arrivals",
];

/// stdout and stderr of an output, for assertion messages.
pub fn show(output: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// `streamsoak serve` in a child process, killed on drop.
pub struct ServeProcess {
    child: Child,
    /// The address it listens on.
    pub addr: SocketAddr,
}

impl ServeProcess {
    /// Starts `streamsoak serve --port 0 EXTRA…` and waits (bounded) for the
    /// line that names the bound address.
    pub fn start(extra: &[&str]) -> ServeProcess {
        let mut child = bin()
            .args(["serve", "--port", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("streamsoak serve starts");
        let stderr = child.stderr.take().expect("piped stderr");
        let (tx, rx) = mpsc::channel();
        // Reads stderr to its end (so the pipe never fills) and reports the address once.
        std::thread::spawn(move || {
            let mut tx = Some(tx);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(addr) = listening_addr(&line) {
                    if let Some(tx) = tx.take() {
                        let _ = tx.send(addr);
                    }
                }
            }
        });
        match rx.recv_timeout(SERVE_READY_WITHIN) {
            Ok(addr) => ServeProcess { child, addr },
            Err(err) => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("streamsoak serve did not report its address within {SERVE_READY_WITHIN:?}: {err}");
            }
        }
    }

    /// `http://IP:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://IP:PORT/trigger_invocation`.
    pub fn url(&self) -> String {
        format!("{}/trigger_invocation", self.base_url())
    }

    /// The server's `GET /stats`.
    pub fn stats(&self) -> streamsoak::server::StatsSnapshot {
        get_stats(self.addr)
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `... listening on 127.0.0.1:PORT — ...` → the address.
fn listening_addr(line: &str) -> Option<SocketAddr> {
    let rest = line.split_once("listening on ")?.1;
    rest.split_whitespace().next()?.parse().ok()
}

/// `GET /stats` of a server at `addr` (embedded or FastAPI), parsed.
pub fn get_stats(addr: SocketAddr) -> streamsoak::server::StatsSnapshot {
    let (status, body) = http(addr, "GET", "/stats");
    assert_eq!(status, 200, "GET /stats: {body}");
    serde_json::from_str(&body).unwrap_or_else(|err| panic!("GET /stats JSON ({err}): {body}"))
}

/// One HTTP/1.1 request with `Connection: close`; status and body.
fn http(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
    let mut stream =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect to the server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    let (head, body) = response.split_once("\r\n\r\n").expect("response head");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("status line");
    (status, body.to_owned())
}

/// A CSV file as (header, rows of column → value).
pub fn read_csv(path: &Path) -> (Vec<String>, Vec<BTreeMap<String, String>>) {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|err| panic!("{} is readable CSV: {err}", path.display()));
    let header: Vec<String> = reader
        .headers()
        .expect("header row")
        .iter()
        .map(str::to_owned)
        .collect();
    let rows = reader
        .records()
        .map(|record| {
            let record = record.expect("valid CSV row");
            header
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_owned))
                .collect()
        })
        .collect();
    (header, rows)
}

/// The rows of a CSV file, as column → value.
pub fn rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    read_csv(path).1
}

/// `summary.csv` as key → value.
pub fn summary(dir: &Path) -> BTreeMap<String, String> {
    read_csv(&dir.join("summary.csv"))
        .1
        .into_iter()
        .map(|row| (row["key"].clone(), row["value"].clone()))
        .collect()
}

/// A numeric cell.
pub fn num(row: &BTreeMap<String, String>, key: &str) -> f64 {
    let value = row
        .get(key)
        .unwrap_or_else(|| panic!("column {key} in {row:?}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("{key} = {value:?} is a number"))
}

/// An integer cell.
pub fn int(row: &BTreeMap<String, String>, key: &str) -> u64 {
    let value = row
        .get(key)
        .unwrap_or_else(|| panic!("key {key} in {row:?}"));
    value
        .parse()
        .unwrap_or_else(|_| panic!("{key} = {value:?} is an integer"))
}
