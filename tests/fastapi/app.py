"""FastAPI twin of streamsoak's embedded reference server (src/server/).

The seed's server: ``POST /trigger_invocation`` with ``{"query": "..."}``
answers ``text/event-stream`` with ``data: {"Count": 1, "Data": "Event 1"}``
... then ``data: {"Data": "Stream completed"}``. Integration tests run
streamsoak against this real FastAPI + uvicorn server, so behaviour that only
a real Python server shows (its framing, its way of dying) is covered too.

Same body knobs as the embedded server, all optional, read leniently (any
content type; an empty or invalid body means defaults):

- ``events``, ``interval_ms``, ``first_delay_ms``, ``payload_bytes``: per-request
  overrides of the defaults below (``payload_bytes`` adds ``"Pad": "xxx..."``).
- ``status`` (+ ``retry_after`` seconds): answer that status instead of a stream;
  429 and 503 get ``Retry-After: 1`` unless ``retry_after`` says otherwise.
- ``content_type``: stream with that Content-Type instead of text/event-stream.
- ``malformed_at: k``: event k's data is not JSON (the stream goes on).
- ``error_at: k``: event k is ``{"error": "..."}`` and the stream ends.
- ``cut_after: k``: the connection is closed after k events (no last chunk).
- ``stall_after: k``: after k events nothing more is sent; the connection stays
  open until the client leaves.

Defaults come from the environment: SSE_EVENTS (4), SSE_INTERVAL_MS (250),
SSE_FIRST_DELAY_MS (0), SSE_PAYLOAD_BYTES (0), SSE_FAIL_RATE (0.0: share of
requests answered 503 with Retry-After: 1), SSE_SEED (0).

``GET /stats`` serves the same counters as the embedded server (the oracle
for cross-checks); ``POST /stats/reset`` zeroes them. One uvicorn worker is
assumed: the counters live in this process.

Difference from the embedded server: Starlette sends
``Content-Type: text/event-stream; charset=utf-8`` (as the seed's server does).

Broadcast (issue #16): ``GET /events`` is one publisher's feed to every
subscriber: SSE_BROADCAST_RATE events/s (default 10), global IDs from 1 (a
restarted process starts again at 1), ``data: {"id": n, "ts": <epoch ms>,
"Data": "Event n"}``, and the last SSE_BROADCAST_REPLAY events (default 0)
replayed after ``Last-Event-ID``. ``missed`` in ``/stats`` counts the IDs a
returning subscriber did not get back (as the embedded server does).

Run: ``.venv-fastapi/bin/python -m uvicorn app:app --port 8000`` from this folder.
"""

import asyncio
import json
import math
import os
import random
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
COMPLETION = 'data: {"Data": "Stream completed"}\n\n'


def _env_number(name, default):
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return float(default)


DEFAULTS = {
    "events": int(_env_number("SSE_EVENTS", 4)),
    "interval_ms": int(_env_number("SSE_INTERVAL_MS", 250)),
    "first_delay_ms": int(_env_number("SSE_FIRST_DELAY_MS", 0)),
    "payload_bytes": int(_env_number("SSE_PAYLOAD_BYTES", 0)),
}
FAIL_RATE = _env_number("SSE_FAIL_RATE", 0.0)
RNG = random.Random(int(_env_number("SSE_SEED", 0)))

STAT_KEYS = (
    "streams_started",
    "streams_completed",
    "streams_cut",
    "events_sent",
    "requests",
    "rejected",
    "published",
    "published_while_down",
    "missed",
)
STATS = dict.fromkeys(STAT_KEYS, 0)

app = FastAPI(title="streamsoak FastAPI test server")


class InjectedCut(Exception):
    """Raised inside the body generator: uvicorn then drops the connection mid-body."""


