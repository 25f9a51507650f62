//! Timed faults for an external target: the schedule ([`plan`]) and the
//! built-in TCP fault proxy that applies it ([`proxy`]).
//!
//! # Why a TCP proxy
//!
//! The embedded server can fail on command; a real target cannot. To test a
//! breaker against a real target, sessions connect to a [`FaultProxy`] on a
//! loopback port instead, and the proxy forwards each connection to the
//! target's address. It works at the TCP level and never parses the bytes
//! it forwards, so `reset`, `stall` and `latency` work the same for
//! `http://` and `https://` targets (TLS passes through untouched; the
//! client still checks the target's certificate against the target's host
//! name, only the socket address changes). `status` must speak HTTP itself,
//! and `status` and `refuse` rely on HTTP/1.1's request/response turns (see
//! below).
//!
//! The [`FaultPlan`] is pure: it says which fault is active at a time since
//! the start of the run and when that next changes. The caller (the engine)
//! owns the clock, sets a timer for [`FaultPlan::next_change_after`] and calls
//! [`ProxyControl::set`] with what [`FaultPlan::active_at`] returns.
//!
//! # Kept-alive connections
//!
//! The load engine's sessions keep HTTP/1.1 connections alive and reuse them
//! for their next stream (awc's pool), so a fault that only touched new
//! connections would hardly be seen. The proxy therefore also recognises a
//! *new request on an open connection*: an HTTP/1.1 client (no pipelining)
//! sends bytes only to make a request, and the next one only after the
//! previous response began, so the first client bytes after the target last
//! sent (or after the connection opened) start a new request. Later bytes of
//! the same request, and a response (an event stream) in progress, are never
//! touched. `Expect: 100-continue` and protocol upgrades are not recognised;
//! SSE clients use neither.
//!
//! # What each kind does on the wire
//!
//! | kind | new connections | open connections |
//! |---|---|---|
//! | `refuse` | the listener is closed: the kernel answers SYN with RST, the client gets ECONNREFUSED (`connect-refused`) | a new request is not forwarded: the connection is closed with SO_LINGER 0, the client gets an RST (`reset`); streams in flight continue |
//! | `reset` | accepted, then closed with SO_LINGER 0: the client gets an RST (`reset`) | closed with SO_LINGER 0 on both legs (client and target get an RST) |
//! | `stall` | accepted and connected upstream, but no byte flows | no byte flows either way; held bytes (≤ 16 KiB per direction) are delivered when the stall ends, nothing is lost |
//! | `latency` | forwarded | each chunk from the target to the client is written after sleeping the delay (order kept; a burst is slowed to one 16 KiB chunk per delay) |
//! | `status` | answered by the proxy: request headers (≤ 64 KiB) and `Content-Length` body (≤ 1 MiB) read, then `HTTP/1.1 <status> <reason>`, `Content-Length: 0`, `Connection: close`, `Retry-After: <s>` when set; then closed | a new request is answered the same way (the target never sees it), then the connection is closed; streams in flight continue |
//!
//! So `refuse` is what a client sees when a server's listener and its idle
//! keep-alive connections go away: connects are refused, and a connection
//! kept from before fails when it is reused. It does not cut streams in
//! flight; that is `reset`'s job (or `shutdown`'s, for the embedded target).
//!
//! With no fault the proxy copies bytes both ways, propagating half-closes
//! (FIN) in each direction; an error on either leg resets both, so the
//! client sees a reset where it would have without the proxy.
//!
//! `https://` targets: sessions connect to the proxy but keep naming the
//! target (SNI, certificate verified against the target's name, `Host`):
//! the client maps the target's `host:port` to the proxy's address
//! (`client/http.rs`, "Connect-to"). `reset`, `refuse`, `stall` and
//! `latency` work unchanged. `status` cannot: the proxy does not terminate
//! TLS, so a plain-text answer would be a TLS error, not a status; the
//! scenario loader refuses `status` against https targets.
//!
//! HTTP/2 and TLS weaken the "new request" rule for open connections: an
//! HTTP/2 client also sends frames mid-stream (WINDOW_UPDATE, PING and
//! SETTINGS acknowledgements), so under `refuse` and `status` an open
//! HTTP/2 connection may be closed while a stream is in flight, not only
//! at its next request.
//!
//! Connections to the target are only made while a client is connected,
//! and a failed upstream connect resets the client's connection.
//!
//! # How `refuse` is implemented
//!
//! A TCP listener cannot refuse one connection: the kernel completes the
//! handshake before `accept` returns. Accepting and then resetting gives the
//! client a successful connect followed by a reset — the wrong error kind.
//! So for the window the proxy **closes its listening socket**, and binds
//! the same address again (SO_REUSEADDR, which accepted connections inherit,
//! so those still open do not block the bind) when the window ends. Clients
//! then get a real ECONNREFUSED, which the tests assert.
//! [`ProxyControl::settled`] resolves once the listener has been closed or
//! re-bound. Connections that arrive in the instant between `set` and the
//! close are accepted and reset (counted in [`ProxyStats::refused`]), as
//! are those still in the kernel's accept queue when it closes. While closed,
//! another program could in principle take the port; the proxy then keeps
//! retrying the bind (1 s at most between tries) and logs a warning.

mod conn;
pub mod plan;
pub mod proxy;

pub use plan::{
    FaultChange, FaultKind, FaultPlan, FaultSchedule, FaultWindow, OverlapError, ProxyFault,
};
pub use proxy::{FaultProxy, ProxyControl, ProxyStats};

#[cfg(test)]
mod tests;
