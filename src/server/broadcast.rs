//! `[server] mode = "broadcast"`: one publisher, every subscriber (issue #16).
//!
//! One publisher task sends event `n` (global IDs from 1) at `rate` events
//! per second; each event is encoded once, as
//! `id: n\ndata: {"id": n, "ts": <epoch ms>, "Data": "Event n"}\n\n`, into a
//! shared ring of pre-encoded [`Bytes`]. Subscribers (`GET /events`, and the
//! scenario's path) wait on one `tokio::sync::watch` of the latest ID: a
//! publish is one ring push and one `watch` send, and each woken subscriber
//! clones the `Bytes` it has not sent yet (a reference count, no copy).
//! Nothing is sent per subscriber per event through a channel, so 10,000
//! subscribers cost 10,000 wakeups per event, not 10,000 queued messages.
//!
//! Why the publisher lives outside the workers: the `shutdown` fault stops
//! the workers (every subscriber is cut) while the publisher keeps going, as
//! a real upstream would, so events published during the outage are the
//! ones a returning subscriber misses — unless the replay buffer still holds
//! them (`replay` events; served after `Last-Event-ID`). The ring keeps at
//! least [`LIVE_RING`] events so that a subscriber briefly behind live
//! loses nothing; one further behind skips ahead (those events are lost to
//! it, as from a broker that drops slow consumers).
//!
//! The oracle for tests (`GET /stats`): `published`, `published_while_down`,
//! `subscribers` (open now) and `missed` — over every subscriber that came
//! with a `Last-Event-ID`, the IDs between it and the first event sent back
//! (what the client must count as lost).

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use futures_util::Stream;
use tokio::sync::watch;

use super::config::BroadcastConfig;
use super::stats::Stats;

/// Events the ring keeps whatever `replay` says, for subscribers briefly behind live.
pub(crate) const LIVE_RING: usize = 1024;

/// With fewer than one event per this interval, subscribers also get
/// keep-alive comments (so a client's `idle_timeout` sees activity).
const KEEPALIVE: Duration = Duration::from_secs(5);

/// Broadcast event `id` sent at `ts_ms` (epoch milliseconds).
pub(crate) fn encode(id: u64, ts_ms: u64) -> Bytes {
    let mut buf = BytesMut::with_capacity(80);
    write!(
        buf,
        "id: {id}\ndata: {{\"id\": {id}, \"ts\": {ts_ms}, \"Data\": \"Event {id}\"}}\n\n"
    )
    .expect("invariant: writing to BytesMut cannot fail");
    buf.freeze()
}

/// The ID after which a new subscriber starts (it is sent `start + 1` on),
/// given its `Last-Event-ID`, the latest published ID and the replay depth.
///
/// No header (or not a number, or one from the future — a previous
/// incarnation's): live events only. With a header, replay from it, but
/// never more than `replay` events back.
pub(crate) fn start_after(last_event_id: Option<&str>, latest: u64, replay: usize) -> u64 {
    let floor = latest.saturating_sub(replay as u64);
    match last_event_id.and_then(|id| id.trim().parse::<u64>().ok()) {
        Some(last) if last <= latest => last.max(floor),
        _ => latest,
    }
}

/// The events a returning subscriber (`Last-Event-ID: last`) misses when
/// the first event it is sent is `first`.
pub(crate) fn missed(last: u64, first: u64) -> u64 {
    first.saturating_sub(last).saturating_sub(1)
}

/// The publisher's shared state: the ring and the latest ID.
pub(crate) struct Hub {
    ring: RwLock<VecDeque<(u64, Bytes)>>,
    capacity: usize,
    latest: watch::Sender<u64>,
    config: BroadcastConfig,
    down: AtomicBool,
    keepalive: bool,
}

impl Hub {
    pub(crate) fn new(config: BroadcastConfig) -> Arc<Hub> {
        let capacity = config.replay.max(LIVE_RING);
        let keepalive = 1.0 / config.rate > KEEPALIVE.as_secs_f64();
        Arc::new(Hub {
            ring: RwLock::new(VecDeque::with_capacity(capacity)),
            capacity,
            latest: watch::Sender::new(0),
            config,
            down: AtomicBool::new(false),
            keepalive,
        })
    }

    /// The listener is down (`shutdown` fault) or up again.
    pub(crate) fn set_down(&self, down: bool) {
        self.down.store(down, Ordering::Relaxed);
    }

    fn publish(&self, id: u64, ts_ms: u64, stats: &Stats) {
        let event = encode(id, ts_ms);
        {
            let mut ring = self.ring.write().unwrap_or_else(|p| p.into_inner());
            if ring.len() == self.capacity {
                ring.pop_front();
            }
            ring.push_back((id, event));
        }
        stats.published(self.down.load(Ordering::Relaxed));
        self.latest.send_replace(id);
    }

    /// Appends to `out` every event after `cursor` still in the ring;
    /// returns the new cursor.
    fn read_after(&self, cursor: u64, out: &mut VecDeque<Bytes>) -> u64 {
        let ring = self.ring.read().unwrap_or_else(|p| p.into_inner());
        let Some(&(oldest, _)) = ring.front() else {
            return cursor;
        };
        let skip = usize::try_from((cursor + 1).saturating_sub(oldest)).unwrap_or(usize::MAX);
        let mut last = cursor;
        for (id, event) in ring.iter().skip(skip) {
            out.push_back(event.clone());
            last = *id;
        }
        last
    }
}

