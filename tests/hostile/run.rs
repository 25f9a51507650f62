//! Runs `streamsoak stream` for `tests/hostile.rs` and reads what a user
//! sees: stdout, stderr, the exit code and the `--events-out` lines.
//!
//! No sleeps: the process's exit is awaited on a channel with a bound
//! ([`RUN_LIMIT`]); past it the process is killed and the run fails.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

/// Longest any `streamsoak stream` run here may take before it is killed.
const RUN_LIMIT: Duration = Duration::from_secs(60);

/// One finished `streamsoak stream` run.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// `--events-out` lines, parsed.
    pub events: Vec<Value>,
}

impl Run {
    pub fn show(&self) -> String {
        format!(
            "exit {:?}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }

    /// The value of a `Name: value` line of the metrics block.
    pub fn metric(&self, name: &str) -> String {
        let prefix = format!("{name}: ");
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(&prefix))
            .unwrap_or_else(|| panic!("no `{name}:` line in:\n{}", self.show()))
            .to_owned()
    }

    /// The `attempt N failed: class/kind: …` lines of stderr, as (N, "class/kind").
    pub fn failed_attempts(&self) -> Vec<(u32, String)> {
        self.stderr
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix("attempt ")?;
                let (n, rest) = rest.split_once(" failed: ")?;
                let class_kind = rest.split(": ").next()?;
                Some((n.parse().ok()?, class_kind.to_owned()))
            })
            .collect()
    }

    /// The `retry N in S` lines of stderr.
    pub fn retry_lines(&self) -> Vec<&str> {
        self.stderr
            .lines()
            .filter(|l| l.starts_with("retry "))
            .collect()
    }

    /// `(event, id, data)` of each `--events-out` line.
    pub fn event_triples(&self) -> Vec<(String, String, String)> {
        self.events
            .iter()
            .map(|event| {
                let field = |k: &str| {
                    event[k]
                        .as_str()
                        .unwrap_or_else(|| panic!("{k} is a string in {event}"))
                        .to_owned()
                };
                (field("event"), field("id"), field("data"))
            })
            .collect()
    }

    pub fn event_data(&self) -> Vec<String> {
        self.event_triples().into_iter().map(|t| t.2).collect()
    }

    fn assert_common(&self) {
        assert!(!self.stderr.contains("panicked"), "{}", self.show());
        assert!(
            self.stdout.starts_with("Starting stream to "),
            "{}",
            self.show()
        );
    }

    /// Failed as `class_kind` after exactly `attempts` attempts, each failing the same way.
    pub fn assert_failed(&self, class_kind: &str, attempts: u32) {
        self.assert_common();
        assert_eq!(
            self.code,
            Some(1),
            "a failed stream exits 1: {}",
            self.show()
        );
        assert!(
            self.stdout
                .contains(&format!("Stream failed: {class_kind}: ")),
            "expected `Stream failed: {class_kind}: …`: {}",
            self.show()
        );
        let want: Vec<(u32, String)> = (1..=attempts).map(|n| (n, class_kind.to_owned())).collect();
        assert_eq!(
            self.failed_attempts(),
            want,
            "one `attempt N failed: {class_kind}` line per attempt: {}",
            self.show()
        );
        assert_eq!(
            self.metric("Attempts"),
            attempts.to_string(),
            "{}",
            self.show()
        );
        assert_eq!(
            self.metric("Failed"),
            attempts.to_string(),
            "{}",
            self.show()
        );
        assert_eq!(self.metric("Successful"), "0", "{}", self.show());
        assert_eq!(
            self.metric("Retries"),
            (attempts - 1).to_string(),
            "{}",
            self.show()
        );
        assert_eq!(
            self.retry_lines().len(),
            (attempts - 1) as usize,
            "one `retry N in …` line per retry: {}",
            self.show()
        );
    }

    /// Completed, after `attempts` attempts (the earlier ones failed).
    pub fn assert_ok(&self, attempts: u32) {
        self.assert_common();
        assert_eq!(
            self.code,
            Some(0),
            "a completed stream exits 0: {}",
            self.show()
        );
        assert!(
            self.stdout.contains("Stream completed successfully"),
            "{}",
            self.show()
        );
        assert_eq!(
            self.metric("Attempts"),
            attempts.to_string(),
            "{}",
            self.show()
        );
        assert_eq!(self.metric("Successful"), "1", "{}", self.show());
        assert_eq!(
            self.failed_attempts().len(),
            (attempts - 1) as usize,
            "{}",
            self.show()
        );
    }
}

