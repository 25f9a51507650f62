//! Raw → typed: applies every default (the values in PRODUCT.md's example,
//! held in `spec.rs`'s `Default` impls) and every check, and names the key
//! of each problem (ripgrep's "high args").
//!
//! Checks are the ones a user would rather hear from `check` than discover
//! an hour into a soak: zero timeouts, shares outside 0..=1, unknown
//! enumerations (with the nearest valid spelling), unset `${VAR}`s, faults
//! that end after the plan, thresholds that can never have data.

use std::path::Path;
use std::time::Duration;

use super::error::{key_string, unknown_value_message, ScenarioError};
use super::locate::Locator;
use super::prompts;
use super::raw::*;
use super::spec::*;
use super::template::{expand_env, BodyTemplate, Secret, TemplateError};
use super::units::HumanDuration;
use crate::client::backoff::{Backoff, InvalidBackoff};
use crate::client::breaker::{BreakerConfig, InvalidBreaker};
use crate::client::classify::{FailureClass, FailureKind};
use crate::client::dialect::ContentPointer;
use crate::client::protocol::VersionPref;
use crate::client::retry::RetrySet;
use crate::client::tls::{self, TlsFiles};
use crate::client::PreparedRequest;
use crate::client::RequestError;
use crate::load::executor::{InvalidPlan, Plan};
use crate::scenario::thresholds::{CounterName, LatencyMetric, MetricKey, Threshold};

/// What validation needs besides the raw tree.
pub(crate) struct Ctx<'a> {
    pub(crate) loc: &'a Locator<'a>,
    pub(crate) env: &'a dyn Fn(&str) -> Option<String>,
    /// Directory relative paths (`bodies_file`) are resolved against.
    pub(crate) base_dir: &'a Path,
    /// `check`: an unset `${VAR}` is noted in `unset` (and expands to an
    /// empty string) instead of failing the load.
    pub(crate) lenient_env: bool,
    /// The unset `${VAR}` names seen so far, for `check`'s warnings.
    pub(crate) unset: std::cell::RefCell<Vec<String>>,
}

type Res<T> = Result<T, ScenarioError>;

fn path(parts: &[&str]) -> Vec<String> {
    parts.iter().map(|s| (*s).to_owned()).collect()
}

impl Ctx<'_> {
    fn err(&self, at: &[&str], message: impl Into<String>) -> ScenarioError {
        self.loc.error(&path(at), message)
    }

    fn expand(&self, at: &[&str], text: &str) -> Res<String> {
        self.with_env(|env| expand_env(text, env))
            .map_err(|err| self.err(at, err.to_string()))
    }

    /// Runs an expansion with `${VAR}` looked up in the environment. For
    /// `check` ([`Ctx::lenient_env`]) a variable that is unset *and has no
    /// `:-default`* (the expansion fails on it) is remembered for the
    /// warning and read as empty; a default still applies as for `run`.
    fn with_env<T>(
        &self,
        run: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, TemplateError>,
    ) -> Result<T, TemplateError> {
        let mut blank: Vec<String> = Vec::new();
        loop {
            let env = |name: &str| {
                (self.env)(name).or_else(|| blank.iter().any(|b| b == name).then(String::new))
            };
            match run(&env) {
                Err(TemplateError::Unset(name)) if self.lenient_env && !blank.contains(&name) => {
                    let mut unset = self.unset.borrow_mut();
                    if !unset.contains(&name) {
                        unset.push(name.clone());
                    }
                    blank.push(name);
                }
                other => return other,
            }
        }
    }

    fn positive(
        &self,
        at: &[&str],
        value: Option<HumanDuration>,
        default: Duration,
    ) -> Res<Duration> {
        let d = value.map_or(default, HumanDuration::get);
        if d.is_zero() {
            return Err(self.err(at, "must be longer than 0s"));
        }
        Ok(d)
    }
}

/// Builds the typed scenario. `need_name`: `run`/`check` need `name`, `stream --scenario` does not.
pub(crate) fn scenario(raw: RawScenario, ctx: &Ctx<'_>, need_name: bool) -> Res<Scenario> {
    let name = match raw.name {
        Some(name) => validate_name(ctx, name)?,
        None if need_name => {
            return Err(ctx.err(&["name"], "missing: every scenario needs a name (it names the report folder), e.g. name = \"smoke\""));
        }
        None => String::new(),
    };
    let target = target(ctx, raw.target.as_deref())?;
    let load = load(ctx, raw.load.unwrap_or_default())?;
    let https = match &target {
        Target::Url(url) => url.starts_with("https://"),
        Target::Embedded => raw.server.as_ref().and_then(|s| s.tls).unwrap_or(false),
    };
    let faults = faults(
        ctx,
        raw.faults.unwrap_or_default(),
        https,
        load.plan.total_duration(),
    )?;
    let stream = stream(ctx, raw.stream.unwrap_or_default())?;
    let llm = stream.dialect().is_some();
    let slo = slo(ctx, raw.slo, llm)?;
    let thresholds = thresholds(
        ctx,
        raw.thresholds.unwrap_or_default(),
        faults.is_empty(),
        llm,
    )?;
    let seed = raw.seed.unwrap_or(0);
    let proxy = raw.proxy.unwrap_or(false);
    let mut server = server(ctx, raw.server.unwrap_or_default(), seed)?;
    let raw_request = raw.request.unwrap_or_default();
    let own_path = raw_request.path.is_some();
    let broadcast = target == Target::Embedded && matches!(server.mode, ServerMode::Broadcast(_));
    let request = request(ctx, raw_request, &target, broadcast)?;
    if let (ServerMode::Broadcast(b), true) = (&mut server.mode, own_path) {
        b.path = Some(request.path.clone());
    }
    if server.dialect == ServerDialect::OpenAi {
        let readable = stream.format.is_openai()
            || (stream.format == Format::Json && stream.content.is_some());
        if target == Target::Embedded && !readable {
            return Err(ctx.err(
                &["server", "dialect"],
                format!(
                    "the embedded server speaks OpenAI, but [stream] format = \"{}\" cannot read it: set format = \"openai-chat\" (or \"openai-completions\")",
                    stream.format.as_str()
                ),
            ));
        }
        // The scenario's path is served in the dialect too.
        server.path = Some(request.path.clone());
    }
    needs_data(
        ctx,
        &thresholds,
        stream.mode != StreamMode::Request,
        stream.sequence == Sequence::Id,
        stream.timestamp.is_some(),
    )?;
    Ok(Scenario {
        name,
        file: ctx.loc.file.to_path_buf(),
        request,
        target,
        seed,
        proxy,
        server,
        stream,
        load,
        retry: retry(ctx, raw.retry.unwrap_or_default())?,
        breaker: breaker(ctx, raw.breaker.unwrap_or_default())?,
        http: http(ctx, raw.http.unwrap_or_default())?,
        faults,
        slo,
        thresholds,
        unset_vars: ctx.unset.take(),
        resolved: String::new(),
    })
}

