//! `streamsoak stream`: the seed's single client, with no actors.
//!
//! Prints "Starting stream to …", each event as it arrives, the metrics
//! block and the collected responses — the seed's run — driving
//! [`StreamService`] directly. The metrics block also names what went
//! wrong: the malformed events counted (`Malformed Events`) and every
//! failure kind seen, with its count (`Failure Kinds`, in report order). Ctrl+C / SIGTERM cancels the attempt and
//! still prints what was collected. A closed stdout (`| head`) is not an
//! error: printing stops and the exit code is the stream's.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand::SeedableRng;

use crate::cli::{FormatArg, StreamArgs};
use crate::client::attempt::{AttemptOutcome, EventSink, Failure, SeenEvent};
use crate::client::breaker::Transition;
use crate::client::dialect::{ContentPointer, Tokens};
use crate::client::{http, CancelHandle, FailureKind, Observer, PreparedRequest, StreamService};
use crate::error::Error;
use crate::report::events::EventsWriter;
use crate::scenario::{self, ClientSettings, Format};

const DEFAULT_URL: &str = "http://localhost:8000/trigger_invocation";

/// Runs the command; exit 0 when the stream completed, 1 when it failed.
pub(super) fn run(args: StreamArgs) -> Result<u8, Error> {
    let (settings, url, body) = resolve(&args)?;
    let events_out = match &args.events_out {
        Some(path) => Some(EventsWriter::create(path).map_err(|err| Error::io(path, err))?),
        None => None,
    };
    let system = actix_rt::System::new();
    system.block_on(stream(settings, url, body, events_out, args.events_out))
}

/// Turns flags (and an optional scenario) into settings, URL and body.
fn resolve(args: &StreamArgs) -> Result<(ClientSettings, String, Bytes), Error> {
    let mut settings = match &args.scenario {
        Some(path) => scenario::load_client_settings(path, &scenario::LoadOptions::from_env())?,
        None => ClientSettings::default(),
    };
    if let Some(format) = args.format {
        settings.stream.format = match format {
            FormatArg::Json => Format::Json,
            FormatArg::Text => Format::Text,
            FormatArg::OpenaiChat => Format::OpenAiChat,
            FormatArg::OpenaiCompletions => Format::OpenAiCompletions,
            FormatArg::Anthropic => Format::Anthropic,
        };
        if let Some(preset) = settings.stream.format.preset() {
            // A preset has its own completion marker and content.
            settings.stream.done = None;
            settings.stream.content = Some(ContentPointer::of_preset(preset));
        } else if format == FormatArg::Text && args.scenario.is_none() {
            settings.stream.done = None;
        }
    }
    if let Some(method) = &args.method {
        settings.request.method = method.to_ascii_uppercase();
    }
    if let Some(retries) = args.retries {
        settings.retry.max_retries = retries;
    }
    let url = match (&args.url, &args.scenario) {
        (Some(url), _) => url.clone(),
        (None, Some(_)) => match &settings.target {
            scenario::Target::Url(base) => format!("{base}{}", settings.request.path),
            scenario::Target::Embedded => {
                return Err(Error::Usage(
                    "the scenario's target is \"embedded\": give --url (e.g. start `streamsoak serve` and use --url http://127.0.0.1:8000/trigger_invocation)".into(),
                ))
            }
        },
        (None, None) => DEFAULT_URL.to_owned(),
    };
    let body = if let Some(json) = &args.body {
        let value: serde_json::Value = serde_json::from_str(json)
            .map_err(|err| Error::Usage(format!("--body is not valid JSON: {err}")))?;
        Bytes::from(value.to_string())
    } else if let Some(query) = &args.query {
        Bytes::from(serde_json::json!({ "query": query }).to_string())
    } else if args.scenario.is_some() {
        let mut out = Vec::new();
        settings.request.body.render(0, 0, &mut out);
        Bytes::from(out)
    } else {
        Bytes::from_static(br#"{"query":"test query"}"#)
    };
    for header in &args.headers {
        let Some((name, value)) = header.split_once(':') else {
            return Err(Error::Usage(format!(
                "--header `{}` must be NAME:VALUE",
                header.split(':').next().unwrap_or_default()
            )));
        };
        settings.request.headers.push((
            name.trim().to_owned(),
            scenario::Secret::new(value.trim().to_owned()),
        ));
    }
    Ok((settings, url, body))
}

async fn stream(
    settings: ClientSettings,
    url: String,
    body: Bytes,
    events_out: Option<EventsWriter>,
    events_path: Option<PathBuf>,
) -> Result<u8, Error> {
    // The flags (--url, --method, --header) are validated here, once.
    let request = PreparedRequest::new(
        &settings.request.method,
        &url,
        settings
            .request
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.expose())),
    )
    .map_err(|err| Error::Usage(err.to_string()))?;
    let (retry, breaker) = (settings.retry, settings.breaker);
    if settings.http.insecure_tls {
        eprintln!("streamsoak: insecure_tls = true: TLS certificates are NOT verified");
    }
    let transport = http::Transport::new(&settings.http, &url, None);
    let request = request.with_url(transport.request_url(&request.url));
    let client = transport.client(4);
    let mut service = StreamService::new(
        client,
        request,
        settings.stream.clone(),
        retry,
        crate::client::breaker::Breaker::new(breaker),
        rand::rngs::SmallRng::seed_from_u64(settings.seed),
    );
    let mut console = Console::new(settings.stream.format, events_out);
    console.content = settings.stream.content.clone();
    let shown = scenario::Target::Url(url.clone()).display_redacted();
    console.line(format_args!("Starting stream to {shown}"));
    console.line(format_args!("Press Ctrl+C to stop"));

    let (cancel_handle, mut cancel) = CancelHandle::new();
    let watcher = actix_rt::spawn(async move {
        crate::signals::wait_for_signal().await;
        eprintln!("streamsoak: stopping (signal received)");
        cancel_handle.cancel();
    });
    let outcome = match settings.stream.mode.hold() {
        None => {
            service
                .stream_with_retry(body, &mut console, &mut cancel)
                .await
        }
        // `stream --scenario` of a subscribe scenario: one subscription.
        Some(hold) => {
            service
                .subscribe(body, hold, &mut console, &mut cancel)
                .await
        }
    };
    watcher.abort();
    if let Some(writer) = console.events_out.as_mut() {
        if let Err(err) = writer.flush() {
            return Err(Error::io(events_path.unwrap_or_default(), err));
        }
    }
    console.summary(&outcome.result, outcome.duration);
    Ok(if outcome.result.is_ok() { 0 } else { 1 })
}

