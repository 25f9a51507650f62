//! LLM token streams (issue #11): ttft / itl / tpot / output tokens /
//! goodput measured against servers with known token cadences — the
//! embedded server's `dialect = "openai"`, the FastAPI test app's OpenAI
//! endpoint, and fakellm, a mock OpenAI + Anthropic server we did not write —
//! and `scenarios/llm-gateway.toml`'s promised outcome.
//!
//! Timing checks are relations and generous bounds: timers never fire
//! early, so a configured delay is a lower bound (less 1 ms of rounding);
//! upper bounds leave hundreds of milliseconds for a busy 2-core machine.

mod common;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use support::{int, num, read_csv, show, summary};

type Row = BTreeMap<String, String>;

/// Writes `toml` as a scenario in a temp dir, runs it, returns the report.
struct Run {
    _dir: tempfile::TempDir,
    out: PathBuf,
    code: Option<i32>,
}

fn run(toml: &str, extra: &[&str]) -> Run {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("llm.toml");
    std::fs::write(&file, toml).expect("write scenario");
    let out = dir.path().join("report");
    let mut args = vec![
        "run",
        file.to_str().expect("utf-8 path"),
        "--quiet",
        "--out",
    ];
    args.push(out.to_str().expect("utf-8 path"));
    args.extend_from_slice(extra);
    let output = support::run(&args);
    assert!(out.join("summary.csv").exists(), "{}", show(&output));
    Run {
        _dir: dir,
        out,
        code: output.status.code(),
    }
}

fn latency(out: &Path) -> BTreeMap<String, Row> {
    read_csv(&out.join("latency.csv"))
        .1
        .into_iter()
        .map(|row| (row["metric"].clone(), row))
        .collect()
}

/// A closed-model LLM scenario of `sessions` for `secs`, against `target`.
fn scenario(target: &str, extra: &str, sessions: u32, secs: u32) -> String {
    format!(
        r#"name = "llm"
target = "{target}"
{extra}
[load]
stages = [{{ for = "{secs}s", to = {sessions} }}]
think_time = "50ms"

[retry]
max_retries = 0
"#
    )
}

/// The embedded server's cadence, read back: first token after
/// `first_event_delay` (the role-only chunk at once is not one), tokens
/// `interval` apart, output tokens = the server's usage, for both OpenAI
/// endpoints.
#[test]
fn embedded_openai_cadence_and_usage() {
    for (format, path) in [
        ("openai-chat", "/v1/chat/completions"),
        ("openai-completions", "/v1/completions"),
    ] {
        let toml = scenario(
            "embedded",
            &format!(
                r#"[server]
dialect = "openai"
first_event_delay = "150ms"
interval = "25ms"
events = 3
[request]
path = "{path}"
body = {{ model = "m", stream = true, max_tokens = 8, stream_options = {{ include_usage = true }}, prompt = "p" }}
[stream]
format = "{format}"
[slo]
ttft = "10s"
tpot = "10s"
[thresholds]
goodput = "== 1"
"ttft.p50" = ">= 149ms"
"#
            ),
            2,
            3,
        );
        let r = run(&toml, &[]);
        assert_eq!(r.code, Some(0), "{format}: thresholds hold");
        let s = summary(&r.out);
        let ok = int(&s, "streams_ok");
        assert!(ok >= 2, "{format}: streams completed: {s:?}");
        assert_eq!(int(&s, "streams_failed"), 0, "{format}");
        // max_tokens (8) wins over [server] events (3); the usage chunk says 8.
        assert_eq!(
            int(&s, "output_tokens"),
            ok * 8,
            "{format}: tokens = server's usage"
        );
        let l = latency(&r.out);
        assert_eq!(
            int(&l["ttft"], "count"),
            ok,
            "{format}: one ttft per stream"
        );
        assert_eq!(
            int(&l["tpot"], "count"),
            ok,
            "{format}: one tpot per stream"
        );
        assert_eq!(
            int(&l["itl"], "count"),
            ok * 7,
            "{format}: every gap between 8 tokens"
        );
        let ttft = num(&l["ttft"], "p50_ms");
        assert!((149.0..650.0).contains(&ttft), "{format}: ttft {ttft}");
        assert!(
            num(&l["ttft"], "min_ms") >= 149.0,
            "{format}: role chunk is no token"
        );
        for metric in ["itl", "tpot"] {
            let p50 = num(&l[metric], "p50_ms");
            assert!((24.0..125.0).contains(&p50), "{format}: {metric} p50 {p50}");
        }
        // ttfe is the role chunk (chat) or the first token (completions).
        assert!(num(&l["ttfe"], "p50_ms") <= ttft, "{format}: ttfe ≤ ttft");
        assert_eq!(s["goodput"].parse::<f64>().ok(), Some(1.0), "{format}");
    }
}