/// The publisher: runs until the task is aborted (the server stops).
///
/// Publishes `floor(elapsed × rate)` events in total, in ticks of at least
/// 1 ms, so high rates are batched and none is skipped.
pub(crate) async fn publish(hub: Arc<Hub>, stats: Arc<Stats>) {
    let start = tokio::time::Instant::now();
    let tick = Duration::from_secs_f64(1.0 / hub.config.rate).max(Duration::from_millis(1));
    let mut sent: u64 = 0;
    let mut next = start + tick;
    loop {
        tokio::time::sleep_until(next).await;
        let due = (start.elapsed().as_secs_f64() * hub.config.rate) as u64;
        let ts_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        while sent < due {
            sent += 1;
            hub.publish(sent, ts_ms, &stats);
        }
        next += tick;
    }
}

/// One subscriber's response body.
pub(crate) fn subscriber(
    hub: Arc<Hub>,
    stats: Arc<Stats>,
    last_event_id: Option<&str>,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + 'static {
    let rx = hub.latest.subscribe();
    let latest = *rx.borrow();
    let resumed = last_event_id.and_then(|id| id.trim().parse::<u64>().ok());
    let cursor = start_after(last_event_id, latest, hub.config.replay);
    stats.stream_started();
    let state = Sub {
        fresh: true,
        pending: VecDeque::new(),
        guard: Guard(stats),
        resumed,
        cursor,
        rx,
        hub,
    };
    futures_util::stream::unfold(state, |mut s| async move {
        loop {
            if let Some(event) = s.pending.pop_front() {
                s.guard.0.event_sent();
                return Some((Ok(event), s));
            }
            let changed = if s.fresh {
                // A replay is due at once, not after the next publish.
                s.fresh = false;
                Ok(())
            } else if s.hub.keepalive {
                match tokio::time::timeout(KEEPALIVE, s.rx.changed()).await {
                    Ok(result) => result,
                    Err(_) => return Some((Ok(Bytes::from_static(b": keep-alive\n\n")), s)),
                }
            } else {
                s.rx.changed().await
            };
            if changed.is_err() {
                return None;
            }
            let before = s.pending.len();
            let from = s.cursor;
            s.cursor = s.hub.read_after(s.cursor, &mut s.pending);
            let added = s.pending.len() - before;
            if added > 0 {
                if let Some(last) = s.resumed.take() {
                    let first = s.cursor + 1 - added as u64;
                    s.guard.0.missed(missed(last, first.max(from + 1)));
                }
            }
        }
    })
}

struct Sub {
    /// Nothing read from the ring yet.
    fresh: bool,
    pending: VecDeque<Bytes>,
    guard: Guard,
    /// `Last-Event-ID` as a number, until the first event is sent back.
    resumed: Option<u64>,
    cursor: u64,
    rx: watch::Receiver<u64>,
    hub: Arc<Hub>,
}

/// Counts the subscriber's end (a broadcast stream never completes).
struct Guard(Arc<Stats>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.stream_cut();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding() {
        assert_eq!(
            encode(7, 1_700_000_000_123),
            "id: 7\ndata: {\"id\": 7, \"ts\": 1700000000123, \"Data\": \"Event 7\"}\n\n".as_bytes()
        );
    }

    #[test]
    fn where_a_subscriber_starts() {
        let cases: [(Option<&str>, u64, usize, u64); 8] = [
            (None, 50, 100, 50),        // live only
            (Some("40"), 50, 100, 40),  // replay 41..=50
            (Some("40"), 50, 5, 45),    // replay at most 5
            (Some("40"), 50, 0, 50),    // no replay
            (Some("60"), 50, 100, 50),  // from the future: live
            (Some("abc"), 50, 100, 50), // not a number: live
            (Some(" 3 "), 10, 100, 3),  // whitespace tolerated
            (Some("0"), 0, 100, 0),     // nothing published yet
        ];
        for (header, latest, replay, want) in cases {
            assert_eq!(
                start_after(header, latest, replay),
                want,
                "{header:?} {latest} {replay}"
            );
        }
    }

    #[test]
    fn missed_events() {
        for (last, first, want) in [(10, 11, 0), (10, 15, 4), (10, 10, 0), (10, 3, 0)] {
            assert_eq!(missed(last, first), want, "{last} {first}");
        }
    }

    #[test]
    fn ring_reads_after_a_cursor_and_skips_what_it_dropped() {
        let stats = Stats::default();
        let hub = Hub::new(BroadcastConfig {
            rate: 1.0,
            replay: 0,
            path: None,
        });
        for id in 1..=(LIVE_RING as u64 + 10) {
            hub.publish(id, 0, &stats);
        }
        let mut out = VecDeque::new();
        assert_eq!(
            hub.read_after(LIVE_RING as u64 + 7, &mut out),
            LIVE_RING as u64 + 10
        );
        assert_eq!(out.len(), 3);
        out.clear();
        // Cursor 0: the oldest kept is 11, so 1..=10 are skipped.
        assert_eq!(hub.read_after(0, &mut out), LIVE_RING as u64 + 10);
        assert_eq!(out.len(), LIVE_RING);
        assert!(out[0].starts_with(b"id: 11\n"));
        assert_eq!(stats.snapshot().published, LIVE_RING as u64 + 10);
    }
}
