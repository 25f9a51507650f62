//! `run --metrics-addr` scraped by a real Prometheus server (issue 13).
//!
//! The test starts Debian's `prometheus` binary itself (installed by
//! `scripts/prometheus.sh` when missing; its systemd service is not used)
//! with a config that scrapes the run's endpoint every second, runs a short
//! scenario against the embedded server with a shutdown fault, and asks
//! Prometheus' HTTP query API for the figures it stored. They must equal
//! `summary.csv`, `latency.csv` and `errors.csv` at the end, and the
//! counters must have been seen growing while the run went.
//!
//! Without Prometheus the test fails (it never passes by skipping); under
//! `CI=true` the message says that CI must be able to install it.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use support::{
    assert_reported, bin, int, num, read_csv, repo_root, show, summary, SUMMARY_COUNTERS,
};

/// Prometheus' startup, on a busy machine.
const READY_WITHIN: Duration = Duration::from_secs(60);
/// From the run's end to its last scrape being queryable.
const INGESTED_WITHIN: Duration = Duration::from_secs(30);

const SCENARIO: &str = r#"
name = "prom-live"
target = "embedded"
seed = 5

[server]
events = 4
interval = "100ms"

[load]
executor = "ramping-sessions"
stages = [ { for = "1s", to = 6 }, { for = "6s", to = 6 }, { for = "1s", to = 0 } ]
think_time = "100ms"

[retry]
max_retries = 1
backoff = { base = "100ms", factor = 2.0, max = "500ms", jitter = "full" }

[breaker]
failure_threshold = 2
open_for = "1s"

[[faults]]
at = "3s"
for = "1500ms"
kind = "shutdown"
"#;

/// The prometheus binary, installed by scripts/prometheus.sh when missing.
fn prometheus_binary() -> PathBuf {
    let output = Command::new("bash")
        .arg(repo_root().join("scripts/prometheus.sh"))
        .stdin(Stdio::null())
        .output()
        .expect("bash runs scripts/prometheus.sh");
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    assert!(
        output.status.success(),
        "Prometheus is needed by this test and could not be installed{}:\n{}",
        if ci {
            " (CI must be able to apt-get install prometheus)"
        } else {
            "; run scripts/prometheus.sh"
        },
        show(&output)
    );
    let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    assert!(
        !path.is_empty(),
        "scripts/prometheus.sh printed no path:\n{}",
        show(&output)
    );
    PathBuf::from(path)
}