def number(value):
    """A non-negative JSON number as int (floats truncated); anything else is None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float) and math.isfinite(value) and value >= 0:
        return int(value)
    return None


def event(count, pad):
    fields = {"Count": count, "Data": f"Event {count}"}
    if pad:
        fields["Pad"] = pad
    return f"data: {json.dumps(fields)}\n\n"


async def event_stream(knobs):
    """The seed's event sequence with the knobs' faults; counts into STATS."""
    STATS["streams_started"] += 1
    completed = False
    cut_after = knobs["cut_after"]
    stall_after = knobs["stall_after"]
    pad = "x" * knobs["payload_bytes"]
    try:
        if cut_after == 0:
            raise InjectedCut("cut_after 0")
        if stall_after == 0:
            await asyncio.Event().wait()
        if knobs["first_delay_ms"]:
            await asyncio.sleep(knobs["first_delay_ms"] / 1000)
        for count in range(1, knobs["events"] + 1):
            STATS["events_sent"] += 1
            if knobs["error_at"] == count:
                yield f'data: {json.dumps({"error": f"injected error at event {count}"})}\n\n'
                return
            if knobs["malformed_at"] == count:
                yield f'data: {{"Count": {count}, "Data": malformed\n\n'
            else:
                yield event(count, pad)
            if cut_after == count:
                # Let the events already yielded reach the socket first.
                await asyncio.sleep(0)
                raise InjectedCut(f"cut_after {count}")
            if stall_after == count:
                # Never set: Starlette cancels this when the client disconnects.
                await asyncio.Event().wait()
            if knobs["interval_ms"]:
                await asyncio.sleep(knobs["interval_ms"] / 1000)
        STATS["events_sent"] += 1
        STATS["streams_completed"] += 1
        completed = True
        yield COMPLETION
    finally:
        if not completed:
            STATS["streams_cut"] += 1


@app.post("/trigger_invocation")
async def trigger_invocation(request: Request):
    STATS["requests"] += 1
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}

    def knob(name):
        return number(body.get(name))

    status = knob("status")
    if status is not None and 100 <= status <= 999 and status != 200:
        STATS["rejected"] += 1
        retry_after = knob("retry_after")
        if retry_after is None and status in (429, 503):
            retry_after = 1
        headers = {} if retry_after is None else {"Retry-After": str(retry_after)}
        return JSONResponse({"error": f"injected status {status}"}, status_code=status, headers=headers)
    if FAIL_RATE > 0 and (FAIL_RATE >= 1 or RNG.random() < FAIL_RATE):
        STATS["rejected"] += 1
        return JSONResponse({"error": "injected status 503"}, status_code=503, headers={"Retry-After": "1"})

    knobs = {name: knob(name) for name in DEFAULTS}
    knobs = {name: DEFAULTS[name] if value is None else value for name, value in knobs.items()}
    knobs["payload_bytes"] = min(knobs["payload_bytes"], MAX_PAYLOAD_BYTES)
    for name in ("malformed_at", "error_at"):
        value = knob(name)
        knobs[name] = value if value else None
    knobs["cut_after"] = knob("cut_after")
    knobs["stall_after"] = knob("stall_after")
    content_type = body.get("content_type")
    media_type = content_type if isinstance(content_type, str) else "text/event-stream"
    return StreamingResponse(
        event_stream(knobs),
        media_type=media_type,
        headers={"Cache-Control": "no-cache"},
    )


def chat_chunk(model, delta, finish_reason=None):
    chunk = {
        "id": "chatcmpl-fastapi",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }
    return f"data: {json.dumps(chunk)}\n\n"


async def chat_stream(model, knobs, include_usage):
    """OpenAI's chat completion stream: a role-only chunk at once, the first
    token after first_delay_ms, one every interval_ms, then finish_reason,
    the usage chunk when asked for, and [DONE]; error_at k sends OpenAI's
    error object instead of token k."""
    STATS["streams_started"] += 1
    completed = False
    try:
        STATS["events_sent"] += 1
        yield chat_chunk(model, {"role": "assistant", "content": ""})
        if knobs["first_delay_ms"]:
            await asyncio.sleep(knobs["first_delay_ms"] / 1000)
        tokens = knobs["events"]
        for n in range(1, tokens + 1):
            STATS["events_sent"] += 1
            if knobs["error_at"] == n:
                error = {"message": f"injected error at token {n}", "type": "server_error", "param": None, "code": None}
                yield f"data: {json.dumps({'error': error})}\n\n"
                return
            yield chat_chunk(model, {"content": f"tok{n} "})
            if n < tokens and knobs["interval_ms"]:
                await asyncio.sleep(knobs["interval_ms"] / 1000)
        STATS["events_sent"] += 1
        yield chat_chunk(model, {}, "length")
        if include_usage:
            STATS["events_sent"] += 1
            usage = {"prompt_tokens": 1, "completion_tokens": tokens, "total_tokens": tokens + 1}
            chunk = {"id": "chatcmpl-fastapi", "object": "chat.completion.chunk", "created": 0,
                     "model": model, "choices": [], "usage": usage}
            yield f"data: {json.dumps(chunk)}\n\n"
        STATS["events_sent"] += 1
        STATS["streams_completed"] += 1
        completed = True
        yield "data: [DONE]\n\n"
    finally:
        if not completed:
            STATS["streams_cut"] += 1


@app.post("/v1/chat/completions")
async def chat_completions(request: Request):
    """An OpenAI-style streaming endpoint: `max_tokens` tokens (else `events`),
    with the same timing knobs as /trigger_invocation."""
    STATS["requests"] += 1
    try:
        body = json.loads(await request.body())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    knobs = {name: number(body.get(name)) for name in DEFAULTS}
    knobs = {name: DEFAULTS[name] if value is None else value for name, value in knobs.items()}
    max_tokens = number(body.get("max_tokens"))
    if max_tokens is not None:
        knobs["events"] = max_tokens
    knobs["error_at"] = number(body.get("error_at")) or None
    options = body.get("stream_options")
    include_usage = isinstance(options, dict) and options.get("include_usage") is True
    model = body.get("model") if isinstance(body.get("model"), str) else "fastapi"
    return StreamingResponse(
        chat_stream(model, knobs, include_usage),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


BROADCAST_RATE = max(_env_number("SSE_BROADCAST_RATE", 10), 0.001)
BROADCAST_REPLAY = int(_env_number("SSE_BROADCAST_REPLAY", 0))
RING = []  # (id, encoded event), the last max(replay, 1024)
RING_SIZE = max(BROADCAST_REPLAY, 1024)
PUBLISHED = asyncio.Condition()
PUBLISHER = None


async def publish():
    """Publishes event n at n / rate seconds after the first subscriber came."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    sent = 0
    while True:
        await asyncio.sleep(max(0.001, 1.0 / BROADCAST_RATE))
        due = int((loop.time() - start) * BROADCAST_RATE)
        ts = int(time.time() * 1000)
        async with PUBLISHED:
            while sent < due:
                sent += 1
                data = json.dumps({"id": sent, "ts": ts, "Data": f"Event {sent}"})
                RING.append((sent, f"id: {sent}\ndata: {data}\n\n"))
                if len(RING) > RING_SIZE:
                    del RING[0]
                STATS["published"] += 1
            PUBLISHED.notify_all()


