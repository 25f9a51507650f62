#!/usr/bin/env python3
"""Soak memory benchmark: does streamsoak's memory stay flat over a long run?

Runs 1,000 sessions with short streams (4 events, 50 ms apart) against a
`streamsoak serve` process on 127.0.0.1 for N minutes (default 10; --minutes 60
for the 1-hour variant, --smoke for a 40-second check), samples the client's
RSS (VmRSS from /proc) every 10 s into target/bench-results/soak-memory.csv,
and compares the RSS after warm-up (the first 20 % of the run, at least 30 s)
with the RSS at the end. Histograms, breaker logs and time series must stay
bounded or go to disk, so growth past 5 % is reported as FAIL (exit 1).

Usage: python3 scripts/soak-memory.py [--minutes N] [--sessions N] [--smoke]
Needs the release binary: cargo build --release
"""

import argparse
import csv
import os
import pathlib
import re
import signal
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
# CARGO_TARGET_DIR when set (CI caches often set it), else target/.
TARGET = pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
BIN = TARGET / "release" / "streamsoak"
RESULTS = TARGET / "bench-results"


def rss_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def start_server():
    proc = subprocess.Popen(
        [str(BIN), "serve", "--port", "0", "--events", "4", "--interval", "50ms", "--workers", "1"],
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        match = re.search(r"listening on (\S+)", line)
        if match:
            return proc, match.group(1)
    proc.kill()
    sys.exit("soak-memory: serve did not start")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    parser.add_argument("--smoke", action="store_true", help="40 s, 200 sessions, 5 s samples")
    args = parser.parse_args()
    if args.smoke:
        args.minutes, args.sessions, args.sample = 40 / 60, 200, 5.0
    if not BIN.exists():
        sys.exit(f"soak-memory: {BIN} missing: run `cargo build --release` first")
    RESULTS.mkdir(parents=True, exist_ok=True)
    total = args.minutes * 60
    ramp = min(10.0, total / 4)
    server, addr = start_server()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            scenario = pathlib.Path(tmp) / "soak.toml"
            scenario.write_text(
                f'''name = "soak-memory"
target = "http://{addr}"
[load]
stages = [ {{ for = "{ramp:.0f}s", to = {args.sessions} }}, {{ for = "{total - ramp:.0f}s", to = {args.sessions} }} ]
think_time = "100ms"
'''
            )
            client = subprocess.Popen(
                [str(BIN), "run", str(scenario), "--quiet", "--out", str(pathlib.Path(tmp) / "report")],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            samples = []
            start = time.monotonic()
            next_sample = start
            while client.poll() is None and time.monotonic() - start < total + 120:
                now = time.monotonic()
                if now >= next_sample:
                    kib = rss_kib(client.pid)
                    if kib is not None:
                        samples.append((now - start, kib))
                        print(f"  t={now - start:6.0f}s rss={kib / 1024:7.1f} MiB", flush=True)
                    next_sample += args.sample
                time.sleep(0.2)
            if client.poll() is None:
                client.send_signal(signal.SIGINT)
            client.wait(timeout=60)
            summary = {}
            with open(pathlib.Path(tmp) / "report" / "summary.csv") as f:
                for row in csv.DictReader(f):
                    summary[row["key"]] = row["value"]
    finally:
        server.kill()
        server.wait()

    out = RESULTS / "soak-memory.csv"
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["t_s", "rss_kib"])
        for t, kib in samples:
            w.writerow([f"{t:.1f}", kib])
    warm = max(30.0, total * 0.2) if not args.smoke else total * 0.4
    after = [kib for t, kib in samples if t >= warm and t <= total]
    if len(after) < 2:
        print(f"soak-memory: too few samples after warm-up ({len(after)}); see {out}")
        return 0
    base, end, peak = after[0], after[-1], max(after)
    growth = (end - base) / base * 100
    verdict = "PASS" if growth <= 5.0 else "FAIL"
    print(
        f"soak-memory: {args.sessions} sessions, {args.minutes:g} min, "
        f"{summary.get('streams_ok', '?')} streams ok, {summary.get('events', '?')} events; "
        f"RSS after warm-up {base / 1024:.1f} MiB, end {end / 1024:.1f} MiB, peak {peak / 1024:.1f} MiB, "
        f"growth {growth:+.1f} % (limit 5 %): {verdict}; samples in {out}"
    )
    return 0 if verdict == "PASS" or args.smoke else 1


if __name__ == "__main__":
    sys.exit(main())