/// An error inside a 200 stream fails the stream as `server-error`, never a
/// success; goodput counts it out; a tight SLO makes good streams scarce.
#[test]
fn error_inside_a_200_stream_is_a_server_error() {
    let toml = scenario(
        "embedded",
        r#"[server]
dialect = "openai"
interval = "5ms"
[request]
path = "/v1/chat/completions"
body = { model = "m", stream = true, max_tokens = 6, error_at = 4 }
[stream]
format = "openai-chat"
[breaker]
failure_threshold = 1000
[thresholds]
success_rate = "> 0"
"#,
        1,
        2,
    );
    let r = run(&toml, &[]);
    assert_eq!(r.code, Some(1), "success_rate > 0 fails: no stream is ok");
    let s = summary(&r.out);
    let failed = int(&s, "streams_failed");
    assert!(failed >= 1 && int(&s, "streams_ok") == 0, "{s:?}");
    assert_eq!(s["goodput"].parse::<f64>().ok(), Some(0.0));
    let errors = read_csv(&r.out.join("errors.csv")).1;
    let server_error = errors
        .iter()
        .find(|e| e["kind"] == "server-error")
        .unwrap_or_else(|| panic!("a server-error row: {errors:?}"));
    assert_eq!(server_error["class"], "stream");
    assert_eq!(int(server_error, "count"), failed);
    assert!(
        server_error["example"].contains("injected error at token 4"),
        "{server_error:?}"
    );
    // Three tokens came before the error: counted as received.
    assert_eq!(int(&s, "output_tokens"), failed * 3);
    assert_eq!(
        int(&latency(&r.out)["tpot"], "count"),
        0,
        "no tpot for a failed stream"
    );
}

/// fakellm (OpenAI chat and Anthropic Messages): role-only and usage chunks
/// are not tokens; itl is its fixed 10 ms per word; Anthropic's tokens are
/// its `message_delta` usage (len(text) // 4), OpenAI's the 20 chunks;
/// fakellm's own request count equals our attempts.
#[test]
fn fakellm_openai_and_anthropic() {
    let Some(server) = common::fakellm::require_fakellm() else {
        return;
    };
    let words = "one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty";
    let mut attempts = 0;
    for (format, path, tokens_per_stream) in [
        ("openai-chat", "/v1/chat/completions", 20),
        ("anthropic", "/v1/messages", (words.len() / 4) as u64),
    ] {
        let toml = scenario(
            &server.base_url,
            &format!(
                r#"[request]
path = "{path}"
headers = {{ "x-api-key" = "k", "anthropic-version" = "2023-06-01" }}
body = {{ model = "m", stream = true, max_tokens = 64, messages = [{{ role = "user", content = "count to twenty" }}] }}
[stream]
format = "{format}"
"#
            ),
            2,
            3,
        );
        let r = run(&toml, &[]);
        assert_eq!(r.code, Some(0), "{format}");
        let s = summary(&r.out);
        let ok = int(&s, "streams_ok");
        assert!(ok >= 2 && int(&s, "streams_failed") == 0, "{format}: {s:?}");
        assert_eq!(int(&s, "output_tokens"), ok * tokens_per_stream, "{format}");
        attempts += int(&s, "attempts");
        let l = latency(&r.out);
        assert_eq!(
            int(&l["itl"], "count"),
            ok * 19,
            "{format}: 20 words, 19 gaps"
        );
        let itl = num(&l["itl"], "p50_ms");
        assert!(
            (9.0..150.0).contains(&itl),
            "{format}: itl p50 {itl} (fakellm sleeps 10 ms)"
        );
        let ttft = num(&l["ttft"], "p50_ms");
        assert!(ttft < itl + 500.0 && ttft > 0.0, "{format}: ttft {ttft}");
        // tpot = (last − first) / (tokens − 1): with usage tokens it is not itl.
        let tpot = num(&l["tpot"], "p50_ms");
        let expected = itl * 19.0 / (tokens_per_stream - 1) as f64;
        assert!(
            (tpot - expected).abs() < expected * 0.5,
            "{format}: tpot {tpot} vs {expected}"
        );
    }
    let stats: serde_json::Value =
        serde_json::from_str(&server.get("/_fakellm/stats").expect("stats")).expect("JSON");
    assert_eq!(stats["total_requests"].as_u64(), Some(attempts), "{stats}");
}

