#!/usr/bin/env python3
"""Many concurrent EventSource subscriptions on one machine (issue #16).

Starts SERVERS `streamsoak serve --mode broadcast` processes (one port each)
and SHARDS `streamsoak run --shard I/SHARDS` processes of one subscribe
scenario, shard I targeting server I % SERVERS and spreading its connections
over `[http] local_addresses` (127.0.0.1 … 127.0.0.K: one address has about
28,000 ephemeral ports towards one server port). While the streams ramp up
and are held, it samples every second each process's RSS (/proc/PID/status)
and each shard's `open_streams` (the last column of its timeseries.csv), then
prints:

- peak open streams (all shards), and failures of our own (errors.csv);
- RSS per open stream of the load processes: the slope of RSS over open
  streams during the ramp (least squares), and RSS/streams at the plateau;
- the same for the servers (per subscriber);
- delivery p50/p99 and events/s from each shard's latency.csv/summary.csv.

Example (the BENCHMARKS.md runs):
  cargo build --release
  scripts/subscribe-scale.py --shards 6 --per-shard 16667 --servers 6 --rate 0.5 --ramp 60 --hold 60
  scripts/subscribe-scale.py --shards 1 --per-shard 10000 --servers 1 --rate 10 --hold 40

Everything binds and targets 127.0.0.0/8; every process is bounded in time.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def last_open_streams(path):
    try:
        with open(path) as f:
            lines = f.read().strip().splitlines()
    except OSError:
        return 0
    if len(lines) < 2:
        return 0
    header = lines[0].split(",")
    if "open_streams" not in header:
        return 0
    return int(lines[-1].split(",")[header.index("open_streams")])


def slope(points):
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in points) / sxx


def read_kv(path):
    with open(path) as f:
        return {r["key"]: r["value"] for r in csv.DictReader(f)}


def read_latency(path, metric):
    with open(path) as f:
        for r in csv.DictReader(f):
            if r["metric"] == metric:
                return r
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=os.path.join(ROOT, "target/release/streamsoak"))
    ap.add_argument("--shards", type=int, default=6)
    ap.add_argument("--per-shard", type=int, default=16_667, help="sessions (= streams) per shard")
    ap.add_argument("--servers", type=int, default=6,
                    help="server processes, one port each (a process holds at most nofile - a few connections)")
    ap.add_argument("--server-workers", type=int, default=1)
    ap.add_argument("--port", type=int, default=18_800, help="first server port")
    ap.add_argument("--rate", type=float, default=1.0, help="broadcast events/s")
    ap.add_argument("--ramp", type=int, default=60, help="seconds to ramp to the peak")
    ap.add_argument("--hold", type=int, default=30, help="seconds at the peak")
    ap.add_argument("--local-addresses", type=int, default=2, help="127.0.0.1 … 127.0.0.K per shard")
    args = ap.parse_args()

    total = args.shards * args.per_shard
    work = tempfile.mkdtemp(prefix="subscribe-scale-")
    hold = args.ramp + args.hold + 30
    ips = ", ".join(f'"127.0.0.{i + 1}"' for i in range(args.local_addresses))
    scenario = os.path.join(work, "scale.toml")
    with open(scenario, "w") as f:
        f.write(f"""name = "subscribe-scale"
target = "http://127.0.0.1:{args.port}"

[request]
method = "GET"
path = "/events"

[stream]
mode = "subscribe"
hold = "{hold}s"
sequence = "id"
timestamp_field = "ts"
idle_timeout = "60s"
first_event_timeout = "60s"

[load]
stages = [{{ for = "{args.ramp}s", to = {total} }}, {{ for = "{args.hold}s", to = {total} }}]
interval = "2s"

[http]
timeout = "60s"
local_addresses = [{ips}]

[retry]
max_retries = 10
""")
    procs = []
    try:
        servers = []
        for i in range(args.servers):
            p = subprocess.Popen(
                [args.bin, "serve", "--mode", "broadcast", "--rate", str(args.rate),
                 "--port", str(args.port + i), "--workers", str(args.server_workers)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            servers.append(p)
            procs.append(p)
        time.sleep(1.0)
        shards = []
        for i in range(args.shards):
            out = os.path.join(work, f"shard-{i + 1}")
            p = subprocess.Popen(
                [args.bin, "run", scenario, "--quiet", "--shard", f"{i + 1}/{args.shards}",
                 "--target", f"http://127.0.0.1:{args.port + i % args.servers}", "--out", out],
                stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, f"shard-{i + 1}.err"), "w"))
            shards.append((p, out))
            procs.append(p)
        load_points, server_points = [], []
        peak, plateau = 0, None
        deadline = time.time() + args.ramp + args.hold + 120
        while time.time() < deadline and any(p.poll() is None for p, _ in shards):
            time.sleep(1.0)
            open_now = sum(last_open_streams(os.path.join(out, "timeseries.csv")) for _, out in shards)
            load_rss = sum(rss_kib(p.pid) or 0 for p, _ in shards)
            server_rss = sum(rss_kib(p.pid) or 0 for p in servers)
            load_points.append((open_now, load_rss))
            server_points.append((open_now, server_rss))
            if open_now >= peak:
                peak = open_now
                plateau = (open_now, load_rss, server_rss)
            print(f"open {open_now:7d}  load RSS {load_rss / 1024:8.1f} MiB  servers RSS {server_rss / 1024:8.1f} MiB",
                  file=sys.stderr, flush=True)
        for p, _ in shards:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
        ramp = [(x, y) for x, y in load_points if 0 < x < peak]
        sramp = [(x, y) for x, y in server_points if 0 < x < peak]
        print(f"\nplanned {total} streams over {args.shards} shards, {args.servers} servers; peak open {peak}")
        if plateau:
            o, l, s = plateau
            print(f"load:   {l / 1024:.0f} MiB at the peak = {l / max(o, 1):.1f} KiB/stream; "
                  f"slope {slope(ramp):.1f} KiB/stream")
            print(f"server: {s / 1024:.0f} MiB at the peak = {s / max(o, 1):.1f} KiB/subscriber; "
                  f"slope {slope(sramp):.1f} KiB/subscriber")
        own_failures = 0
        for i, (_, out) in enumerate(shards):
            try:
                s = read_kv(os.path.join(out, "summary.csv"))
                d = read_latency(os.path.join(out, "latency.csv"), "delivery")
                with open(os.path.join(out, "errors.csv")) as f:
                    errors = list(csv.DictReader(f))
            except OSError as err:
                print(f"shard {i + 1}: no report ({err})")
                continue
            own = [e for e in errors if e["kind"] not in ("cancelled",)]
            own_failures += sum(int(e["count"]) for e in own)
            print(f"shard {i + 1}: streams_ok {s['streams_ok']} failed {s['streams_failed']} events/s {s['events_per_s']} "
                  f"lost {s.get('lost_events')} dup {s.get('duplicate_events')} "
                  f"delivery p50 {d and d['p50_ms']} ms p99 {d and d['p99_ms']} ms; errors {[(e['kind'], e['count']) for e in own]}")
        print(f"failures (not counting `cancelled` at the end): {own_failures}")
        print(f"reports in {work}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


if __name__ == "__main__":
    main()