fn validate_name(ctx: &Ctx<'_>, name: String) -> Res<String> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        return Err(ctx.err(&["name"], format!("\"{name}\" cannot name a report folder: use letters, digits, '-', '_' and '.' (not first), at most 100")));
    }
    Ok(name)
}

fn target(ctx: &Ctx<'_>, raw: Option<&str>) -> Res<Target> {
    let Some(raw) = raw else {
        return Ok(Target::Embedded);
    };
    let url = ctx.expand(&["target"], raw)?;
    if url == "embedded" {
        return Ok(Target::Embedded);
    }
    // Messages show the value as written: an expanded ${VAR} may hold credentials.
    let bad = |why: &str| ctx.err(&["target"], format!("\"{raw}\" {why}"));
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad(
            "is neither \"embedded\" nor a base URL such as \"https://staging.example.com\"",
        ));
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Err(bad("has an unsupported scheme: use http:// or https://"));
    }
    if rest.contains(['?', '#']) {
        return Err(bad(
            "has a query or fragment: a target is a base URL; put queries in request.path",
        ));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("contains whitespace"));
    }
    let authority = &rest[..rest.find('/').unwrap_or(rest.len())];
    if authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .is_empty()
    {
        return Err(bad("has no host"));
    }
    Ok(Target::Url(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        rest.trim_end_matches('/')
    )))
}

fn server(ctx: &Ctx<'_>, raw: RawServer, seed: u64) -> Res<ServerConfig> {
    let d = ServerConfig::default();
    let fail_rate = raw.fail_rate.unwrap_or(d.fail_rate);
    if !(0.0..=1.0).contains(&fail_rate) {
        return Err(ctx.err(
            &["server", "fail_rate"],
            format!("{fail_rate} is not a share between 0 and 1 (0.05 = 5% of requests)"),
        ));
    }
    let payload = raw
        .payload_bytes
        .map_or(d.payload_bytes as u64, |b| b.get());
    let dialect = match raw.dialect.as_deref() {
        None => d.dialect,
        Some(name) => ServerDialect::ALL
            .into_iter()
            .find(|x| x.as_str() == name)
            .ok_or_else(|| {
                ctx.err(
                    &["server", "dialect"],
                    unknown_value_message(
                        "dialect",
                        name,
                        &ServerDialect::ALL.map(ServerDialect::as_str),
                    ),
                )
            })?,
    };
    let mode = match raw.mode.as_deref() {
        None | Some("stream") => {
            for (key, given) in [
                ("rate", raw.rate.is_some()),
                ("replay", raw.replay.is_some()),
            ] {
                if given {
                    return Err(ctx.err(&["server", key], "only applies to mode = \"broadcast\""));
                }
            }
            ServerMode::Stream
        }
        Some("broadcast") => {
            let b = BroadcastConfig::default();
            let rate = raw.rate.unwrap_or(b.rate);
            if !(rate.is_finite() && rate > 0.0 && rate <= 1_000_000.0) {
                return Err(ctx.err(
                    &["server", "rate"],
                    format!(
                        "{rate} is not a rate of events per second (more than 0, at most 1000000)"
                    ),
                ));
            }
            let replay = raw
                .replay
                .map_or(Ok(b.replay), usize::try_from)
                .ok()
                .filter(|r| *r <= 10_000_000)
                .ok_or_else(|| {
                    ctx.err(
                        &["server", "replay"],
                        "is too large (at most 10000000 events)",
                    )
                })?;
            ServerMode::Broadcast(BroadcastConfig {
                rate,
                replay,
                path: None,
            })
        }
        Some(other) => {
            return Err(ctx.err(
                &["server", "mode"],
                unknown_value_message("mode", other, &["stream", "broadcast"]),
            ))
        }
    };
    Ok(ServerConfig {
        dialect,
        path: None,
        mode,
        seed,
        workers: d.workers,
        events: raw.events.unwrap_or(d.events),
        interval: raw.interval.map_or(d.interval, HumanDuration::get),
        first_event_delay: raw
            .first_event_delay
            .map_or(d.first_event_delay, HumanDuration::get),
        payload_bytes: usize::try_from(payload)
            .map_err(|_| ctx.err(&["server", "payload_bytes"], "is too large"))?,
        fail_rate,
        tls: raw.tls.unwrap_or(d.tls),
    })
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}

