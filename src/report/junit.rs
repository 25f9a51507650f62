//! `junit.xml`: one test case per threshold, one suite per scenario, in the
//! common JUnit XML shape CI systems read (Jenkins, GitLab, GitHub actions
//! that publish test results).

use std::fmt::Write as _;

use crate::report::csv::iso8601;
use crate::report::summary::RunSummary;
use crate::scenario::thresholds::ThresholdResult;

/// Escapes text for XML attributes and content.
pub fn xml_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // XML 1.0 forbids most control characters, even escaped.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// Renders the JUnit XML document.
pub fn render(s: &RunSummary, results: &[ThresholdResult]) -> String {
    let failures = results.iter().filter(|r| !r.passed).count();
    let name = xml_escape(&s.name);
    let mut out = String::new();
    let _ = writeln!(out, r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = writeln!(
        out,
        r#"<testsuites name="streamsoak" tests="{}" failures="{failures}" errors="0" time="{:.3}">"#,
        results.len(),
        s.duration.as_secs_f64()
    );
    let _ = writeln!(
        out,
        r#"  <testsuite name="{name}" tests="{}" failures="{failures}" errors="0" skipped="0" time="{:.3}" timestamp="{}">"#,
        results.len(),
        s.duration.as_secs_f64(),
        iso8601(s.started_at).trim_end_matches('Z')
    );
    let _ = writeln!(out, "    <properties>");
    for (key, value) in [
        ("target", s.target.clone()),
        ("streams_started", s.counters.streams_started.to_string()),
        ("streams_ok", s.counters.streams_ok.to_string()),
        ("streams_failed", s.counters.streams_failed.to_string()),
        ("events", s.counters.events.to_string()),
        ("complete", s.complete.to_string()),
        ("output_tokens", s.counters.output_tokens.to_string()),
        (
            "goodput",
            s.counters
                .goodput()
                .map_or_else(String::new, |r| format!("{r:.6}")),
        ),
    ] {
        let _ = writeln!(
            out,
            r#"      <property name="{key}" value="{}"/>"#,
            xml_escape(&value)
        );
    }
    let _ = writeln!(out, "    </properties>");
    for r in results {
        let case = xml_escape(&format!("{} {}", r.threshold, r.condition));
        if r.passed {
            let _ = writeln!(
                out,
                r#"    <testcase name="{case}" classname="streamsoak.{name}" time="0"/>"#
            );
        } else {
            let observed = r.observed_text();
            let message = xml_escape(&format!(
                "threshold {} {} failed: observed {observed}",
                r.threshold, r.condition
            ));
            let _ = writeln!(
                out,
                r#"    <testcase name="{case}" classname="streamsoak.{name}" time="0">"#
            );
            let _ = writeln!(
                out,
                r#"      <failure message="{message}" type="threshold">{message}</failure>"#
            );
            let _ = writeln!(out, "    </testcase>");
        }
    }
    let _ = writeln!(out, "  </testsuite>");
    let _ = writeln!(out, "</testsuites>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(
            xml_escape(r#"a<b & "c">'"#),
            "a&lt;b &amp; &quot;c&quot;&gt;&apos;"
        );
        assert_eq!(xml_escape("x\u{1}y"), "x\u{FFFD}y");
    }
}