/// The FastAPI test app's OpenAI-style endpoint: its own implementation of
/// the chat stream, with the seed endpoint's timing knobs.
#[test]
fn fastapi_openai_endpoint() {
    let Some(server) = common::fastapi::require_fastapi() else {
        return;
    };
    let toml = scenario(
        &server.base_url,
        r#"[request]
path = "/v1/chat/completions"
body = { model = "m", stream = true, max_tokens = 5, first_delay_ms = 120, interval_ms = 20, stream_options = { include_usage = true }, messages = [{ role = "user", content = "hi" }] }
[stream]
format = "openai-chat"
[slo]
ttft = "60ms"
"#,
        2,
        3,
    );
    let r = run(&toml, &[]);
    assert_eq!(r.code, Some(0));
    let s = summary(&r.out);
    let ok = int(&s, "streams_ok");
    assert!(ok >= 2, "{s:?}");
    assert_eq!(int(&s, "output_tokens"), ok * 5, "the app's usage");
    assert_eq!(
        s["goodput"].parse::<f64>().ok(),
        Some(0.0),
        "a 120 ms first token misses a 60 ms ttft SLO"
    );
    let l = latency(&r.out);
    assert!(num(&l["ttft"], "min_ms") >= 119.0, "{:?}", l["ttft"]);
    let itl = num(&l["itl"], "p50_ms");
    assert!((19.0..150.0).contains(&itl), "itl p50 {itl}");
    let (_, body) = server.request("GET", "/stats", "").expect("stats");
    let stats: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(stats["streams_completed"].as_u64(), Some(ok), "{stats}");
}

/// `scenarios/llm-gateway.toml` does what its comments promise.
#[test]
fn llm_gateway_scenario_outcome() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("report");
    let output = support::run(&[
        "run",
        "scenarios/llm-gateway.toml",
        "--quiet",
        "--out",
        out.to_str().expect("utf-8"),
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", show(&output));
    let s = summary(&out);
    let l = latency(&out);
    let ttft = num(&l["ttft"], "p50_ms");
    assert!((199.0..450.0).contains(&ttft), "ttft p50 {ttft}");
    for metric in ["itl", "tpot"] {
        let p50 = num(&l[metric], "p50_ms");
        assert!((19.0..100.0).contains(&p50), "{metric} p50 {p50}");
    }
    let (ok, failed) = (int(&s, "streams_ok"), int(&s, "streams_failed"));
    // Every prompt asks for 8 to 32 tokens.
    let tokens = int(&s, "output_tokens");
    assert!(
        tokens >= ok * 8 && tokens <= (ok + failed) * 32,
        "{tokens} tokens"
    );
    let success: f64 = s["success_rate"].parse().expect("number");
    let goodput: f64 = s["goodput"].parse().expect("number");
    assert!(
        goodput < success,
        "503-retried streams are ok, not good: {goodput} vs {success}"
    );
    let faults = read_csv(&out.join("faults.csv")).1;
    assert_eq!(faults.len(), 1);
    assert_eq!(int(&faults[0], "opened"), 10, "{:?}", faults[0]);
    assert_eq!(int(&faults[0], "recovered"), 10, "{:?}", faults[0]);
    let errors = read_csv(&out.join("errors.csv")).1;
    for kind in ["cut", "connect-refused", "status-5xx", "short-circuited"] {
        assert!(
            errors.iter().any(|e| e["kind"] == kind),
            "{kind} in {errors:?}"
        );
    }
}