fn request(ctx: &Ctx<'_>, raw: RawRequest, target: &Target, broadcast: bool) -> Res<RequestSpec> {
    let mut d = RequestSpec::default();
    if broadcast {
        // The embedded broadcast server's subscription: `GET /events`.
        d.method = "GET".to_owned();
        d.path = "/events".to_owned();
    }
    let method = raw.method.unwrap_or(d.method).to_ascii_uppercase();
    if !is_token(&method) {
        return Err(ctx.err(
            &["request", "method"],
            format!("\"{method}\" is not an HTTP method such as \"POST\" or \"GET\""),
        ));
    }
    let path = raw.path.unwrap_or(d.path);
    if path.contains("${") {
        return Err(ctx.err(
            &["request", "path"],
            "${VAR} is not expanded in the path (paths are printed in plans and logs); put credentials in headers",
        ));
    }
    if !path.starts_with('/')
        || path.contains(|c: char| c.is_whitespace() || c.is_control() || c == '#')
    {
        return Err(ctx.err(
            &["request", "path"],
            "must start with '/' and contain no spaces or '#', e.g. \"/trigger_invocation\"",
        ));
    }
    let mut headers = Vec::new();
    for (name, value) in raw.headers.unwrap_or_default().0 {
        let at = ["request", "headers", name.as_str()];
        if !is_token(&name) {
            return Err(ctx.err(
                &at,
                "is not a valid header name (letters, digits and !#$%&'*+-.^_`|~)",
            ));
        }
        let value = ctx.expand(&at, &value)?;
        if value.contains(['\r', '\n', '\0']) {
            return Err(ctx.err(
                &at,
                "the value contains a line break or NUL, which HTTP forbids",
            ));
        }
        headers.push((name, Secret::new(value)));
    }
    let body = match (raw.body, raw.bodies_file) {
        (Some(value), Some(file)) => {
            let at = ["request", "body"];
            let json = toml_to_json(&value).map_err(|m| ctx.err(&at, m))?;
            if !prompts::has_placeholders(&json) {
                return Err(ctx.err(
                    &["request", "bodies_file"],
                    "with both `body` and `bodies_file`, the body is a template filled from each line: use {{line.NAME}} in it (e.g. content = \"{{line.prompt}}\"), or drop one of the two",
                ));
            }
            BodySource::Lines(bodies_file(ctx, &file, Some(&json))?)
        }
        (Some(value), None) => {
            let at = ["request", "body"];
            let json = toml_to_json(&value).map_err(|m| ctx.err(&at, m))?;
            if prompts::has_placeholders(&json) {
                return Err(ctx.err(
                    &at,
                    "{{line.NAME}} is filled from `bodies_file` lines: set request.bodies_file too",
                ));
            }
            BodySource::Inline(
                ctx.with_env(|env| BodyTemplate::compile(&json, env))
                    .map_err(|err| ctx.err(&at, err.to_string()))?,
            )
        }
        (None, Some(file)) => BodySource::Lines(bodies_file(ctx, &file, None)?),
        (None, None)
            if matches!(
                method.as_str(),
                "GET" | "HEAD" | "DELETE" | "OPTIONS" | "TRACE"
            ) =>
        {
            BodySource::None
        }
        (None, None) => d.body,
    };
    // Exactly what `run` sends: method and headers as awc takes them, and
    // the URL of an external target (the embedded server's is loopback).
    let base = match target {
        Target::Url(url) => url.as_str(),
        Target::Embedded => "http://127.0.0.1",
    };
    let url = format!("{base}{path}");
    let prepared = PreparedRequest::new(
        &method,
        &url,
        headers.iter().map(|(k, v)| (k.as_str(), v.expose())),
    )
    .map_err(|err| match err {
        RequestError::Method(_) => ctx.err(&["request", "method"], err.to_string()),
        RequestError::Url(_) => ctx.err(
            &["request", "path"],
            format!(
                "{} + path is not a URL awc accepts",
                target.display_redacted()
            ),
        ),
        RequestError::Header(name) => ctx.err(
            &["request", "headers", name.as_str()],
            "the value is not valid HTTP (printable characters and tabs only)",
        ),
    })?;
    Ok(RequestSpec {
        method,
        path,
        headers,
        body,
        prepared,
    })
}

fn toml_to_json(value: &toml::Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        toml::Value::String(s) => J::String(s.clone()),
        toml::Value::Integer(i) => J::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .ok_or_else(|| format!("{f} cannot be written in JSON"))?,
        toml::Value::Boolean(b) => J::Bool(*b),
        toml::Value::Datetime(dt) => J::String(dt.to_string()),
        toml::Value::Array(items) => {
            J::Array(items.iter().map(toml_to_json).collect::<Result<_, _>>()?)
        }
        toml::Value::Table(table) => J::Object(
            table
                .iter()
                .map(|(k, v)| Ok((k.clone(), toml_to_json(v)?)))
                .collect::<Result<_, String>>()?,
        ),
    })
}

/// The lines of `bodies_file`: whole bodies, or (with `template`, the
/// scenario's `body`) objects whose fields fill its `{{line.NAME}}`s.
fn bodies_file(
    ctx: &Ctx<'_>,
    file: &str,
    template: Option<&serde_json::Value>,
) -> Res<Vec<BodyTemplate>> {
    let at = ["request", "bodies_file"];
    let path = ctx.base_dir.join(ctx.expand(&at, file)?);
    let text = std::fs::read_to_string(&path)
        .map_err(|err| ctx.err(&at, format!("cannot read {}: {err}", path.display())))?;
    let mut bodies = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_err = |column: usize, message: String| ScenarioError {
            file: path.clone(),
            line: i + 1,
            column,
            key: key_string(&at),
            message,
        };
        let mut value: serde_json::Value = serde_json::from_str(line)
            .map_err(|err| line_err(err.column(), format!("not a JSON body: {err}")))?;
        if let Some(body) = template {
            let fields = value.as_object().ok_or_else(|| {
                line_err(
                    1,
                    "not a JSON object: each line fills {{line.NAME}} in `body` from its fields"
                        .to_owned(),
                )
            })?;
            value = prompts::fill(body, fields).map_err(|message| line_err(1, message))?;
        }
        let template = ctx
            .with_env(|env| BodyTemplate::compile(&value, env))
            .map_err(|err: TemplateError| line_err(1, err.to_string()))?;
        bodies.push(template);
    }
    if bodies.is_empty() {
        return Err(ctx.err(&at, format!("{} has no JSON lines", path.display())));
    }
    Ok(bodies)
}