/// A port free now on 127.0.0.1 (bound, then released for the server).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A Prometheus server in a child process, killed on drop.
struct Prometheus {
    child: Child,
    addr: SocketAddr,
    exited: mpsc::Receiver<()>,
    log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Prometheus {
    fn start(binary: &Path, dir: &Path, target: SocketAddr) -> Prometheus {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n  - job_name: streamsoak\n    static_configs:\n      - targets: [\"{target}\"]\n"
            ),
        )
        .expect("write prometheus.yml");
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut child = Command::new(binary)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|err| panic!("{} starts: {err}", binary.display()));
        let stderr = child.stderr.take().expect("piped stderr");
        let (ready_tx, ready) = mpsc::channel();
        let (exit_tx, exited) = mpsc::channel();
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = std::sync::Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("Server is ready to receive web requests") {
                    let _ = ready_tx.send(());
                }
                if let Ok(mut log) = keep.lock() {
                    log.push(line);
                }
            }
            let _ = exit_tx.send(());
        });
        let prometheus = Prometheus {
            child,
            addr,
            exited,
            log,
        };
        if ready.recv_timeout(READY_WITHIN).is_err() {
            panic!(
                "Prometheus was not ready within {READY_WITHIN:?}:\n{}",
                prometheus.log()
            );
        }
        prometheus
    }

    fn log(&self) -> String {
        self.log.lock().map(|l| l.join("\n")).unwrap_or_default()
    }

    /// `GET /api/v1/<path>?<query>` → the `data` field of a success.
    fn api(&self, path: &str, params: &[(&str, String)]) -> Value {
        let query: Vec<String> = params
            .iter()
            .map(|(k, v)| format!("{k}={}", percent_encode(v)))
            .collect();
        let body = http_get(self.addr, &format!("/api/v1/{path}?{}", query.join("&")));
        let doc: Value = serde_json::from_str(&body)
            .unwrap_or_else(|err| panic!("Prometheus answered non-JSON ({err}): {body}"));
        assert_eq!(doc["status"], "success", "{body}");
        doc["data"].clone()
    }

    /// The value of an instant query that yields one series, if any.
    fn value(&self, promql: &str) -> Option<f64> {
        let data = self.api("query", &[("query", promql.to_owned())]);
        let result = data["result"].as_array()?;
        assert!(result.len() <= 1, "`{promql}` yields one series: {data}");
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Waits until Prometheus has tried to scrape `target` once (its scrape
    /// loop runs: target discovery applies new targets only every few
    /// seconds, so without this the first seconds of a run go unseen).
    fn wait_for_scrape_loop(&self, target: SocketAddr) {
        let deadline = Instant::now() + READY_WITHIN;
        loop {
            let data = self.api("targets", &[("state", "active".to_owned())]);
            let tried = data["activeTargets"].as_array().is_some_and(|targets| {
                targets.iter().any(|t| {
                    t["scrapeUrl"]
                        .as_str()
                        .is_some_and(|u| u.contains(&target.to_string()))
                        && t["health"] != "unknown"
                })
            });
            if tried {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Prometheus never scraped {target}: {data}\n{}",
                self.log()
            );
            self.pause(Duration::from_millis(100));
        }
    }

    /// Waits `d` between two looks at the query API, or less if Prometheus
    /// exits (a crash ends the wait at once and fails the test).
    fn pause(&self, d: Duration) {
        if self.exited.recv_timeout(d).is_ok() {
            panic!("Prometheus exited:\n{}", self.log());
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// HTTP/1.0 GET (so the body is neither chunked nor kept alive): the body of a 200.
fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("read timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read");
    let (head, body) = response.split_once("\r\n\r\n").expect("response head");
    assert!(
        head.starts_with("HTTP/1.") && head.contains(" 200 "),
        "GET {path}: {head}\n{body}"
    );
    body.to_owned()
}

#[test]
fn prometheus_scrapes_the_run_and_its_final_figures_equal_the_report() {
    let binary = prometheus_binary();
    let tmp = tempfile::tempdir().expect("tempdir");
    let metrics = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let prometheus = Prometheus::start(&binary, tmp.path(), metrics);
    prometheus.wait_for_scrape_loop(metrics);

    let scenario = tmp.path().join("prom.toml");
    std::fs::write(&scenario, SCENARIO).expect("write scenario");
    let out = tmp.path().join("report");
    let started = SystemTime::now();
    let output = bin()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .arg("--quiet")
        .arg("--metrics-addr")
        .arg(metrics.to_string())
        // Stay up until Prometheus has scraped the final figures (1 s scrapes).
        .arg("--metrics-linger")
        .arg("30s")
        .output()
        .expect("streamsoak runs");
    assert_reported(&output);
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains("was not scraped"),
        "the final figures were scraped: {}",
        show(&output)
    );

    let s = summary(&out);
    let (_, rows) = read_csv(&out.join("timeseries.csv"));
    let labels = r#"{job="streamsoak",scenario="prom-live",shard="0"}"#;
    // The last scrape holds every interval: wait until Prometheus has it.
    let deadline = Instant::now() + INGESTED_WITHIN;
    loop {
        let seen = prometheus.value(&format!("streamsoak_intervals{labels}"));
        if seen == Some(rows.len() as f64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Prometheus holds {seen:?} intervals, the run wrote {}\n{}",
            rows.len(),
            prometheus.log()
        );
        prometheus.pause(Duration::from_millis(200));
    }

    // Counters: the final figures equal summary.csv's.
    for name in SUMMARY_COUNTERS {
        let stored = prometheus.value(&format!("streamsoak_{name}_total{labels}"));
        assert_eq!(
            stored,
            Some(int(&s, name) as f64),
            "streamsoak_{name}_total vs summary.csv {s:?}"
        );
    }
    assert!(
        int(&s, "streams_ok") > 0 && int(&s, "streams_failed") + int(&s, "retries") > 0,
        "{s:?}"
    );

    // Errors by kind equal errors.csv's (and every other kind is 0).
    let (_, errors) = read_csv(&out.join("errors.csv"));
    assert!(!errors.is_empty(), "the shutdown leaves errors");
    let data = prometheus.api(
        "query",
        &[("query", format!("streamsoak_errors_total{labels}"))],
    );
    let stored: BTreeMap<String, f64> = data["result"]
        .as_array()
        .expect("result")
        .iter()
        .map(|r| {
            let kind = r["metric"]["kind"].as_str().expect("kind").to_owned();
            (
                kind,
                r["value"][1]
                    .as_str()
                    .and_then(|v| v.parse().ok())
                    .expect("value"),
            )
        })
        .collect();
    assert!(
        stored.len() > errors.len(),
        "every kind is exposed: {stored:?}"
    );
    for (kind, value) in &stored {
        let expected = errors
            .iter()
            .find(|r| &r["kind"] == kind)
            .map_or(0, |r| int(r, "count"));
        assert_eq!(*value, expected as f64, "errors_total{{kind={kind}}}");
    }

    // Histograms in seconds: counts equal latency.csv's, the mean agrees.
    let (_, latency) = read_csv(&out.join("latency.csv"));
    for row in &latency {
        let metric = &row["metric"];
        let count = prometheus.value(&format!("streamsoak_{metric}_seconds_count{labels}"));
        assert_eq!(count, Some(int(row, "count") as f64), "{metric} count");
        if int(row, "count") > 0 {
            let sum = prometheus
                .value(&format!("streamsoak_{metric}_seconds_sum{labels}"))
                .expect("sum");
            let mean_ms = 1000.0 * sum / int(row, "count") as f64;
            let csv_mean = num(row, "mean_ms");
            assert!(
                (mean_ms - csv_mean).abs() <= 0.01 + csv_mean * 1e-6,
                "{metric}: mean {mean_ms} ms from Prometheus, {csv_mean} ms in latency.csv"
            );
        }
    }
    let p50 = prometheus
        .value(&format!(
            "histogram_quantile(0.5, streamsoak_stream_seconds_bucket{labels})"
        ))
        .expect("stream p50");
    let stream = latency
        .iter()
        .find(|r| r["metric"] == "stream")
        .expect("stream row");
    let exact = num(stream, "p50_ms") / 1000.0;
    assert!(
        p50 > exact / 2.5 && p50 < exact * 2.5,
        "histogram_quantile p50 {p50}s is within a bucket of the report's {exact}s"
    );

    // The fault window was seen on, and is off at the end.
    let fault = r#"streamsoak_fault_active{job="streamsoak",scenario="prom-live",shard="0",fault="1",kind="shutdown"}"#;
    assert_eq!(
        prometheus.value(&format!("max_over_time({fault}[5m])")),
        Some(1.0),
        "fault window seen"
    );
    assert_eq!(prometheus.value(fault), Some(0.0), "fault window over");

    // Watched while it ran: the counter was scraped growing, many times.
    let start = started
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let end = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    let data = prometheus.api(
        "query_range",
        &[
            ("query", format!("streamsoak_streams_started_total{labels}")),
            ("start", format!("{start:.3}")),
            ("end", format!("{end:.3}")),
            ("step", "1".to_owned()),
        ],
    );
    let values: Vec<f64> = data["result"][0]["values"]
        .as_array()
        .expect("a range of samples")
        .iter()
        .filter_map(|v| v[1].as_str()?.parse().ok())
        .collect();
    let mut distinct = values.clone();
    distinct.dedup();
    assert!(
        distinct.len() >= 4,
        "streams_started seen at {} distinct values during the run: {values:?}",
        distinct.len()
    );
    assert!(
        values.windows(2).all(|w| w[0] <= w[1]),
        "a counter never falls: {values:?}"
    );
}

#[test]
fn a_metrics_address_in_use_is_a_usage_error_before_any_load() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = taken.local_addr().expect("addr");
    let tmp = tempfile::tempdir().expect("tempdir");
    let scenario = tmp.path().join("prom.toml");
    std::fs::write(&scenario, SCENARIO).expect("write scenario");
    let output = bin()
        .arg("run")
        .arg(&scenario)
        .arg("--out")
        .arg(tmp.path().join("report"))
        .arg("--quiet")
        .arg("--metrics-addr")
        .arg(addr.to_string())
        .output()
        .expect("streamsoak runs");
    assert_eq!(output.status.code(), Some(2), "{}", show(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("--metrics-addr {addr}: cannot listen there")),
        "{}",
        show(&output)
    );
    assert!(
        !tmp.path().join("report/timeseries.csv").exists(),
        "no load was started"
    );
    drop(taken);
}