/// One collected response, as the seed prints them.
enum Collected {
    Event { count: i64, data: String },
    Message(String),
    Error(String),
    Raw(String),
}

/// Prints events as they arrive and keeps the seed's metrics.
struct Console {
    format: Format,
    /// LLM token streams: where the content is (printed per content chunk).
    content: Option<ContentPointer>,
    /// The last attempt's token clock and start, for the metrics block.
    tokens: Option<(Instant, Tokens)>,
    stdout: io::Stdout,
    stdout_closed: bool,
    started: Instant,
    collected: Vec<Collected>,
    clear_before_next: bool,
    events_out: Option<EventsWriter>,
    events_out_failed: bool,
    events: u64,
    attempts: u32,
    ok: u32,
    failed: u32,
    malformed: u64,
    /// Failed attempts by kind ([`FailureKind::index`]).
    kinds: [u32; FailureKind::COUNT],
}

impl Console {
    fn new(format: Format, events_out: Option<EventsWriter>) -> Console {
        Console {
            format,
            content: None,
            tokens: None,
            stdout: io::stdout(),
            stdout_closed: false,
            started: Instant::now(),
            collected: Vec::new(),
            clear_before_next: false,
            events_out,
            events_out_failed: false,
            events: 0,
            attempts: 0,
            ok: 0,
            failed: 0,
            malformed: 0,
            kinds: [0; FailureKind::COUNT],
        }
    }

    fn line(&mut self, args: std::fmt::Arguments<'_>) {
        if self.stdout_closed {
            return;
        }
        let mut lock = self.stdout.lock();
        if let Err(err) = lock.write_fmt(args).and_then(|()| lock.write_all(b"\n")) {
            if err.kind() == io::ErrorKind::BrokenPipe {
                self.stdout_closed = true;
            } else {
                eprintln!("streamsoak: cannot write to stdout: {err}");
                self.stdout_closed = true;
            }
        }
    }