fn stream(ctx: &Ctx<'_>, raw: RawStream) -> Res<StreamSpec> {
    let format = match raw.format.as_deref() {
        None => Format::Json,
        Some(name) => Format::ALL
            .into_iter()
            .find(|f| f.as_str() == name)
            .ok_or_else(|| {
                ctx.err(
                    &["stream", "format"],
                    unknown_value_message("format", name, &Format::ALL.map(Format::as_str)),
                )
            })?,
    };
    if format.preset().is_some() {
        // A preset fixes how events are read: these keys would be ignored.
        let fixed = [
            ("done", raw.done.is_some()),
            ("data_field", raw.data_field.is_some()),
            ("count_field", raw.count_field.is_some()),
            ("error_field", raw.error_field.is_some()),
        ];
        if let Some((key, _)) = fixed.iter().find(|(_, set)| *set) {
            return Err(ctx.err(
                &["stream", key],
                format!(
                    "not used with format = \"{}\", whose completion marker, content and error are fixed (see README \"LLM streams\"); remove it, or use format = \"json\" with content_field for another dialect",
                    format.as_str()
                ),
            ));
        }
    }
    let content = match raw.content_field.as_deref() {
        None => format.preset().map(ContentPointer::of_preset),
        Some(_) if format == Format::Text => {
            return Err(ctx.err(
                &["stream", "content_field"],
                "needs JSON events: use format = \"json\" (or an LLM preset such as \"openai-chat\") with content_field",
            ));
        }
        Some(text) => Some(
            ContentPointer::parse(text)
                .map_err(|err| ctx.err(&["stream", "content_field"], err.to_string()))?,
        ),
    };
    let mut d = StreamSpec::defaults_for(format);
    let (mode, sequence, timestamp) = subscription_keys(ctx, &raw, format)?;
    if mode != StreamMode::Request {
        // A subscription ends when held long enough, not on a marker.
        d.done = None;
    }
    let field = |key: &str, value: Option<String>, default: String| -> Res<String> {
        match value {
            Some(v) if v.is_empty() => Err(ctx.err(&["stream", key], "must not be empty")),
            Some(v) => Ok(v),
            None => Ok(default),
        }
    };
    let max_event_size = raw
        .max_event_size
        .map_or(d.max_event_size as u64, |b| b.get());
    if max_event_size == 0 {
        return Err(ctx.err(
            &["stream", "max_event_size"],
            "must be larger than 0 (e.g. \"1MiB\")",
        ));
    }
    if raw.expect_events == Some(0) {
        return Err(ctx.err(
            &["stream", "expect_events"],
            "must be at least 1 (leave it unset to accept any count)",
        ));
    }
    Ok(StreamSpec {
        format,
        data_field: field("data_field", raw.data_field, d.data_field)?,
        count_field: field("count_field", raw.count_field, d.count_field)?,
        error_field: field("error_field", raw.error_field, d.error_field)?,
        done: match raw.done {
            Some(done) if done.is_empty() => None,
            Some(done) => Some(done),
            None => d.done,
        },
        first_event_timeout: ctx.positive(
            &["stream", "first_event_timeout"],
            raw.first_event_timeout,
            d.first_event_timeout,
        )?,
        idle_timeout: ctx.positive(
            &["stream", "idle_timeout"],
            raw.idle_timeout,
            d.idle_timeout,
        )?,
        max_duration: ctx.positive(
            &["stream", "max_duration"],
            raw.max_duration,
            d.max_duration,
        )?,
        max_event_size: usize::try_from(max_event_size)
            .map_err(|_| ctx.err(&["stream", "max_event_size"], "is too large"))?,
        expect_events: raw.expect_events,
        resume: raw.resume.unwrap_or(d.resume),
        content,
        mode,
        sequence,
        timestamp,
    })
}

/// `[stream] mode`, `hold`, `sequence`, `timestamp_field`, `timestamp_unit`
/// (issue #16), and the request-mode keys that subscribe mode refuses.
fn subscription_keys(
    ctx: &Ctx<'_>,
    raw: &RawStream,
    format: Format,
) -> Res<(StreamMode, Sequence, Option<Timestamp>)> {
    let mode = match raw.mode.as_deref() {
        None | Some("request") => {
            if raw.hold.is_some() {
                return Err(ctx.err(&["stream", "hold"], "only applies to mode = \"subscribe\""));
            }
            StreamMode::Request
        }
        Some("subscribe") => {
            for (key, given) in [
                ("done", raw.done.is_some()),
                ("expect_events", raw.expect_events.is_some()),
                ("max_duration", raw.max_duration.is_some()),
            ] {
                if given {
                    return Err(ctx.err(
                        &["stream", key],
                        "does not apply in mode = \"subscribe\": a subscription has no end of its own; `hold` sets how long it is held",
                    ));
                }
            }
            StreamMode::Subscribe {
                hold: ctx.positive(&["stream", "hold"], raw.hold, Duration::from_secs(600))?,
            }
        }
        Some(other) => {
            return Err(ctx.err(
                &["stream", "mode"],
                unknown_value_message("mode", other, &["request", "subscribe"]),
            ))
        }
    };
    let sequence = match raw.sequence.as_deref() {
        None | Some("none") => Sequence::None,
        Some("id") => Sequence::Id,
        Some(other) => {
            return Err(ctx.err(
                &["stream", "sequence"],
                unknown_value_message("sequence", other, &["none", "id"]),
            ))
        }
    };
    let unit = match raw.timestamp_unit.as_deref() {
        None => TimeUnit::Ms,
        Some(name) => TimeUnit::ALL
            .into_iter()
            .find(|u| u.as_str() == name)
            .ok_or_else(|| {
                ctx.err(
                    &["stream", "timestamp_unit"],
                    unknown_value_message(
                        "timestamp_unit",
                        name,
                        &TimeUnit::ALL.map(TimeUnit::as_str),
                    ),
                )
            })?,
    };
    let timestamp = match &raw.timestamp_field {
        None if raw.timestamp_unit.is_some() => {
            return Err(ctx.err(
                &["stream", "timestamp_unit"],
                "needs timestamp_field = \"ts\" (the JSON field it is the unit of)",
            ))
        }
        None => None,
        Some(field) if field.is_empty() => {
            return Err(ctx.err(&["stream", "timestamp_field"], "must not be empty"))
        }
        Some(_) if format != Format::Json => {
            return Err(ctx.err(
                &["stream", "timestamp_field"],
                "needs format = \"json\": the field is read from the event's JSON data",
            ))
        }
        Some(field) => Some(Timestamp {
            field: field.clone(),
            unit,
        }),
    };
    Ok((mode, sequence, timestamp))
}

