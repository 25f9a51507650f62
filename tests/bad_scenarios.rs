//! Broken scenario files, table-driven: `streamsoak check FILE` (and `run`)
//! must refuse each with exit code 2 and a message that names the file, the
//! line (as `FILE:LINE:`) and the key to fix (PRODUCT.md "Exit codes").
//!
//! Every row is checked and all failing rows are reported together, so one
//! product bug does not hide another.

mod support;

use std::io::Read;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use support::{bin, show};

/// An environment variable no test environment sets.
const UNSET_VAR: &str = "STREAMSOAK_TEST_SURELY_UNSET_VAR";

struct Row {
    /// What is broken.
    name: &'static str,
    /// The scenario text (`${UNSET}` is replaced with [`UNSET_VAR`]).
    text: &'static str,
    /// 1-based line the message must point at.
    line: usize,
    /// Text naming the key, which the message must contain.
    key: &'static str,
}

const HEAD: &str = "name = \"bad\"\ntarget = \"embedded\"\n";

const ROWS: &[Row] = &[
    Row {
        name: "syntax error (value missing)",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[server]\nevents = \ninterval = \"250ms\"\n",
        line: 4,
        key: "events",
    },
    Row {
        name: "syntax error (unterminated string)",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[server]\ninterval = \"250ms\nevents = 4\n",
        line: 4,
        key: "interval",
    },
    Row {
        name: "wrong type",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[server]\nevents = \"four\"\n",
        line: 4,
        key: "server.events",
    },
    Row {
        name: "unknown key",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[server]\nevnts = 4\n",
        line: 4,
        key: "server.evnts",
    },
    Row {
        name: "negative duration",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[stream]\nidle_timeout = \"-5s\"\n",
        line: 4,
        key: "stream.idle_timeout",
    },
    Row {
        name: "unknown duration unit",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[server]\ninterval = \"10 parsecs\"\n",
        line: 4,
        key: "server.interval",
    },
    Row {
        name: "zero sessions (every stage `to = 0`)",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[load]\nstages = [ { for = \"2s\", to = 0 }, { for = \"2s\", to = 0 } ]\n",
        line: 4,
        key: "load.stages",
    },
    Row {
        name: "negative sessions",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[load]\nstages = [ { for = \"2s\", to = -5 } ]\n",
        line: 4,
        key: "load.stages.0.to",
    },
    Row {
        name: "unset ${VAR} in a header",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[request]\nheaders = { Authorization = \"Bearer ${UNSET}\" }\n",
        line: 4,
        key: "request.headers.Authorization",
    },
    Row {
        name: "missing bodies_file",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[request]\nbodies_file = \"no-such-queries.jsonl\"\n",
        line: 4,
        key: "request.bodies_file",
    },
    Row {
        name: "fault ending after the run",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[load]\nstages = [ { for = \"10s\", to = 5 } ]\n[[faults]]\nat = \"5s\"\nfor = \"30s\"\nkind = \"shutdown\"\n",
        line: 7,
        key: "faults.0.for",
    },
    Row {
        name: "fault starting after the run",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[load]\nstages = [ { for = \"10s\", to = 5 } ]\n[[faults]]\nat = \"1m\"\nfor = \"1s\"\nkind = \"shutdown\"\n",
        line: 6,
        key: "faults.0.at",
    },
    Row {
        name: "threshold on an unknown metric",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[thresholds]\n\"ttfx.p99\" = \"< 1s\"\n",
        line: 4,
        key: "ttfx.p99",
    },
    Row {
        name: "threshold with an unreadable condition",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[thresholds]\nsuccess_rate = \"about 0.9\"\n",
        line: 4,
        key: "thresholds.success_rate",
    },
    Row {
        name: "unknown retry_on kind",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[retry]\nretry_on = [\"network\", \"status-6xx\"]\n",
        line: 4,
        key: "retry.retry_on",
    },
    Row {
        name: "header value with a control character (check once let it pass, run refused it)",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[request]\nheaders = { X-Trace = \"a\\u0001b\" }\n",
        line: 4,
        key: "request.headers.X-Trace",
    },
    Row {
        name: "overlapping faults (one fault at a time)",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[load]\nstages = [ { for = \"60s\", to = 5 } ]\n[[faults]]\nat = \"10s\"\nfor = \"20s\"\nkind = \"shutdown\"\n[[faults]]\nat = \"20s\"\nfor = \"5s\"\nkind = \"refuse\"\n",
        line: 10,
        key: "faults.1.at",
    },
    Row {
        name: "unknown executor",
        text: "name = \"bad\"\ntarget = \"embedded\"\n[load]\nexecutor = \"ramping-users\"\n",
        line: 4,
        key: "load.executor",
    },
];

/// Longest a command may take; a scenario wrongly accepted by `run` would
/// otherwise run for its whole (default: minutes long) plan.
const LIMIT: Duration = Duration::from_secs(60);

/// Runs `cmd` to completion, killing it after `limit` (then its output is what it wrote so far).
fn output_within(cmd: &mut Command, limit: Duration) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("streamsoak runs");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().expect("stdout")));
    let err = drain(Box::new(child.stderr.take().expect("stderr")));
    let pid = child.id();
    let (exit_tx, exit) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = exit_tx.send(child.wait());
    });
    let status = match exit.recv_timeout(limit) {
        Ok(status) => status.expect("wait for streamsoak"),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            exit.recv_timeout(limit)
                .expect("killed process ends")
                .expect("wait for streamsoak")
        }
    };
    Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    }
}

/// Checks one row with `args` (`check FILE` or `run FILE --out DIR`); the problems found.
///
/// One exception, on purpose: `check` of a scenario whose only problem is an
/// unset `${VAR}` (CI lints scenarios before secrets exist) warns, naming
/// the variable, and exits 0; `run` still refuses it.
fn problems(row: &Row, file: &Path, args: &[&std::ffi::OsStr]) -> Vec<String> {
    let output = output_within(bin().args(args).env_remove(UNSET_VAR), LIMIT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let mut found = Vec::new();
    let cmd = args[0].to_string_lossy();
    if cmd == "check" && row.text.contains("${UNSET}") {
        if output.status.code() != Some(0) {
            found.push(format!("`check` exit {:?}, want 0", output.status.code()));
        }
        if !(stderr.contains("warning") && stderr.contains(&format!("${{{UNSET_VAR}}}"))) {
            found.push(format!("`check` does not warn about ${{{UNSET_VAR}}}"));
        }
        if !found.is_empty() {
            found.push(show(&output));
        }
        return found;
    }
    if output.status.code() != Some(2) {
        found.push(format!("`{cmd}` exit {:?}, want 2", output.status.code()));
    }
    let at = format!("{}:{}:", file.display(), row.line);
    if !stderr.contains(&at) {
        found.push(format!("`{cmd}` message lacks `{at}`"));
    }
    if !stderr.contains(row.key) {
        found.push(format!(
            "`{cmd}` message does not name the key `{}`",
            row.key
        ));
    }
    if stderr.contains("panicked") {
        found.push(format!("`{cmd}` panicked"));
    }
    if !found.is_empty() {
        found.push(show(&output));
    }
    found
}

#[test]
fn every_broken_scenario_is_refused_with_file_line_and_key() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let mut failures = Vec::new();
    for (i, row) in ROWS.iter().enumerate() {
        assert!(
            row.text.starts_with(HEAD),
            "{}: rows share the head",
            row.name
        );
        let file = tmp.path().join(format!("bad-{i}.toml"));
        std::fs::write(
            &file,
            row.text.replace("${UNSET}", &format!("${{{UNSET_VAR}}}")),
        )
        .expect("write scenario");
        // The row's line really holds its key (guards the table itself).
        let line = row
            .text
            .lines()
            .nth(row.line - 1)
            .unwrap_or_else(|| panic!("{}: line {} exists", row.name, row.line));
        let last = row.key.rsplit('.').next().unwrap_or(row.key);
        assert!(
            line.contains(last),
            "{}: line {} `{line}` holds `{last}`",
            row.name,
            row.line
        );

        let mut found = problems(row, &file, &["check".as_ref(), file.as_os_str()]);
        let out = tmp.path().join(format!("out-{i}"));
        found.extend(problems(
            row,
            &file,
            &[
                "run".as_ref(),
                file.as_os_str(),
                "--out".as_ref(),
                out.as_os_str(),
                "--quiet".as_ref(),
            ],
        ));
        if out.exists() {
            found.push(format!(
                "`run` created {} for a refused scenario",
                out.display()
            ));
        }
        if !found.is_empty() {
            failures.push(format!(
                "--- {} ({})\n{}",
                row.name,
                file.display(),
                found.join("\n")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} broken scenarios not refused as they should be:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n\n")
    );
}
