//! `summary.json`: the whole of `summary.csv`, `latency.csv`,
//! `thresholds.csv`, `faults.csv` and `errors.csv` in one document, for
//! programs that read a run's results. `schema/summary.schema.json` in the
//! repository describes it (JSON Schema draft 2020-12); tests validate every
//! produced file against it.
//!
//! Why built from the CSV rows and not from the summary directly: the
//! numbers must equal the CSV files' to the digit. Each value is the CSV
//! cell's text, parsed into its JSON type (an empty cell is `null`), so the
//! two files cannot drift apart.
//!
//! ```text
//! { "schema_version": 1, "complete": true,
//!   "summary": { "name": …, "streams_started": 120, "success_rate": 0.991667, …, "shard": null, "complete": true },
//!   "latency": [ { "metric": "ttfb", "count": 120, "min_ms": 0.412, … } ],
//!   "thresholds": [ { "threshold": "ttfe.p99", "condition": "< 1s", "observed": 3.1, "passed": true, "unit": "ms" } ],
//!   "faults": [ … faults.csv columns … ], "errors": [ … errors.csv columns … ] }
//! ```

use std::path::Path;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::Value;

use crate::report::csv::{
    error_rows, fault_rows, latency_rows, summary_rows, threshold_rows, write_atomic,
    ERRORS_HEADER, FAULTS_HEADER, LATENCY_HEADER, THRESHOLDS_HEADER,
};
use crate::report::summary::RunSummary;
use crate::report::ReportError;
use crate::scenario::thresholds::ThresholdResult;

/// Version of the document's shape; raised when a field changes meaning or goes.
pub const SCHEMA_VERSION: u64 = 1;

/// The JSON type of a CSV column.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Str,
    Int,
    Num,
    /// A number, or `null` for an empty cell.
    OptNum,
    Bool,
    /// A boolean, or `null` for an empty cell.
    OptBool,
}

fn value(kind: Kind, text: &str) -> Value {
    let number = |t: &str| {
        t.parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::Null, Value::Number)
    };
    match kind {
        Kind::Str => Value::String(text.to_owned()),
        Kind::Int => text
            .parse::<u64>()
            .map_or_else(|_| number(text), |n| Value::Number(n.into())),
        Kind::Num | Kind::OptNum => number(text),
        Kind::Bool | Kind::OptBool => match text {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => Value::Null,
        },
    }
}

fn summary_kind(key: &str) -> Kind {
    match key {
        "name" | "target" | "started_at" | "shard" | "plan_digest" | "start_at"
        | "http_versions" => Kind::Str,
        "duration_s"
        | "events_per_s"
        | "output_tokens_per_s"
        | "start_late_ms"
        | "start_skew_ms" => Kind::Num,
        "success_rate" | "goodput" => Kind::OptNum,
        "thresholds_passed" => Kind::OptBool,
        "complete" => Kind::Bool,
        _ => Kind::Int,
    }
}

fn column_kind(column: &str) -> Kind {
    match column {
        "metric" | "threshold" | "condition" | "unit" | "kind" | "class" | "example" => Kind::Str,
        "count" | "fault" | "sessions" | "opened" | "recovered" | "short_circuited"
        | "failed_streams" | "reconnected" => Kind::Int,
        "observed" | "first_seen_s" => Kind::OptNum,
        "passed" => Kind::Bool,
        _ => Kind::Num,
    }
}

/// A JSON value whose objects keep their keys in the CSV's order
/// (`serde_json::Map` would sort them), so the file reads like the CSVs.
#[derive(Clone, Debug, PartialEq)]
pub enum Node {
    /// A number, string, boolean or null.
    Leaf(Value),
    /// An object, keys in order.
    Object(Vec<(&'static str, Node)>),
    /// An array.
    Array(Vec<Node>),
}

impl Serialize for Node {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Node::Leaf(v) => v.serialize(serializer),
            Node::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, node) in entries {
                    map.serialize_entry(key, node)?;
                }
                map.end()
            }
            Node::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
        }
    }
}

fn table(header: &[&'static str], rows: Vec<Vec<String>>) -> Node {
    Node::Array(
        rows.into_iter()
            .map(|row| {
                Node::Object(
                    header
                        .iter()
                        .zip(row)
                        .map(|(column, cell)| {
                            (*column, Node::Leaf(value(column_kind(column), &cell)))
                        })
                        .collect(),
                )
            })
            .collect(),
    )
}

/// The `summary.json` document of a run with its threshold verdicts.
pub fn render(s: &RunSummary, results: &[ThresholdResult]) -> Node {
    let passed = results.iter().all(|r| r.passed);
    let mut summary: Vec<(&'static str, Node)> = summary_rows(&s.facts(Some(passed)))
        .into_iter()
        .filter(|(key, _)| *key != "complete")
        .map(|(key, text)| (key, Node::Leaf(value(summary_kind(key), &text))))
        .collect();
    if !summary.iter().any(|(key, _)| *key == "shard") {
        summary.push(("shard", Node::Leaf(Value::Null)));
    }
    summary.push(("complete", Node::Leaf(Value::Bool(s.complete))));
    Node::Object(vec![
        ("schema_version", Node::Leaf(SCHEMA_VERSION.into())),
        ("complete", Node::Leaf(Value::Bool(s.complete))),
        ("summary", Node::Object(summary)),
        ("latency", table(LATENCY_HEADER, latency_rows(&s.latencies))),
        (
            "thresholds",
            table(THRESHOLDS_HEADER, threshold_rows(results)),
        ),
        ("faults", table(FAULTS_HEADER, fault_rows(&s.faults))),
        (
            "errors",
            table(ERRORS_HEADER, error_rows(&s.counters, &s.errors)),
        ),
    ])
}

/// Writes `summary.json` (pretty-printed, atomically).
///
/// # Errors
/// When the file cannot be written.
pub fn write(path: &Path, s: &RunSummary, results: &[ThresholdResult]) -> Result<(), ReportError> {
    let mut text = serde_json::to_string_pretty(&render(s, results))
        .expect("invariant: a serde_json::Value always serialises");
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_become_typed_values() {
        for (kind, text, expected) in [
            (Kind::Int, "42", serde_json::json!(42)),
            (Kind::Num, "1.016", serde_json::json!(1.016)),
            (Kind::Num, "0.000", serde_json::json!(0.0)),
            (Kind::OptNum, "", Value::Null),
            (Kind::OptNum, "0.474000", serde_json::json!(0.474)),
            (Kind::Bool, "true", Value::Bool(true)),
            (Kind::OptBool, "", Value::Null),
            (Kind::Str, "status-5xx", serde_json::json!("status-5xx")),
        ] {
            assert_eq!(value(kind, text), expected, "{kind:?} {text:?}");
        }
    }

    #[test]
    fn every_column_has_its_type() {
        for (column, kind) in [
            ("count", Kind::Int),
            ("p99_9_ms", Kind::Num),
            ("observed", Kind::OptNum),
            ("retry_amplification", Kind::Num),
            ("example", Kind::Str),
        ] {
            assert_eq!(column_kind(column), kind, "{column}");
        }
        for (key, kind) in [
            ("streams_ok", Kind::Int),
            ("success_rate", Kind::OptNum),
            ("thresholds_passed", Kind::OptBool),
            ("shard", Kind::Str),
        ] {
            assert_eq!(summary_kind(key), kind, "{key}");
        }
    }
}