/// A scenario for `stream --scenario`: short, explicit timeouts and a fast
/// fixed backoff (50 ms, no jitter) so that a delay of 1.00 s can only come
/// from a `Retry-After`. `set` replaces or adds `(section, key, value)`.
fn write_scenario(dir: &Path, set: &[(&str, &str, &str)]) -> PathBuf {
    let mut sections: BTreeMap<&str, Vec<(String, String)>> = BTreeMap::new();
    let base: &[(&str, &str, &str)] = &[
        ("stream", "first_event_timeout", r#""10s""#),
        ("stream", "idle_timeout", r#""10s""#),
        ("stream", "max_duration", r#""30s""#),
        ("stream", "max_event_size", r#""1MiB""#),
        ("retry", "max_retries", "0"),
        (
            "retry",
            "backoff",
            r#"{ base = "50ms", factor = 1.0, max = "5s", jitter = "none" }"#,
        ),
        ("http", "timeout", r#""10s""#),
    ];
    for (section, key, value) in base.iter().chain(set) {
        let entries = sections.entry(section).or_default();
        match entries.iter_mut().find(|(k, _)| k == key) {
            Some(entry) => entry.1 = (*value).to_owned(),
            None => entries.push(((*key).to_owned(), (*value).to_owned())),
        }
    }
    let mut text = String::from("# written by tests/hostile.rs\n");
    for (section, entries) in sections {
        text.push_str(&format!("\n[{section}]\n"));
        for (k, v) in entries {
            text.push_str(&format!("{k} = {v}\n"));
        }
    }
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text).expect("write scenario");
    path
}

/// Runs `streamsoak stream --url URL --scenario S --retries N --events-out F EXTRA…`
/// with `set` applied to the scenario, waiting at most [`RUN_LIMIT`].
pub fn stream(url: &str, retries: u32, set: &[(&str, &str, &str)], extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = write_scenario(dir.path(), set);
    let events_out = dir.path().join("events.jsonl");
    let mut child = Command::new(env!("CARGO_BIN_EXE_streamsoak"))
        .arg("stream")
        .args(["--url", url, "--retries", &retries.to_string()])
        .arg("--scenario")
        .arg(&scenario)
        .arg("--events-out")
        .arg(&events_out)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("streamsoak stream starts");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let pid = child.id();
    let (exit_tx, exit) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = exit_tx.send(child.wait());
    });
    let status = match exit.recv_timeout(RUN_LIMIT) {
        Ok(status) => status.expect("wait for streamsoak"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let _ = exit.recv_timeout(RUN_LIMIT);
            panic!(
                "`streamsoak stream --url {url}` did not end by itself within {RUN_LIMIT:?}\n--- stdout\n{}\n--- stderr\n{}",
                out.join().unwrap_or_default(),
                err.join().unwrap_or_default()
            );
        }
    };
    let stdout = out.join().expect("stdout reader");
    let stderr = err.join().expect("stderr reader");
    let events = match std::fs::read_to_string(&events_out) {
        Ok(text) => text
            .lines()
            .map(|l| {
                serde_json::from_str(l)
                    .unwrap_or_else(|err| panic!("--events-out line is JSON ({err}): {l}"))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    Run {
        code: status.code(),
        stdout,
        stderr,
        events,
    }
}