    fn summary(&mut self, result: &Result<(), Failure>, duration: Duration) {
        let rate = if self.attempts == 0 {
            0.0
        } else {
            100.0 * f64::from(self.ok) / f64::from(self.attempts)
        };
        let retries = self.attempts.saturating_sub(1);
        self.line(format_args!(""));
        self.line(format_args!("=== Streaming Metrics ==="));
        self.line(format_args!("Duration: {:.2}s", duration.as_secs_f64()));
        let (attempts, events, ok, failed) = (self.attempts, self.events, self.ok, self.failed);
        self.line(format_args!("Attempts: {attempts}"));
        self.line(format_args!("Total Events: {events}"));
        self.line(format_args!("Successful: {ok}"));
        self.line(format_args!("Failed: {failed}"));
        self.line(format_args!("Retries: {retries}"));
        self.line(format_args!("Success Rate: {rate:.1}%"));
        let malformed = self.malformed;
        self.line(format_args!("Malformed Events: {malformed}"));
        let mut kinds = self.kinds;
        if let Err(failure) = result {
            // Not an attempt, so not counted by `attempt_finished`.
            if failure.kind == FailureKind::ShortCircuited {
                kinds[failure.kind.index()] += 1;
            }
        }
        let named: Vec<String> = FailureKind::ALL
            .into_iter()
            .filter(|k| kinds[k.index()] > 0)
            .map(|k| format!("{}/{}={}", k.class(), k, kinds[k.index()]))
            .collect();
        let named = if named.is_empty() {
            "none".to_owned()
        } else {
            named.join(", ")
        };
        self.line(format_args!("Failure Kinds: {named}"));
        if let Some((started, tokens)) = self.tokens {
            let ms = |d: Option<Duration>| {
                d.map_or_else(
                    || "-".to_owned(),
                    |d| format!("{:.1}ms", d.as_secs_f64() * 1e3),
                )
            };
            let ttft = tokens
                .first_content()
                .map(|t| t.saturating_duration_since(started));
            self.line(format_args!("Output Tokens: {}", tokens.output_tokens()));
            self.line(format_args!("TTFT: {}", ms(ttft)));
            self.line(format_args!("TPOT: {}", ms(tokens.tpot())));
        }
        self.line(format_args!("======================="));
        match result {
            Ok(()) => self.line(format_args!("Stream completed successfully")),
            Err(failure) => {
                let (class, kind) = (failure.kind.class(), failure.kind);
                self.line(format_args!(
                    "Stream failed: {class}/{kind}: {}",
                    failure.detail
                ));
            }
        }
        self.line(format_args!(""));
        self.line(format_args!("=== Collected Response Data ==="));
        let collected = std::mem::take(&mut self.collected);
        for (i, item) in collected.iter().enumerate() {
            match item {
                Collected::Event { count, data } => {
                    self.line(format_args!("Event {count}: {data}"))
                }
                Collected::Message(data) => self.line(format_args!("Message {}: {data}", i + 1)),
                Collected::Error(error) => self.line(format_args!("Error {}: {error}", i + 1)),
                Collected::Raw(data) => self.line(format_args!("Data {}: {data}", i + 1)),
            }
        }
        self.line(format_args!(
            "Total responses collected: {}",
            collected.len()
        ));
        self.line(format_args!("=============================="));
    }
}

impl EventSink for Console {
    fn event(&mut self, seen: &SeenEvent<'_>) {
        if self.clear_before_next {
            self.collected.clear();
            self.clear_before_next = false;
        }
        self.events += 1;
        if let Some(writer) = self.events_out.as_mut() {
            if let Err(err) = writer.write(seen.at - self.started, seen.event) {
                if !self.events_out_failed {
                    eprintln!("streamsoak: cannot write --events-out: {err}");
                    self.events_out_failed = true;
                }
            }
        }
        if let Some(pointer) = &self.content {
            if !seen.content {
                return;
            }
            // The console's own parse: per content chunk, but one client.
            let text = serde_json::from_str::<serde_json::Value>(seen.event.data)
                .ok()
                .and_then(|v| {
                    v.pointer(pointer.as_str())
                        .and_then(|t| t.as_str())
                        .map(str::to_owned)
                })
                .unwrap_or_default();
            self.line(format_args!("Content: {text}"));
            self.collected.push(Collected::Message(text));
            return;
        }
        let item = match (self.format, seen.fields) {
            (Format::Text, _) => {
                self.line(format_args!("Event: {}", seen.event.data));
                Collected::Raw(seen.event.data.to_owned())
            }
            (_, None) => {
                self.line(format_args!("Malformed event: {}", seen.event.data));
                Collected::Raw(seen.event.data.to_owned())
            }
            (_, Some(fields)) => {
                let data = fields.data.as_deref().unwrap_or_default();
                if let Some(error) = &fields.error {
                    self.line(format_args!("Error: {error}"));
                    Collected::Error(error.to_string())
                } else if let Some(count) = fields.count.filter(|c| *c > 0) {
                    self.line(format_args!("Event {count}: {data}"));
                    Collected::Event {
                        count,
                        data: data.to_owned(),
                    }
                } else {
                    self.line(format_args!("Message: {data}"));
                    Collected::Message(data.to_owned())
                }
            }
        };
        self.collected.push(item);
    }
}

impl Observer for Console {
    fn attempt_finished(&mut self, attempt: &AttemptOutcome) {
        self.attempts += 1;
        self.malformed += attempt.malformed_events;
        if self.content.is_some() {
            self.tokens = Some((attempt.started, attempt.tokens));
        }
        match &attempt.result {
            Ok(()) => self.ok += 1,
            Err(failure) => {
                self.failed += 1;
                self.kinds[failure.kind.index()] += 1;
                self.clear_before_next = true;
                eprintln!(
                    "attempt {} failed: {}/{}: {}",
                    self.attempts,
                    failure.kind.class(),
                    failure.kind,
                    failure.detail
                );
            }
        }
    }

    fn breaker_changed(&mut self, transition: &Transition) {
        eprintln!(
            "circuit breaker {} -> {} ({})",
            transition.from.name(),
            transition.to.name(),
            transition.reason.as_str()
        );
    }

    fn retrying(&mut self, retry: u32, delay: Duration, _after: &Failure) {
        eprintln!("retry {retry} in {:.2}s", delay.as_secs_f64());
    }
}
