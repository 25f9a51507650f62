//! The resolved plan: [`LoadSpec::plan`] and [`Scenario::describe`], the
//! text `streamsoak check` prints.
//!
//! The stage math itself lives in one place, the engine's
//! [`Plan`](crate::load::executor::Plan) (what each executor does with its
//! stages is documented there); everything here reads it through the plan.
//!
//! The expected stream count is an estimate: for the open model the integral
//! of the rate; for the closed model session-seconds divided by (stream
//! length + think time), where the stream length is known only for the
//! embedded server (`first_event_delay + events × interval`).

use std::fmt::Write as _;
use std::time::Duration;

use super::spec::*;
use super::template::BodyTemplate;
use super::units::{ByteSize, HumanDuration};

/// Where a fault or threshold was written: its line in the file, or
/// `--set` (line 0, see [`FaultWindow::line`]).
fn origin(line: usize) -> String {
    if line == 0 {
        "from --set".to_owned()
    } else {
        format!("line {line}")
    }
}

impl LoadSpec {
    /// The executor.
    pub fn executor(&self) -> ExecutorKind {
        self.plan.kind()
    }
}

impl Scenario {
    /// Estimated length of one stream, known only for the embedded server.
    pub fn estimated_stream_time(&self) -> Option<Duration> {
        if let Some(hold) = self.stream.mode.hold() {
            // A subscription lasts its hold, whatever the target.
            return Some(hold);
        }
        (self.target == Target::Embedded && self.server.mode == ServerMode::Stream)
            .then(|| self.server.first_event_delay + self.server.interval * self.server.events)
    }

    /// Expected number of streams started (see the module doc); `None` when
    /// it cannot be estimated (closed model against an external target).
    pub fn expected_streams(&self) -> Option<f64> {
        let integral = self.load.plan.integral();
        if self.load.executor().is_arrival_rate() {
            return Some(integral);
        }
        let cycle = (self.estimated_stream_time()? + self.load.think_time).as_secs_f64();
        (cycle > 0.0).then(|| integral / cycle)
    }