/// The `[load]` table and the plan it makes (checked once, by [`Plan::new`]).
fn load(ctx: &Ctx<'_>, raw: RawLoad) -> Res<LoadSpec> {
    let d = LoadSpec::default();
    let executor = match raw.executor.as_deref() {
        None => d.plan.kind(),
        Some(name) => name.parse::<ExecutorKind>().map_err(|_| {
            ctx.err(
                &["load", "executor"],
                unknown_value_message(
                    "executor",
                    name,
                    &ExecutorKind::ALL.map(ExecutorKind::as_str),
                ),
            )
        })?,
    };
    let rate_form = raw.rate.is_some() || raw.duration.is_some();
    let stages = match (raw.rate, raw.duration, raw.stages) {
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => {
            return Err(ctx.err(
                &["load", "stages"],
                "use either `rate` + `for` or `stages`, not both",
            ));
        }
        (rate @ Some(_), duration, None) | (rate @ None, duration @ Some(_), None) => {
            let key = if rate.is_some() { "rate" } else { "for" };
            if executor != ExecutorKind::ConstantArrivalRate {
                return Err(ctx.err(&["load", key], "`rate` + `for` go with executor = \"constant-arrival-rate\"; other executors use `stages`"));
            }
            let (Some(rate), Some(duration)) = (rate, duration) else {
                return Err(ctx.err(
                    &["load", key],
                    "`rate` and `for` go together, e.g. rate = 50 and for = \"1m\"",
                ));
            };
            vec![Stage {
                duration: duration.get(),
                target: rate,
            }]
        }
        (_, _, Some(raw_stages)) => raw_stages
            .iter()
            .map(|stage| Stage {
                duration: stage.duration.get(),
                target: stage.to,
            })
            .collect(),
        (None, None, None) if executor == ExecutorKind::RampingSessions => d.plan.stages().to_vec(),
        (None, None, None) => {
            return Err(ctx.err(
                &["load", "executor"],
                format!(
                    "{} needs `stages` (streams per second){}",
                    executor.as_str(),
                    if executor == ExecutorKind::ConstantArrivalRate {
                        " or `rate` + `for`"
                    } else {
                        ""
                    }
                ),
            ));
        }
    };
    let plan = Plan::new(executor, stages).map_err(|err| match err {
        InvalidPlan::NoStages => ctx.err(
            &["load", "stages"],
            "needs at least one stage, e.g. [{ for = \"30s\", to = 10 }]",
        ),
        InvalidPlan::BadTarget { .. } if rate_form => ctx.err(
            &["load", "rate"],
            "must be a number of streams per second, 0 or more",
        ),
        InvalidPlan::BadTarget { stage, .. } => ctx.err(
            &["load", "stages", stage.to_string().as_str(), "to"],
            "must be 0 or more",
        ),
        InvalidPlan::ZeroDuration => ctx.err(
            &["load", "stages"],
            "the stages add up to 0s; a run needs a positive duration",
        ),
        InvalidPlan::UnknownExecutor(name) => ctx.err(
            &["load", "executor"],
            unknown_value_message(
                "executor",
                &name,
                &ExecutorKind::ALL.map(ExecutorKind::as_str),
            ),
        ),
    })?;
    // Plan::new has ruled out negative and non-finite targets, so a peak of
    // 0 means every target is 0: a run that would start nothing.
    if plan.peak() == 0.0 {
        let what = if executor.is_arrival_rate() {
            "stream"
        } else {
            "session"
        };
        return Err(if rate_form {
            ctx.err(
                &["load", "rate"],
                format!("is 0: the run would start no {what} (rate is streams per second; use rate > 0)"),
            )
        } else {
            // Blame a `--set` that zeroed a stage written in the file, if any.
            let from_set = (0..plan.stages().len())
                .map(|i| i.to_string())
                .find(|i| ctx.loc.line(&path(&["load", "stages", i, "to"])) == 0);
            let at = match &from_set {
                Some(i) if ctx.loc.line(&path(&["load", "stages"])) != 0 => {
                    vec!["load", "stages", i.as_str(), "to"]
                }
                _ => vec!["load", "stages"],
            };
            ctx.err(
                &at,
                format!("every stage's `to` is 0: the run would start no {what} (at least one stage needs to > 0)"),
            )
        });
    }
    if executor == ExecutorKind::RampingSessions {
        // Plan::new has ruled out negative and non-finite targets.
        if let Some((i, stage)) = plan
            .stages()
            .iter()
            .enumerate()
            .find(|(_, s)| s.target.fract() != 0.0 || s.target > f64::from(u32::MAX))
        {
            return Err(ctx.err(
                &["load", "stages", i.to_string().as_str(), "to"],
                format!("{} is not a whole number of sessions", stage.target),
            ));
        }
    }
    let max_sessions = match raw.max_sessions {
        Some(_) if !executor.is_arrival_rate() => {
            return Err(ctx.err(&["load", "max_sessions"], "only applies to arrival-rate executors; ramping-sessions sets sessions with `stages`"));
        }
        Some(0) => return Err(ctx.err(&["load", "max_sessions"], "must be at least 1")),
        other => other,
    };
    if raw.think_time.is_some() && executor.is_arrival_rate() {
        return Err(ctx.err(
            &["load", "think_time"],
            "only applies to ramping-sessions; arrival-rate executors start each stream at its scheduled time",
        ));
    }
    Ok(LoadSpec {
        plan,
        think_time: raw.think_time.map_or(d.think_time, HumanDuration::get),
        max_sessions,
        interval: ctx.positive(&["load", "interval"], raw.interval, d.interval)?,
    })
}

