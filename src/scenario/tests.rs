//! Loading pipeline tests: defaults, every validation error's key and line,
//! `--set`, secrets, `bodies_file`, the stage math, and every example file.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;
use crate::client::protocol::VersionPref;
use crate::scenario::thresholds::{LatencyMetric, MetricKey, Stat};

fn env(name: &str) -> Option<String> {
    match name {
        "STAGING_TOKEN" => Some("tok-123-secret".to_owned()),
        "HOST" => Some("api.example.com".to_owned()),
        _ => None,
    }
}

fn opts(sets: &[&str]) -> LoadOptions<'static> {
    LoadOptions {
        sets: sets.iter().map(|s| (*s).to_owned()).collect(),
        target: None,
        env: &env,
        lenient_env: false,
    }
}

fn load_text(text: &str, sets: &[&str]) -> Result<Scenario, ScenarioError> {
    load_str(text, Path::new("test.toml"), &opts(sets))
}

const MS: fn(u64) -> Duration = Duration::from_millis;
const S: fn(u64) -> Duration = Duration::from_secs;

#[test]
fn every_default_matches_the_product_contract() {
    let s = load_text("name = \"x\"\n", &[]).expect("minimal scenario");
    assert_eq!(s.target, Target::Embedded);
    assert_eq!((s.seed, s.proxy), (0, false));
    assert_eq!(
        s.server,
        ServerConfig {
            events: 4,
            interval: MS(250),
            first_event_delay: MS(0),
            payload_bytes: 0,
            fail_rate: 0.0,
            seed: 0,
            workers: 1,
            tls: false,
            dialect: ServerDialect::Seed,
            path: None,
            mode: ServerMode::Stream,
        }
    );
    assert_eq!(
        (s.request.method.as_str(), s.request.path.as_str()),
        ("POST", "/trigger_invocation")
    );
    assert!(s.request.headers.is_empty());
    let BodySource::Inline(body) = &s.request.body else {
        panic!("default body is inline")
    };
    let mut out = Vec::new();
    body.render(3, 9, &mut out);
    assert_eq!(out, br#"{"query":"load 3/9"}"#);
    assert_eq!(
        s.stream,
        StreamSpec {
            format: Format::Json,
            data_field: "Data".into(),
            count_field: "Count".into(),
            error_field: "error".into(),
            done: Some("Stream completed".into()),
            first_event_timeout: S(10),
            idle_timeout: S(10),
            max_duration: S(120),
            max_event_size: 1 << 20,
            expect_events: None,
            resume: true,
            content: None,
            mode: StreamMode::Request,
            sequence: Sequence::None,
            timestamp: None,
        }
    );
    assert_eq!(s.load, LoadSpec::default());
    assert_eq!(s.load.plan.total_duration(), S(10));
    assert_eq!(s.load.interval, S(1));
    assert_eq!(s.retry.max_retries, 3);
    assert_eq!(
        (
            s.retry.backoff.base(),
            s.retry.backoff.factor(),
            s.retry.backoff.max(),
            s.retry.backoff.jitter()
        ),
        (S(1), 2.0, S(30), Jitter::Full)
    );
    assert!(s.retry.honor_retry_after);
    assert!(!s.retry.honor_retry_field);
    let names: Vec<&str> = s.retry.retry_on.iter().map(|k| k.as_str()).collect();
    assert_eq!(names.join(","), "connect-refused,dns,unreachable,connect-timeout,tls,reset,status-408,status-429,status-5xx,first-event-timeout,idle-timeout,cut");
    assert_eq!(s.breaker, BreakerConfig::new(3, S(30), 1).expect("valid"));
    assert_eq!(
        s.http,
        HttpSpec {
            timeout: S(30),
            pool_max_idle_per_host: 10,
            idle_conn_timeout: S(90),
            insecure_tls: false,
            version: crate::client::protocol::VersionPref::Auto,
            share_connections: false,
            tls: Default::default(),
            local_addresses: Vec::new(),
        }
    );
    assert!(s.faults.is_empty() && s.thresholds.is_empty());
}

#[test]
fn format_dependent_and_method_dependent_defaults() {
    let text = load_text("name = \"x\"\n[stream]\nformat = \"text\"\n", &[]).expect("valid");
    assert_eq!(text.stream.done, None);
    let explicit = load_text(
        "name = \"x\"\n[stream]\nformat = \"text\"\ndone = \"[DONE]\"\n",
        &[],
    )
    .expect("valid");
    assert_eq!(explicit.stream.done.as_deref(), Some("[DONE]"));
    let unset = load_text("name = \"x\"\n[stream]\ndone = \"\"\n", &[]).expect("valid");
    assert_eq!(unset.stream.done, None);
    let get = load_text(
        "name = \"x\"\n[request]\nmethod = \"get\"\npath = \"/events?x=1\"\n",
        &[],
    )
    .expect("valid");
    assert_eq!(get.request.method, "GET");
    assert!(matches!(get.request.body, BodySource::None));
}

/// (file text, --set args, key, line, message fragment)
#[test]
fn subscribe_and_broadcast_keys_resolve() {
    let s = load_text(
        "name = \"x\"\n[server]\nmode = \"broadcast\"\nreplay = 100\n[stream]\nmode = \"subscribe\"\nhold = \"30s\"\nsequence = \"id\"\ntimestamp_field = \"ts\"\n[http]\nlocal_addresses = [\"127.0.0.2\"]\n",
        &[],
    )
    .expect("valid");
    assert_eq!(s.stream.mode, StreamMode::Subscribe { hold: S(30) });
    assert_eq!(
        (s.stream.sequence, s.stream.done.as_deref()),
        (Sequence::Id, None)
    );
    assert_eq!(
        s.stream.timestamp,
        Some(Timestamp {
            field: "ts".into(),
            unit: TimeUnit::Ms
        })
    );
    assert_eq!(
        s.server.mode,
        ServerMode::Broadcast(BroadcastConfig {
            rate: 10.0,
            replay: 100,
            path: None
        })
    );
    // The broadcast's subscription is the request's default.
    assert_eq!(
        (s.request.method.as_str(), s.request.path.as_str()),
        ("GET", "/events")
    );
    assert_eq!(
        s.http.local_addresses,
        ["127.0.0.2".parse::<std::net::IpAddr>().expect("ip")]
    );
    // The scenario's own path is served by the broadcast too.
    let s = load_text(
        "name = \"x\"\n[server]\nmode = \"broadcast\"\n[request]\nmethod = \"GET\"\npath = \"/feed\"\n",
        &[],
    )
    .expect("valid");
    assert!(
        matches!(&s.server.mode, ServerMode::Broadcast(b) if b.path.as_deref() == Some("/feed"))
    );
}

#[test]
fn errors_name_key_line_and_fix() {
    const N: &str = "name = \"x\"\n";
    const L: &str = "name = \"x\"\n[load]\nstages = [{ for = \"1s\", to = 1 }]\n";
    let cases: &[(&str, &[&str], &str, usize, &str)] = &[
        ("name = \"x\"\n[load]\nexecutor = \"constant-arrival-rate\"\nrate = 1\nfor = \"1s\"\nthink_time = \"1s\"\n", &[], "load.think_time", 6, "only applies to ramping-sessions"),
        ("target = \"embedded\"\n", &[], "name", 1, "needs a name"),
        ("name = \"a b\"\n", &[], "name", 1, "cannot name a report folder"),
        ("name = \"x\"\nname2 = 1\n", &[], "name2", 2, "did you mean `name`?"),
        ("name = \"x\"\n[server]\nevnts = 4\n", &[], "server.evnts", 3, "did you mean `events`?"),
        ("name = \"x\"\n[server]\nfail_rate = 1.5\n", &[], "server.fail_rate", 3, "between 0 and 1"),
        ("name = \"x\"\n[server]\ninterval = 250\n", &[], "server.interval", 3, "has no unit: write \"250s\""),
        ("name = \"x\"\n[server]\nevents = \"four\"\n", &[], "server.events", 3, "invalid type"),
        ("name = \"x\"\ntarget = \"ftp://h\"\n", &[], "target", 2, "unsupported scheme"),
        ("name = \"x\"\ntarget = \"staging\"\n", &[], "target", 2, "neither \"embedded\" nor a base URL"),
        ("name = \"x\"\ntarget = \"https://h/?q=1\"\n", &[], "target", 2, "query or fragment"),
        ("name = \"x\"\ntarget = \"https://${NOPE}\"\n", &[], "target", 2, "`NOPE` is not set"),
        ("name = \"x\"\n[request]\nmethod = \"PO ST\"\n", &[], "request.method", 3, "not an HTTP method"),
        ("name = \"x\"\n[request]\npath = \"trigger\"\n", &[], "request.path", 3, "must start with '/'"),
        ("name = \"x\"\n[request]\npath = \"/s?key=${STAGING_TOKEN}\"\n", &[], "request.path", 3, "put credentials in headers"),
        ("name = \"x\"\n[request]\nheaders = { Authorization = \"Bearer ${MISSING_TOKEN}\" }\n", &[], "request.headers.Authorization", 3, "environment variable `MISSING_TOKEN` is not set"),
        ("name = \"x\"\n[request]\nheaders = { \"Bad Name\" = \"v\" }\n", &[], "request.headers.\"Bad Name\"", 3, "not a valid header name"),
        ("name = \"x\"\n[request]\nbody = { q = \"{{sesion}}\" }\n", &[], "request.body", 3, "unknown placeholder `{{sesion}}`"),
        ("name = \"x\"\n[request]\nbody = { q = 1 }\nbodies_file = \"b.jsonl\"\n", &[], "request.bodies_file", 4, "use {{line.NAME}}"),
        ("name = \"x\"\n[request]\nbodies_file = \"missing.jsonl\"\n", &[], "request.bodies_file", 3, "cannot read"),
        ("name = \"x\"\n[stream]\nformat = \"jsn\"\n", &[], "stream.format", 3, "did you mean \"json\"?"),
        ("name = \"x\"\n[stream]\nformat = \"openai-chta\"\n", &[], "stream.format", 3, "did you mean \"openai-chat\"?"),
        ("name = \"x\"\n[stream]\nformat = \"openai-chat\"\ndone = \"[DONE]\"\n", &[], "stream.done", 4, "not used with format = \"openai-chat\""),
        ("name = \"x\"\n[stream]\nformat = \"anthropic\"\nerror_field = \"err\"\n", &[], "stream.error_field", 4, "not used with format"),
        ("name = \"x\"\n[stream]\nformat = \"text\"\ncontent_field = \"/t\"\n", &[], "stream.content_field", 4, "needs JSON events"),
        ("name = \"x\"\n[stream]\ncontent_field = \"choices.0.text\"\n", &[], "stream.content_field", 3, "not a JSON pointer"),
        ("name = \"x\"\n[slo]\nttft = \"1s\"\n", &[], "slo", 2, "needs an LLM token stream"),
        ("name = \"x\"\n[stream]\nformat = \"openai-chat\"\n[slo]\ntpot = \"0ms\"\n", &[], "slo.tpot", 5, "longer than 0s"),
        ("name = \"x\"\n[stream]\nformat = \"openai-chat\"\n[slo]\nttfb = \"1s\"\n", &[], "slo.ttfb", 5, "did you mean `ttft`?"),
        ("name = \"x\"\n[thresholds]\n\"ttft.p99\" = \"< 1s\"\n", &[], "thresholds.\"ttft.p99\"", 3, "needs an LLM token stream"),
        ("name = \"x\"\n[thresholds]\noutput_tokens = \"> 0\"\n", &[], "thresholds.output_tokens", 3, "could never have data"),
        ("name = \"x\"\n[thresholds]\ngoodput = \">= 1.5\"\n", &[], "thresholds.goodput", 3, "goodput is a share between 0 and 1"),
        ("name = \"x\"\n[server]\ndialect = \"opnai\"\n", &[], "server.dialect", 3, "did you mean \"openai\"?"),
        ("name = \"x\"\n[server]\ndialect = \"openai\"\n", &[], "server.dialect", 3, "cannot read it"),
        ("name = \"x\"\n[request]\nbody = { q = \"{{line.prompt}}\" }\n", &[], "request.body", 3, "set request.bodies_file too"),
        ("name = \"x\"\n[stream]\nidle_timeout = \"0s\"\n", &[], "stream.idle_timeout", 3, "longer than 0s"),
        ("name = \"x\"\n[stream]\nmax_event_size = 0\n", &[], "stream.max_event_size", 3, "larger than 0"),
        ("name = \"x\"\n[stream]\nexpect_events = 0\n", &[], "stream.expect_events", 3, "at least 1"),
        ("name = \"x\"\n[stream]\ndata_field = \"\"\n", &[], "stream.data_field", 3, "must not be empty"),
        ("name = \"x\"\n[stream]\nresume = \"yes\"\n", &[], "stream.resume", 3, "invalid type"),
        ("name = \"x\"\n[stream]\nresum = true\n", &[], "stream.resum", 3, "resume"),
        ("name = \"x\"\n[retry]\nhonor_retry_field = 1\n", &[], "retry.honor_retry_field", 3, "invalid type"),
        ("name = \"x\"\n[retry]\nhonour_retry_field = true\n", &[], "retry.honour_retry_field", 3, "honor_retry_field"),
        ("name = \"x\"\n[stream]\nmode = \"subscrbe\"\n", &[], "stream.mode", 3, "did you mean \"subscribe\"?"),
        ("name = \"x\"\n[stream]\nhold = \"1m\"\n", &[], "stream.hold", 3, "only applies to mode = \"subscribe\""),
        ("name = \"x\"\n[stream]\nmode = \"subscribe\"\nhold = \"0s\"\n", &[], "stream.hold", 4, "longer than 0s"),
        ("name = \"x\"\n[stream]\nmode = \"subscribe\"\nmax_duration = \"1m\"\n", &[], "stream.max_duration", 4, "does not apply in mode = \"subscribe\""),
        ("name = \"x\"\n[stream]\nmode = \"subscribe\"\ndone = \"bye\"\n", &[], "stream.done", 4, "does not apply"),
        ("name = \"x\"\n[stream]\nsequence = \"ids\"\n", &[], "stream.sequence", 3, "did you mean \"id\"?"),
        ("name = \"x\"\n[stream]\ntimestamp_unit = \"ms\"\n", &[], "stream.timestamp_unit", 3, "needs timestamp_field"),
        ("name = \"x\"\n[stream]\ntimestamp_field = \"ts\"\ntimestamp_unit = \"sec\"\n", &[], "stream.timestamp_unit", 4, "timestamp_unit"),
        ("name = \"x\"\n[stream]\nformat = \"text\"\ntimestamp_field = \"ts\"\n", &[], "stream.timestamp_field", 4, "needs format = \"json\""),
        ("name = \"x\"\n[thresholds]\nlost_events = \"== 0\"\n", &[], "thresholds.lost_events", 3, "needs [stream] sequence = \"id\""),
        ("name = \"x\"\n[thresholds]\n\"delivery.p99\" = \"< 50ms\"\n", &[], "thresholds.\"delivery.p99\"", 3, "needs [stream] timestamp_field"),
        ("name = \"x\"\n[thresholds]\n\"reconnect.max\" = \"< 5s\"\n", &[], "thresholds.\"reconnect.max\"", 3, "needs [stream] mode = \"subscribe\""),
        ("name = \"x\"\n[server]\nrate = 5\n", &[], "server.rate", 3, "only applies to mode = \"broadcast\""),
        ("name = \"x\"\n[server]\nmode = \"broadcast\"\nrate = 0\n", &[], "server.rate", 4, "not a rate"),
        ("name = \"x\"\n[server]\nmode = \"brodcast\"\n", &[], "server.mode", 3, "did you mean \"broadcast\"?"),
        ("name = \"x\"\n[http]\nlocal_addresses = [\"127.0.0.2\", \"localhost\"]\n", &[], "http.local_addresses.1", 3, "not an IP address"),
        ("name = \"x\"\n[http]\nlocal_addresses = [\"127.0.0.2\", \"127.0.0.2\"]\n", &[], "http.local_addresses.1", 3, "listed twice"),
        ("name = \"x\"\n[load]\nexecutor = \"ramping-session\"\n", &[], "load.executor", 3, "did you mean \"ramping-sessions\"?"),
        ("name = \"x\"\n[load]\nstages = []\n", &[], "load.stages", 3, "at least one stage"),
        ("name = \"x\"\n[load]\nstages = [{ for = \"2s\", to = 0 }, { for = \"2s\", to = 0 }]\n", &[], "load.stages", 3, "every stage's `to` is 0: the run would start no session"),
        ("name = \"x\"\n[load]\nexecutor = \"ramping-arrival-rate\"\nstages = [{ for = \"2s\", to = 0 }]\n", &[], "load.stages", 4, "would start no stream"),
        ("name = \"x\"\n[load]\nexecutor = \"constant-arrival-rate\"\nstages = [{ for = \"2s\", to = 0 }, { for = \"2s\", to = 0.0 }]\n", &[], "load.stages", 4, "would start no stream"),
        ("name = \"x\"\n[load]\nexecutor = \"constant-arrival-rate\"\nrate = 0\nfor = \"1m\"\n", &[], "load.rate", 4, "is 0: the run would start no stream"),
        ("name = \"x\"\n[load]\nstages = [{ for = \"0s\", to = 5 }]\n", &[], "load.stages", 3, "add up to 0s"),
        ("name = \"x\"\n[load]\nstages = [\n  { for = \"1s\", to = 1 },\n  { for = \"1s\", to = 2.5 },\n]\n", &[], "load.stages.1.to", 5, "not a whole number"),
        ("name = \"x\"\n[load]\nstages = [{ for = \"1s\", to = -1 }]\n", &[], "load.stages.0.to", 3, "0 or more"),
        ("name = \"x\"\n[load]\nstages = [{ for = \"1s\" }]\n", &[], "load.stages.0", 3, "missing field `to`"),
        ("name = \"x\"\n[load]\nstages = [{ for = \"-1s\", to = 1 }]\n", &[], "load.stages.0.for", 3, "negative"),
        ("name = \"x\"\n[load]\nrate = 5\nfor = \"1m\"\n", &[], "load.rate", 3, "constant-arrival-rate"),
        ("name = \"x\"\n[load]\nexecutor = \"constant-arrival-rate\"\nrate = 5\n", &[], "load.rate", 4, "go together"),
        ("name = \"x\"\n[load]\nexecutor = \"constant-arrival-rate\"\nrate = -2\nfor = \"1m\"\n", &[], "load.rate", 4, "0 or more"),
        ("name = \"x\"\n[load]\nexecutor = \"constant-arrival-rate\"\nstages = [{ for = \"1s\", to = 5 }, { for = \"1s\", to = nan }]\n", &[], "load.stages.1.to", 4, "0 or more"),
        ("name = \"x\"\n[load]\nexecutor = \"ramping-arrival-rate\"\n", &[], "load.executor", 3, "needs `stages`"),
        ("name = \"x\"\n[load]\nmax_sessions = 10\n", &[], "load.max_sessions", 3, "only applies to arrival-rate"),
        ("name = \"x\"\n[load]\ninterval = \"0ms\"\n", &[], "load.interval", 3, "longer than 0s"),
        ("name = \"x\"\n[retry]\nbackoff = { jitter = \"ful\" }\n", &[], "retry.backoff.jitter", 3, "did you mean \"full\"?"),
        ("name = \"x\"\n[retry]\nbackoff = { base = \"5s\", max = \"1s\" }\n", &[], "retry.backoff.max", 3, "at least base (5s)"),
        ("name = \"x\"\n[retry]\nbackoff = { factor = 0.5 }\n", &[], "retry.backoff.factor", 3, "1.0 or more"),
        ("name = \"x\"\n[retry]\nretry_on = [\"cut\", \"status-5xxx\"]\n", &[], "retry.retry_on.1", 3, "did you mean \"status-5xx\"?"),
        ("name = \"x\"\n[breaker]\nfailure_threshold = 0\n", &[], "breaker.failure_threshold", 3, "at least 1"),
        ("name = \"x\"\n[breaker]\nhalf_open_probes = 0\n", &[], "breaker.half_open_probes", 3, "at least 1"),
        ("name = \"x\"\n[breaker]\nopen_for = \"400d\"\n", &[], "breaker.open_for", 3, "at most one year"),
        ("name = \"x\"\n[http]\ntimeout = \"0s\"\n", &[], "http.timeout", 3, "longer than 0s"),
        ("name = \"x\"\n\n[[faults]]\nat = \"5s\"\nfor = \"10s\"\nkind = \"shutdown\"\n", &[], "faults.0.for", 5, "ends at 15s, after the plan's total duration of 10s"),
        ("name = \"x\"\n[[faults]]\nat = \"1m\"\nfor = \"1s\"\nkind = \"shutdown\"\n", &[], "faults.0.at", 3, "starts at 1m, after the plan's total duration of 10s"),
        ("name = \"x\"\n[[faults]]\nat = \"10s\"\nfor = \"1s\"\nkind = \"shutdown\"\n", &[], "faults.0.at", 3, "starts at 10s, when the plan ends"),
        ("name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"explode\"\n", &[], "faults.0.kind", 5, "unknown fault kind"),
        ("name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"latency\"\n", &[], "faults.0.kind", 5, "needs latency"),
        ("name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"refuse\"\nstatus = 503\n", &[], "faults.0.status", 6, "only applies to kind = \"status\""),
        ("name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"status\"\nstatus = 200\n", &[], "faults.0.status", 6, "not an error status"),
        ("name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"exec\"\n", &[], "faults.0.start", 2, "needs start"),
        ("name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"0s\"\nkind = \"stall\"\n", &[], "faults.0.for", 4, "longer than 0s"),
        ("name = \"x\"\ntarget = \"https://h\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"status\"\n", &[], "faults.0.kind", 6, "cannot happen inside an https connection"),
        ("name = \"x\"\n[server]\ntls = true\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"status\"\n", &[], "faults.0.kind", 7, "passes TLS through"),
        ("name = \"x\"\n[http]\nversion = \"2.0\"\n", &[], "http.version", 3, "\"2\""),
        ("name = \"x\"\n[http]\nversion = 3\n", &[], "http.version", 3, "\"1.1\""),
        ("name = \"x\"\n[http]\nca_file = \"/nonexistent/ca.pem\"\n", &[], "http.ca_file", 3, "cannot read"),
        ("name = \"x\"\n[http]\nclient_cert = \"c.pem\"\n", &[], "http.client_cert", 3, "needs client_key"),
        ("name = \"x\"\n[http]\nclient_key = \"k.pem\"\n", &[], "http.client_key", 3, "needs client_cert"),
        ("name = \"x\"\n[thresholds]\n\"ttfe.p98\" = \"< 1s\"\n", &[], "thresholds.\"ttfe.p98\"", 3, "did you mean `ttfe.p90`?"),
        ("name = \"x\"\n[thresholds]\nsuccess_rate = 0.99\n", &[], "thresholds.success_rate", 3, "a condition string such as"),
        ("name = \"x\"\n[thresholds]\nttfe.p99 = \"< 1s\"\n", &[], "thresholds.ttfe", 3, "must be quoted"),
        ("name = \"x\"\n[thresholds]\n\"recover.max\" = \"< 45s\"\n", &[], "thresholds.\"recover.max\"", 3, "no [[faults]]"),
        ("name = \"x\"\n[server\n", &[], "", 2, "in `[server`"),
        ("name = \"x\"\n[server]\nevents = four\n", &[], "server.events", 3, "in `events = four`"),
        ("name = \"x\"\n[server]\nevents =\ninterval = \"1s\"\n", &[], "server.events", 3, "in `events =`"),
        ("name = \"x\"\n[server]\ninterval = \"250ms\nevents = 4\n", &[], "server.interval", 3, "in `interval = \"250ms`"),
        ("name = \"x\"\nseed = nine # comment\n", &[], "seed", 2, "in `seed = nine # comment`"),
        ("name = \"x\"\n[server]\nevents\n", &[], "server", 3, "in `events`"),
        ("name = \"x\"\n[server]\n[server]\n", &[], "server", 3, "in `[server]`: duplicate key"),
        ("name = \"x\"\n[ thresholds ] # t\n\"ttfe.p99\" = < 1s\n", &[], "thresholds.\"ttfe.p99\"", 3, "in `\"ttfe.p99\" = < 1s`"),
        ("name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"stall\"\n[[faults]]\nat = 2s\n", &[], "faults.1.at", 7, "in `at = 2s`"),
        ("name = \"x\"\n[load]\nstages = [\n  { for = \"1s\", to = },\n]\n", &[], "load", 4, "in `{ for = \"1s\", to = },`"),
        ("name = \"x\"\n[request]\nbody = { q = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa }\n", &[], "request.body", 3, "in `body = { q = \"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…`"),
        (L, &["load.stages.0.to=0"], "load.stages.0.to", 0, "every stage's `to` is 0: the run would start no session (at least one stage needs to > 0) (from --set load.stages.0.to=0)"),
        (N, &["load.stages=[{ for = \"1s\", to = 0 }]"], "load.stages", 0, "every stage's `to` is 0"),
        (L, &["load.stages.0.to=2.5"], "load.stages.0.to", 0, "(from --set load.stages.0.to=2.5)"),
        (N, &["load.stages.0.to=2"], "load.stages.0.to", 0, "`load.stages` is not set"),
        (N, &["server.evnts=3"], "server.evnts", 0, "did you mean `events`? (from --set server.evnts=3)"),
        (N, &["laod.think_time=1s"], "laod", 0, "did you mean `load`? (from --set laod.think_time=1s)"),
        (L, &["load.stagse.0.for=1s"], "load.stagse", 0, "did you mean `stages`? (from --set load.stagse.0.for=1s)"),
        (L, &["load.stages.0.fr=1s"], "load.stages.0.fr", 0, "did you mean `for`? (from --set load.stages.0.fr=1s)"),
        ("name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"stall\"\n", &["faults.1.at=1s"], "faults.1", 0, "missing field `for` (from --set faults.1.at=1s)"),
        (N, &["retry.backoff.base=1m"], "retry.backoff.max", 0, "at least base (1m) (from --set retry.backoff.base=1m)"),
        (L, &["load.stages.9.to=1"], "load.stages.9.to", 0, "past the end"),
        (N, &["nonsense"], "nonsense", 0, "needs the form key.path=value"),
    ];
    for &(text, sets, key, line, fragment) in cases {
        let err = load_text(text, sets).expect_err(text);
        assert_eq!(
            (err.key.as_str(), err.line),
            (key, line),
            "{text} {sets:?}: {err}"
        );
        assert!(err.message.contains(fragment), "{text}: {}", err.message);
        assert_eq!(err.file, Path::new("test.toml"));
        if line > 0 {
            assert!(
                err.to_string().starts_with(&format!("test.toml:{line}:")),
                "{err}"
            );
        }
    }
}

#[test]
fn overrides_and_target_apply_before_validation() {
    let text = "name = \"x\"\n[load]\nstages = [\n  { for = \"1s\", to = 1 },\n  { for = \"1s\", to = 2 },\n]\n";
    let s = load_text(
        text,
        &[
            "load.stages.1.to=200",
            "seed=9",
            "stream.format=text",
            "thresholds.\"ttfe.p99\"=< 2s",
        ],
    )
    .expect("valid");
    assert_eq!(s.load.plan.stages()[1].target, 200.0);
    assert_eq!(
        (s.seed, s.stream.format, s.stream.done.clone()),
        (9, Format::Text, None)
    );
    assert_eq!(
        s.thresholds[0].metric,
        MetricKey::Latency {
            metric: LatencyMetric::Ttfe,
            stat: Stat::P99
        }
    );
    assert_eq!(s.thresholds[0].line, 0);
    let o = LoadOptions {
        target: Some("https://user:pw@${HOST}/".into()),
        ..opts(&[])
    };
    let s = load_str(text, Path::new("t.toml"), &o).expect("valid");
    assert_eq!(
        s.target,
        Target::Url("https://user:pw@api.example.com".into())
    );
    assert_eq!(s.target.display_redacted(), "https://api.example.com");
    let o = LoadOptions {
        target: Some("nope".into()),
        ..opts(&[])
    };
    let err = load_str(text, Path::new("t.toml"), &o).expect_err("bad target");
    assert!(err.message.ends_with("(from --target nope)"), "{err}");
}

#[test]
fn plan_digest_names_the_resolved_plan_not_the_file_path() {
    let text = "name = \"x\"\n[load]\nstages = [{ for = \"1s\", to = 2 }]\n";
    let digest = |text: &str, path: &str, sets: &[&str]| {
        load_str(text, Path::new(path), &opts(sets))
            .expect("valid")
            .plan_digest()
    };
    let d = digest(text, "a.toml", &[]);
    assert_eq!(d.len(), 16, "{d}");
    assert!(d.bytes().all(|c| c.is_ascii_hexdigit()), "{d}");
    // The same plan read from another path (another machine) is the same plan.
    assert_eq!(digest(text, "/scenario/scenario.toml", &[]), d);
    assert_eq!(
        digest(&format!("# a comment\n{text}"), "a.toml", &[]),
        d,
        "comments are not the plan"
    );
    // Another stage, seed, name or threshold is another plan.
    for (other, sets) in [
        (text, &["load.stages.0.to=3"][..]),
        (text, &["seed=7"][..]),
        (text, &["thresholds.success_rate=>= 0.9"][..]),
        (&text.replace("\"x\"", "\"y\""), &[][..]),
    ] {
        assert_ne!(digest(other, "a.toml", sets), d, "{sets:?}");
    }
}

#[test]
fn describe_says_which_faults_and_thresholds_came_from_set() {
    let text = "name = \"x\"\n[load]\nstages = [{ for = \"10s\", to = 1 }]\n\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"stall\"\n\n[thresholds]\n\"ttfe.p99\" = \"< 1s\"\n";
    let s = load_text(
        text,
        &[
            "faults.1={ at = \"2s\", for = \"1s\", kind = \"reset\" }",
            "thresholds.\"ttfe.p50\"=< 2s",
        ],
    )
    .expect("valid");
    let plan = s.describe();
    for want in [
        "1. stall: 1s → 2s (line 5)",
        "2. reset: 2s → 3s (from --set)",
        "ttfe.p99 < 1s (line 11)",
        "ttfe.p50 < 2s (from --set)",
    ] {
        assert!(plan.contains(want), "no `{want}` in:\n{plan}");
    }
    assert!(!plan.contains("line 0"), "{plan}");
}

#[test]
fn fault_kinds_are_spelt_once() {
    let names = FaultKind::EACH.each_ref().map(FaultKind::name);
    for (i, name) in names.iter().enumerate() {
        assert!(!names[..i].contains(name), "{name} twice");
        let text = format!("name = \"x\"\n[load]\nstages = [{{ for = \"10s\", to = 1 }}]\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"{name}\"\nlatency = \"1ms\"\n");
        match load_text(&text, &[]) {
            Ok(s) => assert_eq!(s.faults.windows()[0].kind.name(), *name),
            // Only kind = "latency" takes `latency`; the others say whose it is.
            Err(err) => assert!(
                err.message.contains("only applies to kind = \"latency\"")
                    || err.message.contains("needs start"),
                "{name}: {err}"
            ),
        }
    }
    let err = load_text(
        "name = \"x\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"stal\"\n",
        &[],
    )
    .expect_err("misspelt kind");
    assert!(
        err.message
            .contains("did you mean \"stall\"? (one of \"shutdown\", \"refuse\", \"reset\", \"stall\", \"latency\", \"status\", \"exec\")"),
        "{err}"
    );
}

#[test]
fn secrets_never_reach_debug_or_describe() {
    let text = "name = \"x\"\ntarget = \"https://bob:hunter2@h.example\"\n[request]\nheaders = { Authorization = \"Bearer ${STAGING_TOKEN}\" }\nbody = { key = \"${STAGING_TOKEN}\" }\n";
    let s = load_text(text, &[]).expect("valid");
    assert_eq!(s.request.headers[0].1.expose(), "Bearer tok-123-secret");
    for shown in [
        format!("{s:?}"),
        s.describe(),
        format!("{:?}", s.client_settings()),
    ] {
        assert!(
            !shown.contains("tok-123") && !shown.contains("hunter2"),
            "{shown}"
        );
    }
    assert!(s.describe().contains("Authorization: <redacted>"));
}

#[test]
fn bodies_file_round_robin_and_line_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("s.toml");
    let text = "name = \"x\"\n[request]\nbodies_file = \"q.jsonl\"\n";
    let write = |body: &str| std::fs::write(dir.path().join("q.jsonl"), body).expect("write");
    write("{\"q\": \"a {{session}}\"}\n\n{\"q\": \"${STAGING_TOKEN}\"}\n");
    let s = load_str(text, &scenario, &opts(&[])).expect("valid");
    let BodySource::Lines(lines) = &s.request.body else {
        panic!("lines")
    };
    assert_eq!(lines.len(), 2);
    for (session, iteration, want) in [
        (4, 0, r#"{"q":"a 4"}"#),
        (4, 1, r#"{"q":"tok-123-secret"}"#),
        (5, 0, r#"{"q":"tok-123-secret"}"#),
        (5, 1, r#"{"q":"a 5"}"#),
    ] {
        let mut out = Vec::new();
        s.request.body.render(session, iteration, &mut out);
        assert_eq!(
            String::from_utf8(out).expect("utf8"),
            want,
            "{session}/{iteration}"
        );
    }
    let mut out = Vec::new();
    BodySource::None.render(1, 1, &mut out);
    assert!(out.is_empty() && !BodySource::None.has_body() && s.request.body.has_body());
    for (body, line, fragment) in [
        ("{\"q\": 1}\n{\"q\": \n", 2, "not a JSON body"),
        ("{\"q\": \"${NOPE}\"}\n", 1, "`NOPE` is not set"),
    ] {
        write(body);
        let err = load_str(text, &scenario, &opts(&[])).expect_err(body);
        assert_eq!(
            (err.file.clone(), err.line),
            (dir.path().join("q.jsonl"), line),
            "{err}"
        );
        assert_eq!(err.key, "request.bodies_file");
        assert!(err.message.contains(fragment), "{err}");
    }
    write("\n  \n");
    let err = load_str(text, &scenario, &opts(&[])).expect_err("empty");
    assert!(err.message.contains("no JSON lines"), "{err}");
}

#[test]
fn prompts_fill_a_chat_template_from_jsonl() {
    let dir = tempfile::tempdir().expect("tempdir");
    let scenario = dir.path().join("s.toml");
    let text = r#"name = "x"
[stream]
format = "openai-chat"
[request]
path = "/v1/chat/completions"
bodies_file = "prompts.jsonl"
body = { model = "m", stream = true, max_tokens = "{{line.max_tokens}}", messages = [{ role = "user", content = "{{line.prompt}}" }] }
"#;
    let write = |body: &str| std::fs::write(dir.path().join("prompts.jsonl"), body).expect("write");
    write("{\"prompt\": \"Why?\", \"max_tokens\": 8}\n{\"prompt\": \"Say \\\"hi\\\"\", \"max_tokens\": 3}\n");
    let s = load_str(text, &scenario, &opts(&[])).expect("valid");
    let render = |session, iteration| {
        let mut out = Vec::new();
        s.request.body.render(session, iteration, &mut out);
        serde_json::from_slice::<serde_json::Value>(&out).expect("JSON body")
    };
    // Round-robin from the session's offset: the same order on every run.
    for (session, iteration, prompt, max_tokens) in [
        (0, 0, "Why?", 8),
        (0, 1, "Say \"hi\"", 3),
        (1, 0, "Say \"hi\"", 3),
    ] {
        let body = render(session, iteration);
        assert_eq!(body["messages"][0]["content"], prompt);
        assert_eq!(body["max_tokens"], max_tokens, "a number stays a number");
        assert_eq!(body["stream"], true);
    }
    for (lines, line, fragment) in [
        ("{\"prompt\": \"p\"}\n", 1, "no field `max_tokens`"),
        (
            "{\"prompt\": \"p\", \"max_tokens\": 1}\n[1]\n",
            2,
            "not a JSON object",
        ),
    ] {
        write(lines);
        let err = load_str(text, &scenario, &opts(&[])).expect_err(lines);
        assert_eq!(
            (err.file.clone(), err.line, err.key.as_str()),
            (
                dir.path().join("prompts.jsonl"),
                line,
                "request.bodies_file"
            ),
            "{err}"
        );
        assert!(err.message.contains(fragment), "{err}");
    }
}

#[test]
fn warnings_flag_settings_that_make_every_stream_fail() {
    for (extra, want) in [
        ("", None),
        ("[server]\ninterval = \"10s\"\n", Some("idle-timeout")),
        ("[server]\nfirst_event_delay = \"10s\"\n", Some("first-event-timeout")),
        ("[stream]\nmax_duration = \"1s\"\n", Some("max-duration")),
        ("[load]\nexecutor = \"constant-arrival-rate\"\nrate = 50\nfor = \"10s\"\nmax_sessions = 10\n", Some("arrivals will be dropped")),
        ("target = \"http://h\"\n[server]\ninterval = \"10s\"\n", None),
    ] {
        let s = load_text(&format!("name = \"x\"\n{extra}"), &[]).expect("valid");
        let warnings = s.warnings();
        match want {
            None => assert!(warnings.is_empty(), "{extra}: {warnings:?}"),
            Some(w) => {
                assert!(warnings.len() == 1 && warnings[0].contains(w), "{extra}: {warnings:?}");
                assert!(s.describe().contains(&format!("note: {}", warnings[0])));
            }
        }
    }
}

#[test]
fn retry_on_expands_classes_and_drops_never_retried_kinds() {
    use crate::client::classify::FailureKind as K;
    let text =
        "name = \"x\"\n[retry]\nretry_on = [\"network\", \"status-4xx\", \"cut\", \"cut\"]\n";
    let s = load_text(text, &[]).expect("valid");
    let kinds: Vec<K> = s
        .retry
        .retry_on
        .iter()
        .filter(|k| !k.never_retried())
        .collect();
    assert_eq!(
        kinds,
        [
            K::ConnectRefused,
            K::Dns,
            K::Unreachable,
            K::ConnectTimeout,
            K::Tls,
            K::Reset,
            K::Cut
        ]
    );
    let none = load_text("name = \"x\"\n[retry]\nretry_on = []\n", &[]).expect("valid");
    assert_eq!(none.retry.retry_on, crate::client::retry::RetrySet::EMPTY);
}

#[test]
fn process_env_options() {
    let o = LoadOptions::from_env();
    assert!(o.sets.is_empty() && o.target.is_none());
    assert_eq!((o.env)("STREAMSOAK_SURELY_UNSET_VARIABLE"), None);
    assert_eq!(
        format!("{o:?}"),
        "LoadOptions { sets: [], target: None, lenient_env: false, .. }"
    );
}

#[test]
fn file_level_errors() {
    let missing = Path::new("/nonexistent/s.toml");
    let err = load(missing, &opts(&[])).expect_err("missing file");
    assert_eq!((err.line, err.key.as_str()), (0, ""));
    assert!(
        err.to_string()
            .starts_with("/nonexistent/s.toml: cannot read the scenario file"),
        "{err}"
    );
    assert!(load_client_settings(missing, &opts(&[])).is_err());
}

#[test]
fn client_settings_need_no_name() {
    let text = "[request]\npath = \"/sse\"\n[retry]\nmax_retries = 7\n";
    let c = load_client_settings_str(text, Path::new("c.toml"), &opts(&[])).expect("valid");
    assert_eq!((c.request.path.as_str(), c.retry.max_retries), ("/sse", 7));
    assert!(
        load_client_settings_str("[server]\nbad = 1\n", Path::new("c.toml"), &opts(&[])).is_err()
    );
}

#[test]
fn stage_math_per_executor() {
    let stages = |pairs: &[(u64, f64)]| {
        pairs
            .iter()
            .map(|&(s, t)| Stage {
                duration: S(s),
                target: t,
            })
            .collect()
    };
    for (executor, pairs, at, want_at, peak, integral) in [
        (
            ExecutorKind::RampingSessions,
            vec![(10, 10.0), (10, 10.0), (10, 0.0)],
            5,
            5.0,
            10.0,
            200.0,
        ),
        (
            ExecutorKind::RampingArrivalRate,
            vec![(10, 20.0), (30, 20.0), (10, 0.0)],
            45,
            10.0,
            20.0,
            800.0,
        ),
        (
            ExecutorKind::ConstantArrivalRate,
            vec![(10, 5.0), (10, 15.0)],
            12,
            15.0,
            15.0,
            200.0,
        ),
        (
            ExecutorKind::RampingSessions,
            vec![(0, 4.0), (10, 4.0)],
            0,
            4.0,
            4.0,
            40.0,
        ),
    ] {
        let plan = Plan::new(executor, stages(&pairs)).expect("valid stages");
        assert!(
            (plan.target_at(S(at)) - want_at).abs() < 1e-9,
            "{executor:?} at {at}"
        );
        assert_eq!(plan.peak(), peak);
        assert!(
            (plan.integral() - integral).abs() < 1e-9,
            "{executor:?}: {}",
            plan.integral()
        );
        // From the end on, the plan stays at the last stage's target.
        let last = pairs.last().map_or(f64::NAN, |&(_, t)| t);
        assert_eq!(plan.target_at(plan.total_duration()), last);
    }
}

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

#[test]
fn every_example_scenario_loads_and_describes() {
    let mut seen = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(examples_dir())
        .expect("scenarios/")
        .flatten()
        .map(|err| err.path())
        .collect();
    entries.sort();
    for path in entries
        .into_iter()
        .filter(|p| p.extension().is_some_and(|err| err == "toml"))
    {
        let s = load(&path, &opts(&[])).unwrap_or_else(|err| panic!("{err}"));
        let plan = s.describe();
        assert!(
            plan.contains("total duration") && plan.contains("expected streams"),
            "{plan}"
        );
        assert!(!plan.contains("tok-123"), "{plan}");
        assert_eq!(s.warnings(), Vec::<String>::new(), "{}", s.name);
        seen.push(s.name.clone());
        match s.name.as_str() {
            "smoke" => {
                let load = s.load.plan;
                assert_eq!((load.peak(), load.total_duration()), (20.0, S(20)));
                assert_eq!((s.server.events, s.server.interval), (4, MS(250)));
                assert_eq!(s.thresholds.len(), 5);
                assert!(
                    plan.contains("peak                   20 sessions"),
                    "{plan}"
                );
            }
            "https-proxy-faults" => {
                assert!(matches!(&s.target, Target::Url(u) if u.starts_with("https://")));
                let kinds: Vec<&str> = s
                    .faults
                    .in_file_order()
                    .iter()
                    .map(|f| f.kind.name())
                    .collect();
                assert_eq!(kinds, ["reset", "refuse", "stall", "latency"]);
                assert!(s.faults.any(FaultKind::needs_proxy));
            }
            "breaker-shutdown" => {
                assert_eq!(s.load.plan.total_duration(), S(40));
                assert_eq!((s.breaker.failure_threshold, s.breaker.open_for), (3, S(5)));
                assert_eq!(
                    (s.faults.windows()[0].kind.clone(), s.faults.windows()[0].at),
                    (FaultKind::Shutdown, S(10))
                );
            }
            "ramp-hold" => {
                assert_eq!(s.load.plan.total_duration(), S(60));
                assert_eq!(s.faults.windows()[0].kind, FaultKind::Shutdown);
                assert!(s.faults.windows()[0].line > 0);
            }
            "arrival-rate" => {
                assert_eq!(
                    (s.load.executor(), s.load.max_sessions),
                    (ExecutorKind::RampingArrivalRate, Some(100))
                );
                assert_eq!(s.expected_streams(), Some(800.0));
            }
            "staging-soak" => {
                assert_eq!(s.target, Target::Url("https://staging.example.com".into()));
                assert_eq!(s.request.headers[0].1.expose(), "Bearer tok-123-secret");
                assert!(s.load.plan.total_duration() >= S(4 * 3600));
                assert!(
                    matches!(&s.faults.windows()[0].kind, FaultKind::Exec { start, end } if start.contains("--replicas=0") && end.contains("--replicas=2")),
                    "{:?}",
                    s.faults
                );
                let no_env = LoadOptions {
                    env: &|_: &str| None,
                    ..opts(&[])
                };
                let err = load(&path, &no_env).expect_err("token unset");
                assert!(
                    err.message.contains("`STAGING_TOKEN` is not set") && err.line > 0,
                    "{err}"
                );
            }
            "llm-gateway" => {
                assert_eq!(s.stream.format, Format::OpenAiChat);
                assert_eq!(s.server.dialect, ServerDialect::OpenAi);
                assert_eq!(s.server.path.as_deref(), Some("/v1/chat/completions"));
                assert_eq!((s.slo.ttft, s.slo.tpot), (Some(MS(500)), Some(MS(50))));
                let BodySource::Lines(lines) = &s.request.body else {
                    panic!("prompts from llm-prompts.jsonl")
                };
                assert_eq!(lines.len(), 8);
                let mut out = Vec::new();
                s.request.body.render(0, 0, &mut out);
                let body: serde_json::Value = serde_json::from_slice(&out).expect("JSON");
                assert_eq!(body["max_tokens"], 24);
                assert_eq!(body["stream_options"]["include_usage"], true);
                assert!(
                    plan.contains("[slo]") && plan.contains("dialect                openai"),
                    "{plan}"
                );
            }
            "subscribe-restart" => {
                assert_eq!(s.stream.mode, StreamMode::Subscribe { hold: S(20) });
                assert!(matches!(&s.server.mode, ServerMode::Broadcast(b) if b.replay == 1000));
                assert!(plan.contains("hold                   20s"), "{plan}");
                assert!(plan.contains("mode                   broadcast"), "{plan}");
            }
            other => panic!("add assertions for example {other}"),
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            "arrival-rate",
            "breaker-shutdown",
            "https-proxy-faults",
            "llm-gateway",
            "ramp-hold",
            "smoke",
            "staging-soak",
            "subscribe-restart"
        ]
    );
}

#[test]
fn check_reads_an_unset_var_as_empty_and_names_it_run_refuses() {
    let text = "name = \"x\"\n[request]\nheaders = { Authorization = \"Bearer ${NOPE}\", X-Host = \"${HOST}\" }\nbody = { q = \"${NOPE}-${ALSO_NOPE}\" }\n";
    let strict = load_text(text, &[]).expect_err("run refuses");
    assert!(strict.to_string().contains("NOPE"), "{strict}");
    let opts = LoadOptions {
        lenient_env: true,
        ..opts(&[])
    };
    let s = load_str(text, Path::new("test.toml"), &opts).expect("check accepts");
    assert_eq!(s.unset_vars, ["NOPE", "ALSO_NOPE"]);
    assert_eq!(s.request.headers[0].1.expose(), "Bearer ");
    assert_eq!(s.request.headers[1].1.expose(), "api.example.com");
    let set = load_text("name = \"x\"\n", &[]).expect("valid");
    assert!(set.unset_vars.is_empty());
}

#[test]
fn http_versions_are_strings_or_bare_numbers() {
    for (value, version) in [
        ("\"auto\"", VersionPref::Auto),
        ("\"1.1\"", VersionPref::Http1),
        ("1.1", VersionPref::Http1),
        ("2", VersionPref::Http2),
        ("\"2\"", VersionPref::Http2),
    ] {
        let s = load_text(&format!("name = \"x\"\n[http]\nversion = {value}\n"), &[])
            .unwrap_or_else(|err| panic!("{value}: {err}"));
        assert_eq!(s.http.version, version, "{value}");
    }
}

#[test]
fn tls_files_are_read_at_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    let key = rcgen::KeyPair::generate().expect("key");
    let cert = rcgen::CertificateParams::new(vec!["c.test".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("cert");
    let other = rcgen::KeyPair::generate().expect("key");
    for (name, text) in [
        ("c.pem", cert.pem()),
        ("k.pem", key.serialize_pem()),
        ("other.key", other.serialize_pem()),
    ] {
        std::fs::write(dir.path().join(name), text).expect("write");
    }
    let path = |name: &str| dir.path().join(name).display().to_string();
    let text = format!(
        "name = \"x\"\n[http]\nca_file = \"{}\"\nclient_cert = \"{}\"\nclient_key = \"{}\"\n",
        path("c.pem"),
        path("c.pem"),
        path("k.pem")
    );
    let s = load_text(&text, &[]).expect("valid files");
    assert_eq!(s.http.tls.extra_roots.len(), 1);
    assert!(s.http.tls.identity.is_some());
    let mismatched = text.replace("k.pem", "other.key");
    let err = load_text(&mismatched, &[]).expect_err("key of another certificate");
    assert_eq!(
        (err.key.as_str(), err.line),
        ("http.client_key", 5),
        "{err}"
    );
    let not_pem = text.replace(&path("c.pem"), &path("k.pem"));
    let err = load_text(&not_pem, &[]).expect_err("a key is not a CA");
    assert_eq!((err.key.as_str(), err.line), ("http.ca_file", 3), "{err}");
}

#[test]
fn the_fault_proxy_takes_https_targets_but_not_status_faults() {
    // Issue 17: the proxy passes TLS through; sessions still verify the target.
    for text in [
        "name = \"x\"\ntarget = \"https://staging.example.com\"\nproxy = true\n",
        "name = \"x\"\ntarget = \"https://h.example\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"reset\"\n[[faults]]\nat = \"3s\"\nfor = \"1s\"\nkind = \"shutdown\"\n",
        "name = \"x\"\ntarget = \"http://127.0.0.1:8000\"\nproxy = true\n",
    ] {
        load_text(text, &[]).expect(text);
    }
    let err = load_text(
        "name = \"x\"\ntarget = \"https://h.example\"\n[[faults]]\nat = \"1s\"\nfor = \"1s\"\nkind = \"status\"\nstatus = 503\n",
        &[],
    )
    .expect_err("status cannot be answered inside TLS");
    assert_eq!((err.line, err.key.as_str()), (6, "faults.0.kind"), "{err}");
}

#[test]
fn faults_keep_file_order_and_back_to_back_windows_are_not_overlaps() {
    let text = "name = \"x\"\n[load]\nstages = [ { for = \"60s\", to = 2 } ]\n\
        [[faults]]\nat = \"30s\"\nfor = \"10s\"\nkind = \"reset\"\n\
        [[faults]]\nat = \"10s\"\nfor = \"20s\"\nkind = \"shutdown\"\n";
    let s = load_text(text, &[]).expect("disjoint: [30s,40s) and [10s,30s)");
    let by_time: Vec<(usize, &str)> = s
        .faults
        .windows()
        .iter()
        .map(|w| (w.index, w.kind.name()))
        .collect();
    assert_eq!(by_time, [(1, "shutdown"), (0, "reset")]);
    let by_file: Vec<usize> = s.faults.in_file_order().iter().map(|w| w.index).collect();
    assert_eq!(by_file, [0, 1]);
    assert_eq!(s.faults.windows()[0].line, 8);

    let overlapping = text.replace("at = \"30s\"", "at = \"29s\"");
    let err = load_text(&overlapping, &[]).expect_err("[29s,39s) overlaps [10s,30s)");
    assert_eq!(err.key, "faults.0.at", "{err}");
    assert!(err.to_string().contains("fault 2 (shutdown"), "{err}");
}

#[test]
fn check_does_not_warn_about_a_var_with_a_default() {
    let text = "name = \"x\"\n[request]\nheaders = { X-Model = \"${NOPE_MODEL:-gpt}\", Authorization = \"Bearer ${NOPE_KEY}\" }\nbody = { model = \"${NOPE_MODEL:-gpt}\", k = \"${NOPE_KEY}\" }\n";
    let opts = LoadOptions {
        lenient_env: true,
        ..opts(&[])
    };
    let s = load_str(text, Path::new("test.toml"), &opts).expect("check accepts");
    assert_eq!(
        s.unset_vars,
        ["NOPE_KEY"],
        "a default makes NOPE_MODEL fine"
    );
    assert_eq!(s.request.headers[0].1.expose(), "gpt");
    let mut out = Vec::new();
    s.request.body.render(0, 0, &mut out);
    assert_eq!(out, br#"{"k":"","model":"gpt"}"#);
}