    /// Valid but probably unintended settings, for `check` and `run` to show:
    /// embedded-server timings that make every stream fail, and an open-model
    /// cap that will drop arrivals.
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        let d = |d: Duration| HumanDuration(d).to_string();
        let request_mode = self.stream.mode == StreamMode::Request;
        if let (Some(stream), true) = (self.estimated_stream_time(), request_mode) {
            let (s, st) = (&self.server, &self.stream);
            if s.events > 1 && s.interval >= st.idle_timeout {
                out.push(format!("server.interval {} >= stream.idle_timeout {}: streams will fail with idle-timeout", d(s.interval), d(st.idle_timeout)));
            }
            if s.first_event_delay >= st.first_event_timeout {
                out.push(format!("server.first_event_delay {} >= stream.first_event_timeout {}: streams will fail with first-event-timeout", d(s.first_event_delay), d(st.first_event_timeout)));
            }
            if stream >= st.max_duration {
                out.push(format!("a stream takes about {} >= stream.max_duration {}: streams will fail with max-duration", d(stream), d(st.max_duration)));
            }
            if let (true, Some(cap)) = (
                self.load.executor().is_arrival_rate(),
                self.load.max_sessions,
            ) {
                let needed = self.load.plan.peak() * stream.as_secs_f64();
                if needed > f64::from(cap) {
                    out.push(format!("the peak rate needs about {needed:.0} concurrent sessions > max_sessions {cap}: arrivals will be dropped"));
                }
            }
        }
        out
    }

    /// The resolved plan printed by `streamsoak check`: every resolved value
    /// (header values redacted, bodies as written), the stage timeline, peak
    /// load, expected streams, total duration, fault windows and thresholds.
    pub fn describe(&self) -> String {
        let mut o = String::new();
        // Writing to a String cannot fail.
        let _ = self.write_plan(&mut o);
        o
    }

    /// A digest of the resolved plan: 16 hex digits of FNV-1a 64 over
    /// [`Scenario::describe`] without the scenario file's path (shards on
    /// different machines read it from different paths). Written into the
    /// report folder so that `merge` can tell shards of one scenario from
    /// shards of an edited one; stable across builds and platforms.
    pub fn plan_digest(&self) -> String {
        let text = self.describe();
        let body = text.split_once('\n').map_or("", |(_, rest)| rest);
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in self.name.bytes().chain([0]).chain(body.bytes()) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    fn write_plan(&self, o: &mut String) -> std::fmt::Result {
        let d = |d: Duration| HumanDuration(d).to_string();
        writeln!(o, "scenario \"{}\" ({})", self.name, self.file.display())?;
        writeln!(
            o,
            "  target                 {}",
            self.target.display_redacted()
        )?;
        writeln!(o, "  seed                   {}", self.seed)?;
        writeln!(o, "  proxy                  {}", self.proxy)?;
        let s = &self.server;
        let unused = if self.target == Target::Embedded {
            ""
        } else {
            " (unused: external target)"
        };
        writeln!(o, "[server]{unused}")?;
        writeln!(o, "  events                 {}", s.events)?;
        writeln!(o, "  interval               {}", d(s.interval))?;
        writeln!(o, "  first_event_delay      {}", d(s.first_event_delay))?;
        writeln!(o, "  payload_bytes          {}", s.payload_bytes)?;
        writeln!(o, "  fail_rate              {}", s.fail_rate)?;
        writeln!(o, "  dialect                {}", s.dialect.as_str())?;
        if let ServerMode::Broadcast(b) = &s.mode {
            writeln!(
                o,
                "  mode                   broadcast (GET /events{})",
                b.path
                    .as_deref()
                    .map(|p| format!(", {p}"))
                    .unwrap_or_default()
            )?;
            writeln!(o, "  rate                   {} events/s", b.rate)?;
            writeln!(o, "  replay                 {} events", b.replay)?;
        }
        let r = &self.request;
        writeln!(o, "[request]")?;
        writeln!(o, "  method                 {}", r.method)?;
        writeln!(o, "  path                   {}", r.path)?;
        for (name, value) in &r.headers {
            writeln!(o, "  header                 {name}: {value}")?;
        }
        match &r.body {
            BodySource::None => writeln!(o, "  body                   (none)")?,
            BodySource::Inline(t) => writeln!(o, "  body                   {}", t.source())?,
            BodySource::Lines(lines) => writeln!(
                o,
                "  bodies                 {} lines, round-robin; first: {}",
                lines.len(),
                lines.first().map_or("", BodyTemplate::source)
            )?,
        }
        let st = &self.stream;
        writeln!(o, "[stream]")?;
        writeln!(o, "  format                 {}", st.format.as_str())?;
        if st.format == Format::Json {
            writeln!(o, "  data_field             {}", st.data_field)?;
            writeln!(o, "  count_field            {}", st.count_field)?;
            writeln!(o, "  error_field            {}", st.error_field)?;
        }
        match (&st.done, st.format) {
            (_, Format::OpenAiChat | Format::OpenAiCompletions) => {
                writeln!(o, "  done                   data: [DONE]")?
            }
            (_, Format::Anthropic) => writeln!(o, "  done                   message_stop event")?,
            (Some(done), _) => writeln!(o, "  done                   \"{done}\"")?,
            (None, _) => writeln!(
                o,
                "  done                   (unset: a clean end of body completes)"
            )?,
        }
        if let Some(content) = &st.content {
            writeln!(
                o,
                "  content_field          {content}  (an LLM token stream: ttft, itl, tpot)"
            )?;
        }
        writeln!(o, "  first_event_timeout    {}", d(st.first_event_timeout))?;
        writeln!(o, "  idle_timeout           {}", d(st.idle_timeout))?;
        match st.mode {
            StreamMode::Request => {
                writeln!(o, "  mode                   request")?;
                writeln!(o, "  max_duration           {}", d(st.max_duration))?;
            }
            StreamMode::Subscribe { hold } => {
                writeln!(o, "  mode                   subscribe")?;
                writeln!(
                    o,
                    "  hold                   {} (max_duration does not apply)",
                    d(hold)
                )?;
            }
        }
        if st.sequence == Sequence::Id {
            writeln!(
                o,
                "  sequence               id (lost and duplicate events counted)"
            )?;
        }
        if let Some(t) = &st.timestamp {
            writeln!(
                o,
                "  timestamp_field        {} ({}; delivery latency)",
                t.field,
                t.unit.as_str()
            )?;
        }
        writeln!(
            o,
            "  max_event_size         {}",
            ByteSize(st.max_event_size as u64)
        )?;
        match st.expect_events {
            Some(n) => writeln!(o, "  expect_events          {n}")?,
            None => writeln!(o, "  expect_events          (unset)")?,
        }
        writeln!(o, "  resume                 {}", st.resume)?;
        if st.content.is_some() {
            let limit = |v: Option<Duration>| v.map_or_else(|| "(unset)".to_owned(), d);
            writeln!(o, "[slo]")?;
            writeln!(o, "  ttft                   {}", limit(self.slo.ttft))?;
            writeln!(o, "  tpot                   {}", limit(self.slo.tpot))?;
        }
        self.write_load(o)?;
        let rt = &self.retry;
        writeln!(o, "[retry]")?;
        writeln!(o, "  max_retries            {}", rt.max_retries)?;
        writeln!(
            o,
            "  backoff                base {}, factor {}, max {}, jitter {}",
            d(rt.backoff.base()),
            rt.backoff.factor(),
            d(rt.backoff.max()),
            rt.backoff.jitter().as_str()
        )?;
        writeln!(o, "  honor_retry_after      {}", rt.honor_retry_after)?;
        writeln!(o, "  honor_retry_field      {}", rt.honor_retry_field)?;
        let kinds: Vec<&str> = rt
            .retry_on
            .iter()
            .filter(|k| !k.never_retried())
            .map(|k| k.as_str())
            .collect();
        writeln!(o, "  retry_on               {}", kinds.join(", "))?;
        let b = &self.breaker;
        writeln!(o, "[breaker]")?;
        writeln!(o, "  failure_threshold      {}", b.failure_threshold)?;
        writeln!(o, "  open_for               {}", d(b.open_for))?;
        writeln!(o, "  half_open_probes       {}", b.half_open_probes)?;
        let h = &self.http;
        writeln!(o, "[http]")?;
        writeln!(o, "  timeout                {}", d(h.timeout))?;
        writeln!(o, "  pool_max_idle_per_host {}", h.pool_max_idle_per_host)?;
        writeln!(o, "  idle_conn_timeout      {}", d(h.idle_conn_timeout))?;
        writeln!(o, "  insecure_tls           {}", h.insecure_tls)?;
        writeln!(o, "  version                {}", h.version)?;
        writeln!(o, "  share_connections      {}", h.share_connections)?;
        if !h.tls.extra_roots.is_empty() {
            writeln!(
                o,
                "  ca_file                {} certificate(s)",
                h.tls.extra_roots.len()
            )?;
        }
        if let Some(id) = &h.tls.identity {
            writeln!(
                o,
                "  client_cert            {} certificate(s), with client_key",
                id.chain.len()
            )?;
        }
        if !h.local_addresses.is_empty() {
            let ips: Vec<String> = h.local_addresses.iter().map(ToString::to_string).collect();
            writeln!(o, "  local_addresses        {}", ips.join(", "))?;
        }
        writeln!(o, "faults ({})", self.faults.len())?;
        for f in self.faults.in_file_order() {
            let detail = match &f.kind {
                FaultKind::Proxy(ProxyFault::Latency(l)) => format!(" +{}", d(*l)),
                FaultKind::Proxy(ProxyFault::Status {
                    status,
                    retry_after: Some(ra),
                }) => format!(" {status}, Retry-After {}", d(*ra)),
                FaultKind::Proxy(ProxyFault::Status {
                    status,
                    retry_after: None,
                }) => format!(" {status}"),
                FaultKind::Exec { start, end } => format!(" start `{start}`, end `{end}`"),
                _ => String::new(),
            };
            writeln!(
                o,
                "  {}. {}{detail}: {} → {} ({})",
                f.index + 1,
                f.kind.name(),
                d(f.at),
                d(f.at + f.duration),
                origin(f.line)
            )?;
        }
        writeln!(o, "thresholds ({})", self.thresholds.len())?;
        for t in &self.thresholds {
            writeln!(o, "  {} {} ({})", t.key, t.condition, origin(t.line))?;
        }
        for warning in self.warnings() {
            writeln!(o, "note: {warning}")?;
        }
        Ok(())
    }

    fn write_load(&self, o: &mut String) -> std::fmt::Result {
        let d = |d: Duration| HumanDuration(d).to_string();
        let l = &self.load;
        let (model, unit) = if l.executor().is_arrival_rate() {
            ("open model", "streams/s")
        } else {
            ("closed model", "sessions")
        };
        writeln!(o, "[load]")?;
        writeln!(
            o,
            "  executor               {} ({model})",
            l.executor().as_str()
        )?;
        writeln!(o, "  think_time             {}", d(l.think_time))?;
        writeln!(
            o,
            "  interval               {} (report interval)",
            d(l.interval)
        )?;
        if l.executor().is_arrival_rate() {
            match l.max_sessions {
                Some(n) => writeln!(o, "  max_sessions           {n}")?,
                None => writeln!(o, "  max_sessions           (unset: no cap)")?,
            }
        }
        let plan = &l.plan;
        for (i, seg) in plan.segments().enumerate() {
            let level = if seg.from == seg.to {
                format!("{} {unit}", seg.to)
            } else {
                format!("{} → {} {unit}", seg.from, seg.to)
            };
            writeln!(
                o,
                "  stage {:<3}              {} → {}: {level}",
                i + 1,
                d(seg.start),
                d(seg.end())
            )?;
        }
        writeln!(o, "  total duration         {}", d(plan.total_duration()))?;
        writeln!(o, "  peak                   {} {unit}", plan.peak())?;
        if l.executor().is_arrival_rate() {
            writeln!(
                o,
                "  expected streams       {:.0} (integral of the rate)",
                plan.integral()
            )?;
        } else {
            writeln!(o, "  session-seconds        {:.0}", plan.integral())?;
            match (self.expected_streams(), self.estimated_stream_time()) {
                (Some(n), Some(stream)) => writeln!(o, "  expected streams       ≈{n:.0} (stream ≈{} + think {})", d(stream), d(l.think_time))?,
                _ => writeln!(o, "  expected streams       unknown (stream length of an external target is not known)")?,
            }
        }
        Ok(())
    }
}
