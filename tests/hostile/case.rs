//! The case table of `tests/hostile.rs`: what one case says ([`Case`]), how
//! it is checked against a run and the server's own log ([`Case::check`]),
//! and [`check_all`], which runs every case of a table and reports each
//! failure by name.

use std::time::Duration;

use crate::run::stream;
use crate::run::Run;
use crate::server::{Hostile, VALID_DATA};

/// Longest to wait for the server to record what it saw.
pub const NOTE_LIMIT: Duration = Duration::from_secs(30);

/// The `(event, id, data)` triples of [`server::valid_stream`].
fn valid_triples() -> Vec<(String, String, String)> {
    vec![
        ("message".into(), "1".into(), VALID_DATA[0].into()),
        ("update".into(), "2".into(), VALID_DATA[1].into()),
        ("message".into(), "2".into(), VALID_DATA[2].into()),
    ]
}

// ---------------------------------------------------------------- the table

/// How a case's run must end.
pub enum Outcome {
    /// Failed as `class_kind` after exactly `attempts` attempts, each failing
    /// that way ([`Run::assert_failed`]).
    Failed {
        class_kind: &'static str,
        attempts: u32,
    },
    /// Completed on the attempt after the failed ones, which failed as
    /// listed, in order ([`Run::assert_ok`], then the list exactly).
    Completed { failed: &'static [&'static str] },
}

/// What `--events-out` must hold.
pub enum Events {
    /// Nothing: the stream never got an event out.
    None,
    /// At least one event (a stream cut short by a limit).
    Some,
    /// Exactly these `data` fields, in order.
    Data(&'static [&'static str]),
    /// Exactly [`valid_triples`]: event type, id and data of every event.
    Valid,
    /// Exactly these `(id, data)` pairs (every event of type `message`).
    Ids(&'static [(&'static str, &'static str)]),
    /// Not checked (a TCP reset may drop data already received).
    Unchecked,
}

/// Server notes a case waits for: `count` notes starting with `prefix`,
/// each of which must start with `starts_with`.
pub struct Notes {
    pub prefix: &'static str,
    pub count: usize,
    pub starts_with: &'static str,
}

/// One `streamsoak stream` run against one hostile behaviour.
pub struct Case {
    /// Names the case in a failure (the test's name before the table).
    pub name: &'static str,
    /// The behaviour, by its path on [`Hostile`] (`tests/hostile/server.rs`).
    pub path: &'static str,
    /// `--retries`.
    pub retries: u32,
    /// Scenario values `(section, key, value)` over [`run::stream`]'s base scenario.
    pub set: &'static [(&'static str, &'static str, &'static str)],
    /// More CLI arguments.
    pub extra: &'static [&'static str],
    pub outcome: Outcome,
    /// Requests the server received on `path` (its own count: the oracle).
    pub requests: usize,
    /// The `retry N in S` lines exactly, where the delay is the point.
    pub retry_lines: Option<&'static [&'static str]>,
    pub events: Events,
    /// Fragments stdout must hold.
    pub stdout: &'static [&'static str],
    /// `Name: value` lines of the metrics block.
    pub metrics: &'static [(&'static str, &'static str)],
    pub notes: Option<Notes>,
    /// A request header `(lower-case name, value)` every request on `path` had.
    pub header: Option<(&'static str, &'static str)>,
    /// Evidence only this case has.
    pub then: Option<fn(&Run, &Hostile)>,
}

/// The fields most cases leave alone.
pub const CASE: Case = Case {
    name: "",
    path: "",
    retries: 0,
    set: &[],
    extra: &[],
    outcome: Outcome::Completed { failed: &[] },
    requests: 1,
    retry_lines: None,
    events: Events::None,
    stdout: &[],
    metrics: &[],
    notes: None,
    header: None,
    then: None,
};

impl Case {
    /// Runs the case against a fresh server and makes every check it names.
    pub fn check(&self) {
        let server = Hostile::start();
        let run = stream(&server.url(self.path), self.retries, self.set, self.extra);
        match self.outcome {
            Outcome::Failed {
                class_kind,
                attempts,
            } => run.assert_failed(class_kind, attempts),
            Outcome::Completed { failed } => {
                run.assert_ok(failed.len() as u32 + 1);
                let want: Vec<(u32, String)> =
                    (1..).zip(failed.iter().map(|k| (*k).to_owned())).collect();
                assert_eq!(
                    run.failed_attempts(),
                    want,
                    "the attempts before the good one: {}",
                    run.show()
                );
            }
        }
        assert_eq!(
            server.requests(self.path).len(),
            self.requests,
            "requests the server received on {}: {:?}",
            self.path,
            server.notes()
        );
        if let Some(lines) = self.retry_lines {
            assert_eq!(run.retry_lines(), lines, "retry delays: {}", run.show());
        }
        match self.events {
            Events::None => assert!(run.events.is_empty(), "no events: {}", run.show()),
            Events::Some => assert!(
                !run.events.is_empty(),
                "events were seen before the limit: {}",
                run.show()
            ),
            Events::Data(data) => assert_eq!(run.event_data(), data, "{}", run.show()),
            Events::Valid => assert_eq!(run.event_triples(), valid_triples(), "{}", run.show()),
            Events::Ids(pairs) => {
                let want: Vec<(String, String, String)> = pairs
                    .iter()
                    .map(|(id, data)| ("message".into(), (*id).into(), (*data).into()))
                    .collect();
                assert_eq!(run.event_triples(), want, "{}", run.show());
            }
            Events::Unchecked => {}
        }
        for fragment in self.stdout {
            assert!(
                run.stdout.contains(fragment),
                "stdout holds `{fragment}`: {}",
                run.show()
            );
        }
        for (name, value) in self.metrics {
            assert_eq!(run.metric(name), *value, "{name}: {}", run.show());
        }
        if let Some(notes) = &self.notes {
            let seen = server
                .wait_notes(notes.prefix, notes.count, NOTE_LIMIT)
                .unwrap_or_else(|| {
                    panic!(
                        "{} server notes `{}…` within {NOTE_LIMIT:?}: {:?}",
                        notes.count,
                        notes.prefix,
                        server.notes()
                    )
                });
            for note in &seen {
                assert!(
                    note.starts_with(notes.starts_with),
                    "`{}…` expected, the server noted: {seen:?}",
                    notes.starts_with
                );
            }
        }
        if let Some((name, value)) = self.header {
            for request in server.requests(self.path) {
                let got = request
                    .headers
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str());
                assert_eq!(got, Some(value), "request header {name}: {request:?}");
            }
        }
        if let Some(then) = self.then {
            then(&run, &server);
        }
    }
}

/// Runs every case (all of them, even after a failure) and fails with the
/// name and message of each case that failed.
pub fn check_all(cases: &[Case]) {
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case.check()));
            let payload = result.err()?;
            let message = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("(a panic without a message)");
            Some(format!(
                "--- case `{}` ({}):\n{message}",
                case.name, case.path
            ))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}
