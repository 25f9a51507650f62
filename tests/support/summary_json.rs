//! `summary.json` checked as a program reading it would: valid against
//! `schema/summary.schema.json` (itself valid JSON Schema 2020-12), and
//! every value equal to the CSV cell it comes from.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::{read_csv, repo_root, summary};

/// The schema shipped in the repository.
pub fn schema() -> Value {
    let path = repo_root().join("schema/summary.schema.json");
    let text = std::fs::read_to_string(&path).expect("schema/summary.schema.json");
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// Validates `doc` against the schema; the error lists every violation.
pub fn validate(doc: &Value) -> Result<(), String> {
    let schema = schema();
    jsonschema::meta::validate(&schema).map_err(|err| format!("schema itself: {err}"))?;
    let validator = jsonschema::draft202012::new(&schema).map_err(|err| err.to_string())?;
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|err| format!("{} at {}", err, err.instance_path()))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("\n"))
    }
}

/// A CSV cell and the JSON value that must equal it.
fn same(file: &str, column: &str, cell: &str, value: &Value) {
    let ok = match value {
        Value::Null => cell.is_empty(),
        Value::Bool(b) => cell == b.to_string(),
        Value::String(s) => cell == s,
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                cell.parse::<u64>().ok() == Some(u) || cell.parse::<f64>().ok() == Some(u as f64)
            } else {
                cell.parse::<f64>().ok() == n.as_f64()
            }
        }
        _ => false,
    };
    assert!(ok, "{file} {column}: csv `{cell}` != json {value}");
}

fn rows_equal(dir: &Path, doc: &Value, file: &str, key: &str) {
    let (header, rows) = read_csv(&dir.join(file));
    let json = doc[key]
        .as_array()
        .unwrap_or_else(|| panic!("`{key}` is an array"));
    assert_eq!(json.len(), rows.len(), "{key}: one object per {file} row");
    for (row, object) in rows.iter().zip(json) {
        let object = object.as_object().expect("rows are objects");
        let keys: Vec<&String> = object.keys().collect();
        let mut columns: Vec<&String> = header.iter().collect();
        columns.sort();
        let mut keys_sorted = keys.clone();
        keys_sorted.sort();
        assert_eq!(keys_sorted, columns, "{key}: the columns of {file}");
        for column in &header {
            same(file, column, &row[column], &object[column]);
        }
    }
}

/// Checks `dir/summary.json`: schema-valid, and equal to summary.csv,
/// latency.csv, thresholds.csv, faults.csv and errors.csv. Returns it.
pub fn check(dir: &Path) -> Value {
    let text = std::fs::read_to_string(dir.join("summary.json"))
        .unwrap_or_else(|err| panic!("{}/summary.json: {err}", dir.display()));
    let doc: Value = serde_json::from_str(&text).expect("summary.json is JSON");
    if let Err(errors) = validate(&doc) {
        panic!(
            "{}/summary.json does not match the schema:\n{errors}",
            dir.display()
        );
    }
    let csv: BTreeMap<String, String> = summary(dir);
    let object = doc["summary"].as_object().expect("summary object");
    for (key, cell) in &csv {
        let value = object
            .get(key)
            .unwrap_or_else(|| panic!("summary.csv key `{key}` is in summary.json"));
        same("summary.csv", key, cell, value);
    }
    let complete = csv.get("complete").is_none_or(|v| v != "false");
    assert_eq!(doc["complete"], Value::Bool(complete), "complete");
    assert_eq!(
        object["complete"],
        Value::Bool(complete),
        "summary.complete"
    );
    if !csv.contains_key("shard") {
        assert_eq!(object["shard"], Value::Null, "no shard");
    }
    rows_equal(dir, &doc, "latency.csv", "latency");
    rows_equal(dir, &doc, "thresholds.csv", "thresholds");
    rows_equal(dir, &doc, "faults.csv", "faults");
    rows_equal(dir, &doc, "errors.csv", "errors");
    doc
}