def start_after(last_event_id, latest):
    """The ID a subscriber starts after: its Last-Event-ID within the replay depth, else live."""
    try:
        last = int(last_event_id.strip())
    except (AttributeError, ValueError):
        return latest
    if last < 0 or last > latest:
        return latest
    return max(last, latest - BROADCAST_REPLAY)


async def subscriber(last_event_id):
    STATS["streams_started"] += 1
    latest = RING[-1][0] if RING else 0
    cursor = start_after(last_event_id, latest)
    resumed = None
    if last_event_id is not None and last_event_id.strip().isdigit():
        resumed = int(last_event_id.strip())
    try:
        while True:
            pending = [(i, e) for i, e in RING if i > cursor]
            if not pending:
                async with PUBLISHED:
                    await PUBLISHED.wait()
                continue
            if resumed is not None:
                STATS["missed"] += max(0, pending[0][0] - resumed - 1)
                resumed = None
            for i, text in pending:
                cursor = i
                STATS["events_sent"] += 1
                yield text
    finally:
        STATS["streams_cut"] += 1


@app.get("/events")
async def events(request: Request):
    global PUBLISHER
    STATS["requests"] += 1
    if PUBLISHER is None:
        PUBLISHER = asyncio.create_task(publish())
    return StreamingResponse(
        subscriber(request.headers.get("last-event-id")),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache"},
    )


@app.get("/stats")
async def stats():
    return dict(STATS)


@app.post("/stats/reset")
async def reset_stats():
    for key in STAT_KEYS:
        STATS[key] = 0
    return dict(STATS)
