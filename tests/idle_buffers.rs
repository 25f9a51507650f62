//! The vendored actix-codec `Framed` (awc's HTTP/1.1 connection) holds no
//! buffer while it waits (issue #16: an open subscription must stay small):
//! both buffers start empty, the write buffer is released once flushed, the
//! read buffer once a read finds nothing buffered and nothing arriving. Reads
//! that go through the per-thread read arena lose and reorder nothing,
//! whether a frame arrives in pieces or is larger than one read.

use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;

use actix_codec::{Framed, LinesCodec};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};

/// Polls the next frame once: `None` when it would wait.
async fn try_next(framed: &mut Framed<DuplexStream, LinesCodec>) -> Option<String> {
    poll_fn(|cx| match Pin::new(&mut *framed).next_item(cx) {
        Poll::Pending => Poll::Ready(None),
        Poll::Ready(Some(Ok(line))) => Poll::Ready(Some(line)),
        Poll::Ready(other) => panic!("unexpected {other:?}"),
    })
    .await
}

#[tokio::test]
async fn a_new_transport_holds_no_buffer() {
    let (io, _peer) = duplex(64);
    let parts = Framed::new(io, LinesCodec::default()).into_parts();
    assert_eq!(parts.read_buf.capacity(), 0);
    assert_eq!(parts.write_buf.capacity(), 0);
}

#[tokio::test]
async fn the_write_buffer_is_released_once_flushed() {
    let (io, mut peer) = duplex(1024);
    let mut framed = Framed::new(io, LinesCodec::default());
    framed.send("GET /events").await.expect("send");
    let mut got = [0u8; 12];
    peer.read_exact(&mut got).await.expect("peer reads");
    assert_eq!(&got, b"GET /events\n");
    assert_eq!(framed.into_parts().write_buf.capacity(), 0);
}

#[tokio::test]
async fn an_idle_read_holds_no_buffer_and_partial_lines_survive() {
    let (io, mut peer) = duplex(64 * 1024);
    let mut framed = Framed::new(io, LinesCodec::default());

    // Nothing sent yet: waiting holds nothing.
    assert_eq!(try_next(&mut framed).await, None);

    // A line in three pieces, the second also starting the next line.
    peer.write_all(b"da").await.expect("write");
    assert_eq!(try_next(&mut framed).await, None);
    peer.write_all(b"ta: 1\nda").await.expect("write");
    assert_eq!(try_next(&mut framed).await.as_deref(), Some("data: 1"));
    assert_eq!(try_next(&mut framed).await, None);
    peer.write_all(b"ta: 2\n").await.expect("write");
    assert_eq!(try_next(&mut framed).await.as_deref(), Some("data: 2"));
    assert_eq!(try_next(&mut framed).await, None);

    // A line larger than one read (8 KiB at least), then two in one read.
    let long = "x".repeat(20_000);
    peer.write_all(format!("{long}\nid: 3\nid: 4\n").as_bytes())
        .await
        .expect("write");
    assert_eq!(framed.next().await.expect("line").expect("ok"), long);
    assert_eq!(try_next(&mut framed).await.as_deref(), Some("id: 3"));
    assert_eq!(try_next(&mut framed).await.as_deref(), Some("id: 4"));

    // Everything consumed and nothing arriving: the read buffer is released.
    assert_eq!(try_next(&mut framed).await, None);
    let parts = framed.into_parts();
    assert!(parts.read_buf.is_empty());
    assert_eq!(
        parts.read_buf.capacity(),
        0,
        "an idle transport keeps no read buffer"
    );
}

#[tokio::test]
async fn the_end_of_input_still_ends_the_stream() {
    let (io, mut peer) = duplex(1024);
    let mut framed = Framed::new(io, LinesCodec::default());
    peer.write_all(b"last\n").await.expect("write");
    drop(peer);
    assert_eq!(framed.next().await.expect("line").expect("ok"), "last");
    assert!(framed.next().await.is_none());
}