fn retry(ctx: &Ctx<'_>, raw: RawRetry) -> Res<RetryPolicy> {
    let d = RetryPolicy::default();
    let backoff = raw.backoff.unwrap_or_default();
    let base = ctx.positive(
        &["retry", "backoff", "base"],
        backoff.base,
        d.backoff.base(),
    )?;
    let max = backoff.max.map_or(d.backoff.max(), HumanDuration::get);
    let factor = backoff.factor.unwrap_or(d.backoff.factor());
    let jitter = match backoff.jitter.as_deref() {
        None => d.backoff.jitter(),
        Some(name) => name.parse::<Jitter>().map_err(|_| {
            ctx.err(
                &["retry", "backoff", "jitter"],
                unknown_value_message("jitter", name, &Jitter::ALL.map(Jitter::as_str)),
            )
        })?,
    };
    // The client's own constructor: the scenario keeps what it builds.
    let backoff = Backoff::new(base, factor, max, jitter).map_err(|err| match err {
        InvalidBackoff::BaseAboveMax { base, .. } => ctx.err(
            &["retry", "backoff", "max"],
            format!("must be at least base ({})", HumanDuration(base)),
        ),
        InvalidBackoff::Factor(_) => ctx.err(
            &["retry", "backoff", "factor"],
            "must be 1.0 or more (2.0 doubles each delay)",
        ),
        // A zero base is refused above; jitter names are parsed above.
        other @ (InvalidBackoff::ZeroBase(_) | InvalidBackoff::UnknownJitter(_)) => {
            ctx.err(&["retry", "backoff"], other.to_string())
        }
    })?;
    let retry_on = match raw.retry_on {
        None => d.retry_on,
        Some(names) => {
            let valid: Vec<&str> = FailureClass::ALL
                .iter()
                .map(|c| c.as_str())
                .chain(FailureKind::ALL.iter().map(|k| k.as_str()))
                .collect();
            let mut set = RetrySet::EMPTY;
            for (i, name) in names.iter().enumerate() {
                let parsed = RetrySet::from_names(&[name.as_str()]).map_err(|_| {
                    let i = i.to_string();
                    ctx.err(
                        &["retry", "retry_on", i.as_str()],
                        unknown_value_message("error kind or class", name, &valid),
                    )
                })?;
                for kind in parsed.iter() {
                    set.insert(kind);
                }
            }
            set
        }
    };
    Ok(RetryPolicy {
        max_retries: raw.max_retries.unwrap_or(d.max_retries),
        backoff,
        honor_retry_after: raw.honor_retry_after.unwrap_or(d.honor_retry_after),
        honor_retry_field: raw.honor_retry_field.unwrap_or(d.honor_retry_field),
        retry_on,
    })
}

fn breaker(ctx: &Ctx<'_>, raw: RawBreaker) -> Res<BreakerConfig> {
    let d = BreakerConfig::default();
    let failure_threshold = raw.failure_threshold.unwrap_or(d.failure_threshold);
    let open_for = ctx.positive(&["breaker", "open_for"], raw.open_for, d.open_for)?;
    let half_open_probes = raw.half_open_probes.unwrap_or(d.half_open_probes);
    // The client's own constructor: the scenario keeps what it builds.
    BreakerConfig::new(failure_threshold, open_for, half_open_probes).map_err(|err| {
        let (key, message) = match err {
            InvalidBreaker::ZeroThreshold => ("failure_threshold", "must be at least 1"),
            InvalidBreaker::ZeroProbes => ("half_open_probes", "must be at least 1"),
            InvalidBreaker::OpenForTooLong => ("open_for", "must be at most one year"),
        };
        ctx.err(&["breaker", key], message)
    })
}

fn http(ctx: &Ctx<'_>, raw: RawHttp) -> Res<HttpSpec> {
    let d = HttpSpec::default();
    let version = match raw.version.as_ref().map(RawVersion::text) {
        None => d.version,
        Some(v) => v.parse::<VersionPref>().map_err(|()| {
            let names = VersionPref::ALL.map(VersionPref::as_str);
            ctx.err(
                &["http", "version"],
                unknown_value_message("HTTP version", &v, &names),
            )
        })?,
    };
    let files = tls_files(ctx, &raw, version)?;
    Ok(HttpSpec {
        timeout: ctx.positive(&["http", "timeout"], raw.timeout, d.timeout)?,
        pool_max_idle_per_host: raw
            .pool_max_idle_per_host
            .unwrap_or(d.pool_max_idle_per_host),
        idle_conn_timeout: ctx.positive(
            &["http", "idle_conn_timeout"],
            raw.idle_conn_timeout,
            d.idle_conn_timeout,
        )?,
        insecure_tls: raw.insecure_tls.unwrap_or(d.insecure_tls),
        version,
        share_connections: raw.share_connections.unwrap_or(d.share_connections),
        tls: files,
        local_addresses: local_addresses(ctx, raw.local_addresses.unwrap_or_default())?,
    })
}

