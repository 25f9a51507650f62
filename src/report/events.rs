//! `--events-out FILE`: one JSON line per dispatched event.
//!
//! `{"t_ms": 12.345, "event": "message", "id": "", "data": "…"}` — `t_ms` is
//! milliseconds since the command started, `event` the SSE type (`message`
//! by default), `id` the last event ID. Buffered; flushed on drop and by
//! [`EventsWriter::flush`], so a run that stops keeps what it saw.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::sse::Event;

/// Writes events as JSON lines.
pub struct EventsWriter {
    out: BufWriter<File>,
}

#[derive(Serialize)]
struct Line<'a> {
    t_ms: f64,
    event: &'a str,
    id: &'a str,
    data: &'a str,
}

impl EventsWriter {
    /// Creates (truncates) `path`.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn create(path: &Path) -> io::Result<EventsWriter> {
        Ok(EventsWriter {
            out: BufWriter::with_capacity(64 * 1024, File::create(path)?),
        })
    }

    /// Appends one event seen `since_start` after the command started.
    ///
    /// # Errors
    /// When writing fails (disk full…).
    pub fn write(&mut self, since_start: Duration, event: &Event<'_>) -> io::Result<()> {
        let line = Line {
            t_ms: (since_start.as_micros() as f64) / 1000.0,
            event: event.kind,
            id: event.id,
            data: event.data,
        };
        serde_json::to_writer(&mut self.out, &line)?;
        self.out.write_all(b"\n")
    }

    /// Flushes buffered lines to the file.
    ///
    /// # Errors
    /// When writing fails.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
