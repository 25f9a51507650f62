//! The page's HTML tables: thresholds, run facts, errors and faults.
//!
//! Every cell goes through [`escape`]: names, targets and error examples come
//! from the scenario and the target's responses, and must never become markup.

use std::fmt::Write as _;

use super::scale::fmt_precise;

use super::{escape, HtmlError, HtmlFault, HtmlThreshold};

/// Longest error example shown, in characters (the CSV has the full text).
const EXAMPLE_CHARS: usize = 300;

/// Thresholds: one row per threshold, failed rows marked.
pub(super) fn thresholds(rows: &[HtmlThreshold]) -> String {
    if rows.is_empty() {
        return r#"<p class="muted">No thresholds were set.</p>"#.to_owned();
    }
    let mut s = String::from(
        r#"<table class="thresholds"><thead><tr><th>threshold</th><th>condition</th><th>observed</th><th>result</th></tr></thead><tbody>"#,
    );
    for t in rows {
        let observed = escape(&t.observed_text);
        let (class, result) = if t.passed {
            ("pass", r#"<span class="ok">✔ pass</span>"#)
        } else {
            ("fail", r#"<span class="bad">✘ FAIL</span>"#)
        };
        let _ = write!(
            s,
            r#"<tr class="{class}"><td>{}</td><td>{}</td><td class="num">{observed}</td><td>{result}</td></tr>"#,
            escape(&t.key),
            escape(&t.condition),
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// Facts as a grid of `key value` pairs.
pub(super) fn facts(rows: &[(String, String)]) -> String {
    let mut s = String::from(r#"<div class="facts">"#);
    for (k, v) in rows {
        let _ = write!(
            s,
            "<div><span>{}</span><b>{}</b></div>",
            escape(k),
            escape(v)
        );
    }
    s.push_str("</div>");
    s
}

/// Errors by class and kind, most frequent first.
pub(super) fn errors(rows: &[HtmlError]) -> String {
    if rows.is_empty() {
        return r#"<p class="muted">No errors.</p>"#.to_owned();
    }
    let mut sorted: Vec<&HtmlError> = rows.iter().collect();
    sorted.sort_by(|a, b| b.count.cmp(&a.count).then(a.class.cmp(&b.class)));
    let mut s = String::from(
        r#"<table class="errors"><thead><tr><th>class</th><th>kind</th><th>count</th><th>first seen (s)</th><th>example</th></tr></thead><tbody>"#,
    );
    for err in sorted {
        let example: String = err.example.chars().take(EXAMPLE_CHARS).collect();
        let more = if err.example.chars().count() > EXAMPLE_CHARS {
            "…"
        } else {
            ""
        };
        let _ = write!(
            s,
            r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="ex">{}{more}</td></tr>"#,
            escape(&err.class),
            escape(&err.kind),
            err.count,
            fmt_precise(err.first_seen_s),
            escape(&example),
        );
    }
    s.push_str("</tbody></table>");
    s
}

/// Faults: the columns of faults.csv, in the order the rows first name them.
pub(super) fn faults(rows: &[HtmlFault]) -> String {
    if rows.is_empty() {
        return r#"<p class="muted">No faults were injected.</p>"#.to_owned();
    }
    let mut columns: Vec<&str> = Vec::new();
    for f in rows {
        for (k, _) in &f.row {
            if !columns.contains(&k.as_str()) {
                columns.push(k);
            }
        }
    }
    let mut s = String::from(r#"<table class="faults"><thead><tr>"#);
    for c in &columns {
        let _ = write!(s, "<th>{}</th>", escape(c));
    }
    s.push_str("</tr></thead><tbody>");
    for f in rows {
        s.push_str("<tr>");
        for c in &columns {
            let v = f
                .row
                .iter()
                .find(|(k, _)| k == c)
                .map_or("", |(_, v)| v.as_str());
            let class = if v.parse::<f64>().is_ok() {
                r#" class="num""#
            } else {
                ""
            };
            let _ = write!(s, "<td{class}>{}</td>", escape(v));
        }
        s.push_str("</tr>");
    }
    s.push_str("</tbody></table>");
    s
}