/// `ca_file`, `client_cert`, `client_key`: read and parsed now, so `check`
/// fails on a missing or broken file and nothing downstream reads it again.
fn tls_files(ctx: &Ctx<'_>, raw: &RawHttp, version: VersionPref) -> Res<TlsFiles> {
    // `None`: `check` with the path's ${VAR} unset (warned about already).
    let file = |key: &str, value: &str| -> Res<Option<std::path::PathBuf>> {
        let expanded = ctx.expand(&["http", key], value)?;
        if expanded.trim().is_empty() {
            if ctx.lenient_env && value.contains("${") {
                return Ok(None);
            }
            return Err(ctx.err(&["http", key], "is empty: give the path of a PEM file"));
        }
        Ok(Some(ctx.base_dir.join(expanded)))
    };
    let mut files = TlsFiles::default();
    if let Some(path) = raw
        .ca_file
        .as_deref()
        .map(|ca| file("ca_file", ca))
        .transpose()?
        .flatten()
    {
        files.extra_roots =
            tls::load_roots(&path).map_err(|err| ctx.err(&["http", "ca_file"], err.0))?;
    }
    match (&raw.client_cert, &raw.client_key) {
        (None, None) => {}
        (Some(_), None) => {
            return Err(ctx.err(
                &["http", "client_cert"],
                "needs client_key = \"client.key\" too (the certificate's private key, PEM)",
            ))
        }
        (None, Some(_)) => {
            return Err(ctx.err(
                &["http", "client_key"],
                "needs client_cert = \"client.pem\" too (the certificate chain, PEM)",
            ))
        }
        (Some(cert), Some(key)) => {
            if let (Some(cert), Some(key)) = (file("client_cert", cert)?, file("client_key", key)?)
            {
                let chain = tls::load_client_chain(&cert)
                    .map_err(|err| ctx.err(&["http", "client_cert"], err.0))?;
                let key = tls::load_client_key(&key)
                    .map_err(|err| ctx.err(&["http", "client_key"], err.0))?;
                files.identity = Some(tls::ClientIdentity::new(chain, key));
            }
        }
    }
    // What the run will build, built once now: a key that is not
    // client_cert's fails `check`.
    tls::client_config(&files, false, version).map_err(|err| {
        ctx.err(
            &["http", "client_key"],
            format!("cannot be used with client_cert: {err} (is it the key of that certificate?)"),
        )
    })?;
    Ok(files)
}

/// `[http] local_addresses`: source IPs, on loopback (every load targets 127.0.0.0/8).
fn local_addresses(ctx: &Ctx<'_>, raw: Vec<String>) -> Res<Vec<std::net::IpAddr>> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, text) in raw.iter().enumerate() {
        let i = i.to_string();
        let at = ["http", "local_addresses", i.as_str()];
        let ip: std::net::IpAddr = text.parse().map_err(|_| {
            ctx.err(
                &at,
                format!("\"{text}\" is not an IP address such as \"127.0.0.2\""),
            )
        })?;
        if out.contains(&ip) {
            return Err(ctx.err(&at, format!("{ip} is listed twice")));
        }
        out.push(ip);
    }
    Ok(out)
}

/// The keys of `[[faults]]` that only `kind` takes.
fn own_keys(kind: &FaultKind) -> &'static [&'static str] {
    match kind {
        FaultKind::Proxy(ProxyFault::Latency(_)) => &["latency"],
        FaultKind::Proxy(ProxyFault::Status { .. }) => &["status", "retry_after"],
        FaultKind::Exec { .. } => &["start", "end"],
        FaultKind::Shutdown
        | FaultKind::Proxy(ProxyFault::Refuse | ProxyFault::Reset | ProxyFault::Stall) => &[],
    }
}

fn faults(ctx: &Ctx<'_>, raw: Vec<RawFault>, https: bool, total: Duration) -> Res<FaultPlan> {
    let each = FaultKind::EACH;
    let names = each.each_ref().map(FaultKind::name);
    let mut out = Vec::with_capacity(raw.len());
    for (i, f) in raw.into_iter().enumerate() {
        let i = i.to_string();
        let at = |key: &'static str| ["faults", i.as_str(), key];
        // The kind named, with placeholder settings until they are read below.
        let Some(template) = each.iter().find(|k| k.name() == f.kind) else {
            return Err(ctx.err(
                &at("kind"),
                unknown_value_message("fault kind", &f.kind, &names),
            ));
        };
        for (key, given) in [
            ("latency", f.latency.is_some()),
            ("status", f.status.is_some()),
            ("retry_after", f.retry_after.is_some()),
            ("start", f.start.is_some()),
            ("end", f.end.is_some()),
        ] {
            if given && !own_keys(template).contains(&key) {
                let owner = each
                    .iter()
                    .find(|k| own_keys(k).contains(&key))
                    .map_or("", FaultKind::name);
                return Err(ctx.err(&at(key), format!("only applies to kind = \"{owner}\"")));
            }
        }
        // The fault proxy forwards TLS untouched (sessions still verify the
        // target's certificate): it cannot answer inside a TLS connection.
        if https && matches!(template, FaultKind::Proxy(ProxyFault::Status { .. })) {
            return Err(ctx.err(
                &at("kind"),
                "\"status\" is answered by the fault proxy in plain HTTP, which cannot happen inside an https connection: the proxy passes TLS through without terminating it (so sessions still verify the target's certificate); against an https target use kind = \"reset\", \"refuse\", \"stall\" or \"latency\", or make the target answer the status itself",
            ));
        }
        let kind = match template {
            FaultKind::Shutdown => FaultKind::Shutdown,
            FaultKind::Proxy(ProxyFault::Refuse | ProxyFault::Reset | ProxyFault::Stall) => {
                template.clone()
            }
            FaultKind::Proxy(ProxyFault::Latency(_)) => match f.latency {
                Some(latency) if !latency.get().is_zero() => {
                    FaultKind::Proxy(ProxyFault::Latency(latency.get()))
                }
                Some(_) => return Err(ctx.err(&at("latency"), "must be longer than 0s")),
                None => {
                    return Err(ctx.err(
                        &at("kind"),
                        format!(
                            "kind = \"{}\" needs latency = \"300ms\" (the added delay)",
                            template.name()
                        ),
                    ))
                }
            },
            FaultKind::Proxy(ProxyFault::Status { .. }) => {
                let status = f.status.unwrap_or(503);
                if !(400..=599).contains(&status) {
                    return Err(ctx.err(
                        &at("status"),
                        format!("{status} is not an error status (400..=599)"),
                    ));
                }
                FaultKind::Proxy(ProxyFault::Status {
                    status,
                    retry_after: f.retry_after.map(HumanDuration::get),
                })
            }
            FaultKind::Exec { .. } => match f.start {
                Some(start) if !start.trim().is_empty() => FaultKind::Exec {
                    start,
                    end: f.end.unwrap_or_default(),
                },
                _ => return Err(ctx.err(
                    &at("start"),
                    format!(
                        "kind = \"{}\" needs start = \"command\" (and optionally end = \"command\")",
                        template.name()
                    ),
                )),
            },
        };
        let duration = ctx.positive(&at("for"), Some(f.duration), Duration::ZERO)?;
        let start = f.at.get();
        if start >= total {
            let total = HumanDuration(total);
            let place = if start == total.0 {
                format!("when the plan ends (its total duration is {total})")
            } else {
                format!("after the plan's total duration of {total}")
            };
            return Err(ctx.err(
                &at("at"),
                format!(
                    "the fault starts at {}, {place}, so it would never act; use an `at` within the plan",
                    HumanDuration(start)
                ),
            ));
        }
        let end = start.saturating_add(duration);
        if end > total {
            return Err(ctx.err(
                &at("for"),
                format!(
                    "the fault ends at {}, after the plan's total duration of {}",
                    HumanDuration(end),
                    HumanDuration(total)
                ),
            ));
        }
        out.push(FaultWindow {
            index: out.len(),
            at: start,
            duration,
            kind,
            line: ctx.loc.line(&path(&["faults", i.as_str()])),
        });
    }
    let plan = FaultPlan::new(out);
    // The stated rule: one fault at a time (see `faults::OverlapError`).
    if let Err(overlap) = plan.ensure_disjoint() {
        let second = overlap.second.to_string();
        let first = &plan.in_file_order()[overlap.first];
        return Err(ctx.err(
            &["faults", second.as_str(), "at"],
            format!(
                "overlaps fault {} ({} from {} to {}): faults act one at a time, so start this one at {} or later, or shorten the other",
                overlap.first + 1,
                first.kind.name(),
                HumanDuration(first.at),
                HumanDuration(first.end()),
                HumanDuration(first.end())
            ),
        ));
    }
    Ok(plan)
}

/// Why an LLM key cannot be used: the stream is not read as token stream.
const NOT_LLM: &str = "needs an LLM token stream: set [stream] format = \"openai-chat\", \"openai-completions\" or \"anthropic\", or content_field for another JSON dialect";

fn slo(ctx: &Ctx<'_>, raw: Option<RawSlo>, llm: bool) -> Res<Slo> {
    let Some(raw) = raw else {
        return Ok(Slo::default());
    };
    if !llm {
        return Err(ctx.err(&["slo"], NOT_LLM));
    }
    let positive = |key: &str, value: Option<HumanDuration>| -> Res<Option<Duration>> {
        match value.map(HumanDuration::get) {
            Some(d) if d.is_zero() => Err(ctx.err(&["slo", key], "must be longer than 0s")),
            other => Ok(other),
        }
    };
    Ok(Slo {
        ttft: positive("ttft", raw.ttft)?,
        tpot: positive("tpot", raw.tpot)?,
    })
}

/// Thresholds on subscribe-mode metrics that this scenario cannot measure
/// (they would read 0 and pass, or fail without data): refused, naming the key
/// that would give them data.
fn needs_data(
    ctx: &Ctx<'_>,
    thresholds: &[Threshold],
    subscribe: bool,
    sequence: bool,
    timestamp: bool,
) -> Res<()> {
    use crate::scenario::thresholds::CounterName as C;
    for t in thresholds {
        let missing = match t.metric {
            MetricKey::Counter(C::LostEvents | C::DuplicateEvents) if !sequence => {
                "needs [stream] sequence = \"id\" (event IDs are counted only then)"
            }
            MetricKey::Latency {
                metric: LatencyMetric::Delivery,
                ..
            } if !timestamp => {
                "needs [stream] timestamp_field (the server's send time in each event)"
            }
            MetricKey::Counter(C::Disconnects | C::Reconnects)
            | MetricKey::Latency {
                metric: LatencyMetric::Reconnect,
                ..
            } if !subscribe => "measures subscriptions: it needs [stream] mode = \"subscribe\"",
            _ => continue,
        };
        let at = ["thresholds", t.key.as_str()];
        return Err(ctx.err(&at, format!("{missing}, so it could never be measured")));
    }
    Ok(())
}

fn thresholds(
    ctx: &Ctx<'_>,
    raw: OrderedMap<Condition>,
    no_faults: bool,
    llm: bool,
) -> Res<Vec<Threshold>> {
    let mut out = Vec::with_capacity(raw.0.len());
    for (key, Condition(condition)) in raw.0 {
        let at = ["thresholds", key.as_str()];
        let mut threshold = Threshold::parse(&key, &condition).map_err(|m| ctx.err(&at, m))?;
        let fault_metric = matches!(
            threshold.metric,
            MetricKey::Latency {
                metric: LatencyMetric::Open | LatencyMetric::Recover,
                ..
            } | MetricKey::Fault(_)
        );
        if no_faults && fault_metric {
            return Err(ctx.err(
                &at,
                "measures faults, but this scenario has no [[faults]], so it could never pass",
            ));
        }
        let llm_metric = matches!(
            threshold.metric,
            MetricKey::Latency {
                metric: LatencyMetric::Ttft | LatencyMetric::Itl | LatencyMetric::Tpot,
                ..
            } | MetricKey::Counter(CounterName::OutputTokens | CounterName::OutputTokensPerS)
        );
        if llm_metric && !llm {
            return Err(ctx.err(&at, format!("{NOT_LLM}; it could never have data")));
        }
        threshold.line = ctx.loc.line(&path(&at));
        out.push(threshold);
    }
    Ok(out)
}
