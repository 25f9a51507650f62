#!/usr/bin/env python3
"""streamsoak benchmarks: the driver (python3 standard library only).

    python3 scripts/bench.py --smoke      # seconds-long versions of everything (CI: < 90 s)
    python3 scripts/bench.py              # full benchmarks, soak reduced to 3 minutes
    python3 scripts/bench.py --long       # full, with the 11-minute soak (minute 1 vs 10)
    python3 scripts/bench.py --only cost,starts --repeat 3

Benchmarks (each prints a table and writes target/bench-results/<name>.csv;
smoke mode writes under target/bench-results/smoke/ so it never overwrites a full run):
  parser       criterion bench benches/parser.rs (MB/s, events/s; 16 KiB and 1-byte chunks)
  cost         client CPU-seconds per million events over the load's plateau, saturated
               and paced, the server on CPU 0: the client pinned to CPU 1 (one arbiter)
               beside the one-thread FLOOR (examples/floor_client.rs --threads 1) pinned
               the same way, and unpinned (one arbiter per core) beside the per-core floor
  concurrency  10,000 long-lived streams: client RSS per open stream, failures
  starts       open model, 1-event streams: highest arrival rate held within 2 %, the
               sweep going on past --rates until a rate fails
  soak         CPU per event and RSS at minute 1 vs minute 10 (--long) / 3 (full) / smoke

Every load run starts the reference server as a separate process
(`streamsoak serve --workers 1`) and the client as another; CPU comes from the
OS (wait4 rusage of the exited child, /proc/PID/stat while it runs), RSS from
/proc/PID/status VmRSS. Before each full-mode run the script waits until the
machine is quiet (other processes below ~0.3 core over 2 s) so numbers are
not inflated by someone else's compile; the CPU the rest of the machine used
during each run is recorded as `other_cpu_s`.

Smoke mode asserts nothing about timings and exits 0 unless something crashed.
"""

import argparse
import csv
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Where cargo puts its output: CARGO_TARGET_DIR when set (CI caches often set
# it), else the repository's target/.
TARGET = Path(os.environ.get("CARGO_TARGET_DIR") or ROOT / "target")
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
CLK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- processes


def proc_sample(pid):
    """(cpu seconds user+sys, VmRSS KiB) of a running process, or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        rest = stat[stat.rindex(")") + 2 :].split()
        cpu = (int(rest[11]) + int(rest[12])) / CLK
        rss = 0
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
        return cpu, rss
    except (OSError, ValueError, IndexError):
        return None


def machine_busy():
    """Busy jiffies of the whole machine (all CPUs), from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / CLK


class Child:
    """A child process with its output in files; reaped with wait4 for its rusage."""

    def __init__(self, name, argv, workdir):
        self.name = name
        self.argv = [str(a) for a in argv]
        self.out_path = workdir / f"{name}.out"
        self.err_path = workdir / f"{name}.err"
        self.started = time.monotonic()
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.popen = subprocess.Popen(self.argv, stdout=out, stderr=err, stdin=subprocess.DEVNULL)
        self.pid = self.popen.pid
        self.status = None
        self.rusage = None

    def poll(self):
        if self.status is None:
            pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self._reaped(status, rusage)
        return self.status

    def _reaped(self, status, rusage):
        self.status = os.waitstatus_to_exitcode(status)
        self.rusage = rusage
        self.popen.returncode = self.status  # so Popen never waits on it again
        self.ended = time.monotonic()

    def wait(self, timeout):
        deadline = time.monotonic() + timeout
        while self.poll() is None:
            if time.monotonic() > deadline:
                self.kill()
                raise RuntimeError(f"{self.name} did not finish within {timeout:.0f} s: killed")
            time.sleep(0.05)
        return self.status

    def stop(self, timeout=5):
        """SIGINT (the server's Ctrl+C path), then SIGKILL if it lingers."""
        if self.poll() is None:
            os.kill(self.pid, signal.SIGINT)
            try:
                self.wait(timeout)
            except RuntimeError:
                pass

    def kill(self):
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            _, status, rusage = os.wait4(self.pid, 0)
            self._reaped(status, rusage)

    def cpu(self):
        return (self.rusage.ru_utime, self.rusage.ru_stime)

    def stdout(self):
        return self.out_path.read_text(errors="replace")

    def stderr(self):
        return self.err_path.read_text(errors="replace")


TASKSET = shutil.which("taskset")


def pinned(cpu):
    """argv prefix running a command on one CPU (`taskset -c N`), or nothing
    (also when taskset is missing: the rows then say pinned = no)."""
    return [] if cpu is None or not TASKSET else [TASKSET, "-c", str(cpu)]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """`streamsoak serve` on a free port, as its own process."""

    def __init__(self, ctx, events, interval, cpu=None):
        self.port = free_port()
        self.child = Child(
            f"serve-{self.port}",
            pinned(cpu) + [ctx.streamsoak, "serve", "--port", self.port, "--events", events,
                           "--interval", interval, "--workers", "1"],
            ctx.work,
        )
        deadline = time.monotonic() + 20
        while True:
            if self.child.poll() is not None:
                raise RuntimeError(f"server exited: {self.child.stderr()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("server did not listen within 20 s")
                time.sleep(0.05)
        self.nofile = open_files_limit(self.child.pid)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def stats(self):
        try:
            with urllib.request.urlopen(self.url + "/stats", timeout=5) as r:
                return json.load(r)
        except (OSError, ValueError):
            return None

    def cpu(self):
        """CPU seconds the server has used so far."""
        s = proc_sample(self.child.pid)
        return s[0] if s else 0.0

    def stop(self):
        self.child.stop()
        return sum(self.child.cpu()) if self.child.rusage else float("nan")


def open_files_limit(pid):
    try:
        for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
            if line.startswith("Max open files"):
                return int(line.split()[3])
    except (OSError, ValueError, IndexError):
        pass
    return None


# ---------------------------------------------------------------- context


class Ctx:
    def __init__(self, args):
        self.args = args
        self.smoke = args.smoke
        self.results = Path(args.results).resolve()
        self.work = self.results / "runs"
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True, exist_ok=True)
        profile = "debug" if self.smoke and not args.release else "release"
        bin_dir = Path(args.bin_dir) if args.bin_dir else TARGET / profile
        self.profile = profile
        self.streamsoak = bin_dir / "streamsoak"
        self.floor = bin_dir / "examples" / "floor_client"
        self.runs = 0

    def quiet(self):
        """Full mode: wait (up to --max-wait) until other processes use < ~0.3 core."""
        if self.smoke:
            return
        waited = 0.0
        while True:
            before = machine_busy()
            time.sleep(2)
            busy = (machine_busy() - before) / 2
            if busy < 0.3:
                return
            if waited >= self.args.max_wait:
                print(f"  ! machine still busy ({busy:.2f} cores) after {waited:.0f} s: running anyway, see other_cpu_s")
                return
            print(f"  … machine busy ({busy:.2f} cores in use by others), waiting")
            waited += 10
            time.sleep(8)

    def scenario(self, name, text):
        path = self.work / f"{name}.toml"
        path.write_text(text)
        return path


def sessions_scenario(name, stages, extra=""):
    stage_text = ", ".join(f'{{ for = "{d}s", to = {n} }}' for d, n in stages)
    return f"""name = "{name}"
target = "embedded"   # replaced by --target
seed = 1
{extra}
[load]
executor = "ramping-sessions"
stages = [ {stage_text} ]
"""


def read_kv(path):
    with open(path, newline="") as f:
        return {row[0]: row[1] for row in csv.reader(f) if len(row) >= 2}


def read_rows(path):
    try:
        with open(path, newline="") as f:
            return list(csv.DictReader(f))
    except OSError:
        return []


def run_client(ctx, scenario, server, budget, sample=None, every=1.0, cpu=None):
    """Runs `streamsoak run` (on CPU `cpu` when given); calls sample(t, cpu_s,
    rss_kib) about every `every` s.

    When `sample` returns True the client gets SIGINT (its Ctrl+C path: a 3 s
    grace, then the report), so long-lived streams need not wait out the
    30 s end-of-plan grace.
    """
    ctx.runs += 1
    out = ctx.work / f"{scenario.stem}-{ctx.runs}"
    busy0, server0 = machine_busy(), server.cpu()
    child = Child(
        f"run-{scenario.stem}-{ctx.runs}",
        pinned(cpu) + [ctx.streamsoak, "run", scenario, "--target", server.url, "--quiet", "--out", out],
        ctx.work,
    )
    next_at = child.started + every
    deadline = child.started + budget
    while child.poll() is None:
        now = time.monotonic()
        if now > deadline:
            child.kill()
            raise RuntimeError(f"{child.name}: no exit within {budget:.0f} s")
        if sample and now >= next_at:
            s = proc_sample(child.pid)
            if s and sample(now - child.started, *s):
                os.kill(child.pid, signal.SIGINT)
                sample = None
            next_at += every
        time.sleep(0.02)
    if child.status not in (0, 1):  # 1 = a threshold failed: still a measurement
        raise RuntimeError(f"{child.name} exited {child.status}: {child.stderr()[-2000:]}")
    busy = machine_busy() - busy0
    server_cpu = server.cpu() - server0
    return {
        "child": child,
        "server_cpu": server_cpu,
        "other_cpu": max(0.0, busy - sum(child.cpu()) - server_cpu),
        "summary": read_kv(out / "summary.csv"),
        "errors": read_rows(out / "errors.csv"),
        "latency": {r["metric"]: r for r in read_rows(out / "latency.csv")},
        "busy": busy,
        "out": out,
    }


def run_floor(ctx, server, concurrency, duration, sample=None, at=None, threads=2, cpu=None):
    """The floor client: `threads` threads (1 = the one-thread floor), on CPU
    `cpu` when given; calls sample(t, cpu_s, rss_kib) about every 0.25 s."""
    ctx.runs += 1
    busy0, server0 = machine_busy(), server.cpu()
    child = Child(
        f"floor-{ctx.runs}",
        pinned(cpu) + [ctx.floor, "--target", f"127.0.0.1:{server.port}", "--concurrency", concurrency,
                       "--duration", duration, "--threads", threads],
        ctx.work,
    )
    sampled = None
    next_at = child.started + 0.25
    while child.poll() is None:
        if sample and time.monotonic() >= next_at:
            s = proc_sample(child.pid)
            if s:
                sample(time.monotonic() - child.started, *s)
            next_at += 0.25
        if at is not None and sampled is None and time.monotonic() - child.started >= at:
            sampled = proc_sample(child.pid)
        if time.monotonic() - child.started > duration + 60:
            child.kill()
            raise RuntimeError("floor client did not stop")
        time.sleep(0.02)
    if child.status != 0:
        raise RuntimeError(f"floor exited {child.status}: {child.stderr()[-2000:]}")
    line = [l for l in child.stdout().splitlines() if l.startswith("floor ")][-1]
    values = dict(kv.split("=", 1) for kv in line.split()[1:])
    busy, server_cpu = machine_busy() - busy0, server.cpu() - server0
    other = max(0.0, busy - sum(child.cpu()) - server_cpu)
    return {"child": child, "values": values, "server_cpu": server_cpu, "other_cpu": other, "sampled": sampled}


def write_csv(ctx, name, rows):
    if not rows:
        return
    path = ctx.results / f"{name}.csv"
    keys = list(rows[0].keys())
    for row in rows[1:]:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)
    print(f"  wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


def table(rows, cols):
    widths = [max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in cols]
    print("  " + "  ".join(c.rjust(w) for c, w in zip(cols, widths)))
    for r in rows:
        print("  " + "  ".join(fmt(r.get(c)).rjust(w) for c, w in zip(cols, widths)))


def fmt(v):
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"
    return "" if v is None else str(v)


def our_failures(errors):
    """errors.csv rows that are failures (cancelled-at-end is how a run stops, not one)."""
    return {f"{r['class']}/{r['kind']}": int(r["count"]) for r in errors if r["kind"] != "cancelled"}


# ---------------------------------------------------------------- benchmarks


def bench_parser(ctx):
    env = dict(os.environ, BENCH_RESULTS_DIR=str(ctx.results))
    if ctx.smoke:
        env["STREAMSOAK_BENCH_SMOKE"] = "1"
        cmd = ["cargo", "test", "--locked", "--quiet", "--bench", "parser", "--", "--bench"]
    else:
        cmd = ["cargo", "bench", "--locked", "--bench", "parser"]
        subprocess.run(cmd + ["--no-run", "--quiet"], cwd=ROOT, check=True)  # compile, then measure quietly
        ctx.quiet()
    print("  $ " + " ".join(cmd))
    r = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    tail = r.stdout[r.stdout.find("case "):] if "case " in r.stdout else r.stdout[-3000:]
    print("  " + tail.strip().replace("\n", "\n  "))
    if r.returncode != 0:
        raise RuntimeError(f"parser bench failed: {r.stderr[-3000:]}")


class Plateau:
    """Samples (t, client CPU s, server events sent) while a client runs and
    answers for the plateau window only: from the end of the ramp plus
    `settle` to `tail` before the planned end, so start-up, the ramp and the
    end-of-run grace are not in the figures."""

    def __init__(self, server, start, end):
        self.server, self.start, self.end = server, start, end
        self.points = []

    def __call__(self, t, cpu, rss):
        if self.start <= t <= self.end:
            st = self.server.stats() or {}
            self.points.append((t, cpu, st.get("events_sent", 0)))
        return False

    def window(self):
        """(seconds, client CPU s, events) between the first and last sample in the window."""
        if len(self.points) < 2:
            return None
        (t0, c0, e0), (t1, c1, e1) = self.points[0], self.points[-1]
        return t1 - t0, c1 - c0, e1 - e0


def cost_run(ctx, label, sessions, events, interval_ms, duration, client, rep):
    """One plateau measurement: `client` is ("streamsoak", cpu) or ("floor", threads, cpu).

    The server (`serve --workers 1`) runs on CPU 0; a pinned client on CPU 1
    (so one arbiter: `run` starts one per CPU it may use), an unpinned one
    wherever the OS puts it (one arbiter per core). The streamsoak client
    ramps to `sessions` in `ramp` s and holds; the floor opens all its
    streams at once. CPU = the client's user+sys from /proc/PID/stat, events
    = the server's `events_sent`, both over the same plateau window.
    """
    ramp = 0.5 if ctx.smoke else 1.0
    settle, tail = (0.5, 0.25) if ctx.smoke else (1.0, 0.5)
    ctx.quiet()
    server = Server(ctx, events, f"{interval_ms}ms", cpu=0)
    try:
        plateau = Plateau(server, ramp + settle, duration - tail)
        busy0, server0 = machine_busy(), server.cpu()
        if client[0] == "streamsoak":
            cpu = client[1]
            scen = ctx.scenario(f"cost-{label}", sessions_scenario(
                f"bench-{label}", [(ramp, sessions), (duration - ramp, sessions)]))
            run = run_client(ctx, scen, server, budget=duration + 90, sample=plateau, every=0.25, cpu=cpu)
            whole_cpu = sum(run["child"].cpu())
            s = run["summary"]
            failed = int(s["streams_failed"]) + sum(our_failures(run["errors"]).values())
            name, threads = "streamsoak", None
        else:
            _, threads, cpu = client
            floor = run_floor(ctx, server, sessions, duration, sample=plateau, threads=threads, cpu=cpu)
            whole_cpu = sum(floor["child"].cpu())
            failed = int(floor["values"]["errors"])
            name = f"floor-{threads}t"
        busy, server_cpu = machine_busy() - busy0, server.cpu() - server0
    finally:
        server.stop()
    w = plateau.window()
    if not w or not w[2]:
        raise RuntimeError(f"{label}/{name}: no plateau samples (run too short?)")
    secs, cpu_s, ev = w
    return dict(bench=label, rep=rep, client=name, pinned="cpu1" if pinned(cpu) else "no",
                threads=threads, sessions=sessions, events_per_stream=events, interval_ms=interval_ms,
                window_s=round(secs, 2), events=ev, events_per_s=round(ev / secs, 1),
                cpu_s=round(cpu_s, 3), cpu_s_per_M_events=round(cpu_s / ev * 1e6, 3),
                cpu_whole_run_s=round(whole_cpu, 3), failed=failed,
                server_cpu_s=round(server_cpu, 2),
                other_cpu_s=round(max(0.0, busy - whole_cpu - server_cpu), 2),
                nofile_server=server.nofile)


def ratio(a, b):
    """a / b, rounded; nan when b is 0 (smoke runs are too short to measure)."""
    return round(a / b, 2) if b else float("nan")


def median_of(rows, bench, client, pinned, key="cpu_s_per_M_events"):
    values = [r[key] for r in rows if (r["bench"], r["client"], r["pinned"]) == (bench, client, pinned)]
    return statistics.median(values) if values else float("nan")


def bench_cost(ctx):
    """The issue's rows: saturated and paced, pinned, beside the one-thread
    floor; paced unpinned (one arbiter per core) beside pinned and the
    per-core floor; saturated events/s with 1 and 2 arbiters."""
    d = 2 if ctx.smoke else 15
    paced_sessions = 20 if ctx.smoke else 200
    one, per_core = ("floor", 1, 1), ("floor", os.cpu_count() or 2, None)
    plan = [
        ("saturated", 50, 200, 0, [("streamsoak", 1), one, ("streamsoak", None), per_core]),
        ("paced", paced_sessions, 50, 20, [("streamsoak", 1), one, ("streamsoak", None), per_core]),
    ]
    keep = [r.strip() for r in ctx.args.cost_rows.split(",") if r.strip()]
    plan = [p for p in plan if p[0] in keep]
    if not plan:
        raise SystemExit(f"--cost-rows {ctx.args.cost_rows!r}: choose from saturated,paced")
    rows = []
    for rep in range(1, ctx.args.repeat + 1):
        for label, sessions, events, interval_ms, clients in plan:
            for client in clients:
                rows.append(cost_run(ctx, label, sessions, events, interval_ms, d, client, rep))
    table(rows, ["bench", "rep", "client", "pinned", "window_s", "events", "events_per_s", "cpu_s",
                 "cpu_s_per_M_events", "failed", "server_cpu_s", "other_cpu_s"])
    summary = []
    floor_1t, floor_pc = "floor-1t", f"floor-{per_core[1]}t"
    for label, *_ in plan:
        pinned = median_of(rows, label, "streamsoak", "cpu1")
        unpinned = median_of(rows, label, "streamsoak", "no")
        f1, fpc = median_of(rows, label, floor_1t, "cpu1"), median_of(rows, label, floor_pc, "no")
        summary += [
            dict(bench=label, row="pinned (1 arbiter) vs one-thread floor", streamsoak=pinned, floor=f1,
                 ratio=ratio(pinned, f1)),
            dict(bench=label, row="unpinned (1 arbiter per core) vs per-core floor", streamsoak=unpinned,
                 floor=fpc, ratio=ratio(unpinned, fpc)),
            dict(bench=label, row="unpinned vs pinned", streamsoak=unpinned, floor=pinned,
                 ratio=ratio(unpinned, pinned)),
        ]
    sat1 = median_of(rows, "saturated", "streamsoak", "cpu1", "events_per_s")
    sat2 = median_of(rows, "saturated", "streamsoak", "no", "events_per_s")
    print(f"\n  medians of {ctx.args.repeat} run(s), CPU-s per million events:")
    table(summary, ["bench", "row", "streamsoak", "floor", "ratio"])
    print(f"  saturated events/s: 1 arbiter (pinned) {sat1:.0f}, {os.cpu_count()} arbiters (unpinned) {sat2:.0f}"
          f" (the one-worker server sets the ceiling)")
    write_csv(ctx, "client_cost", rows)
    write_csv(ctx, "client_cost_summary", summary)


def bench_concurrency(ctx):
    n, ramp, hold = (300, 1, 4) if ctx.smoke else (10_000, 10, 60)
    stream = '[stream]\nidle_timeout = "10s"\nmax_duration = "30m"\n'
    rows = []
    base_hold = 2 if ctx.smoke else 5
    for label, sessions, r, h in (("baseline", 10, 1, base_hold), ("held", n, ramp, hold)):
        ctx.quiet()
        server = Server(ctx, 1_000_000, "1s")
        samples = []
        at = r + h - 1.5  # sample near the end of the hold, before ramp-down

        def sample(t, cpu, rss):
            if t < at:
                return False
            st = server.stats() or {}
            open_streams = st.get("streams_started", 0) - st.get("streams_completed", 0) - st.get("streams_cut", 0)
            samples.append((t, cpu, rss, open_streams))
            return True  # sampled: stop the client now

        try:
            scen = ctx.scenario(f"concurrency-{label}", sessions_scenario(
                f"bench-concurrency-{label}", [(r, sessions), (h, sessions)], stream))
            run = run_client(ctx, scen, server, budget=r + h + 120, sample=sample, every=0.25)
            floor = floor_base = None
            if label == "held" and not ctx.args.no_floor_concurrency:
                ctx.quiet()
                floor_base = run_floor(ctx, server, 10, 3, at=2)
                floor = run_floor(ctx, server, sessions, r + h, at=at)
        finally:
            server_cpu = server.stop()
        t, cpu, rss, open_streams = samples[0] if samples else (None, None, None, None)
        row = dict(run=label, sessions=sessions, ramp_s=r, hold_s=h, sampled_at_s=t and round(t, 1),
                   open_streams_server=open_streams, client_rss_kib=rss,
                   client_max_rss_kib=run["child"].rusage.ru_maxrss,
                   streams_failed=int(run["summary"]["streams_failed"]),
                   failures=json.dumps(our_failures(run["errors"])),
                   client_cpu_s=round(sum(run["child"].cpu()), 2), server_cpu_s=round(server_cpu, 2),
                   nofile_client=resource.getrlimit(resource.RLIMIT_NOFILE)[0], nofile_server=server.nofile)
        rows.append(row)
        if floor and floor_base and floor["sampled"] and floor_base["sampled"]:
            rows.append(dict(run="floor", sessions=sessions, ramp_s=0, hold_s=r + h,
                             sampled_at_s=round(at, 1), client_rss_kib=floor["sampled"][1],
                             floor_baseline_rss_kib=floor_base["sampled"][1],
                             client_max_rss_kib=floor["child"].rusage.ru_maxrss,
                             streams_failed=int(floor["values"]["errors"]),
                             client_cpu_s=round(sum(floor["child"].cpu()), 2)))
    base, held = rows[0], rows[1]
    if held["client_rss_kib"] and base["client_rss_kib"] and held["open_streams_server"]:
        per = (held["client_rss_kib"] - base["client_rss_kib"]) / max(1, held["open_streams_server"] - (base["open_streams_server"] or 0))
        held["rss_kib_per_open_stream"] = round(per, 2)
        for r in rows[2:]:
            per_floor = (r["client_rss_kib"] - r["floor_baseline_rss_kib"]) / held["sessions"]
            r["rss_kib_per_open_stream"] = round(per_floor, 2)
            held["rss_ratio_to_floor"] = round(per / per_floor, 2) if per_floor > 0 else None
    table(rows, ["run", "sessions", "open_streams_server", "client_rss_kib", "rss_kib_per_open_stream",
                 "rss_ratio_to_floor", "streams_failed", "failures", "client_cpu_s", "nofile_server"])
    write_csv(ctx, "concurrency", rows)


def bench_starts(ctx):
    """The given rates, then (full mode) ×1.25 steps past the last one until
    a rate is not held, so the ceiling is known."""
    rates, d = ([200, 500], 2) if ctx.smoke else ([int(r) for r in ctx.args.rates.split(",")], 10)
    rows = []
    while rates:
        rate = rates.pop(0)
        ctx.quiet()
        server = Server(ctx, 1, "0ms")
        try:
            scen = ctx.scenario(f"starts-{rate}", f"""name = "bench-starts-{rate}"
target = "embedded"
seed = 1
[load]
executor = "constant-arrival-rate"
rate = {rate}
for = "{d}s"
max_sessions = 1000
""")
            run = run_client(ctx, scen, server, budget=d + 90)
        finally:
            server.stop()
        s = run["summary"]
        started, ok = int(s["streams_started"]), int(s["streams_ok"])
        dropped, failed = int(s["dropped_arrivals"]), int(s["streams_failed"])
        planned = rate * d
        stream = run["latency"].get("stream", {})
        held = started >= 0.98 * planned and ok >= 0.98 * planned and dropped == 0 and failed == 0
        cpu = sum(run["child"].cpu())
        rows.append(dict(rate=rate, seconds=d, planned=planned, started=started, ok=ok, failed=failed,
                         dropped=dropped, achieved_per_s=round(ok / d, 1),
                         stream_p50_ms=stream.get("p50_ms"), stream_p99_ms=stream.get("p99_ms"),
                         client_cpu_s=round(cpu, 2), client_cpu_ms_per_start=round(cpu / max(1, started) * 1e3, 3),
                         server_cpu_s=round(run["server_cpu"], 2), other_cpu_s=round(run["other_cpu"], 2),
                         failures=json.dumps(our_failures(run["errors"])), held=held))
        if not rates and held and not ctx.smoke and len(rows) < 40:
            rates.append(int(round(rate * 1.25, -2)))  # keep going until one fails
    table(rows, ["rate", "planned", "started", "ok", "failed", "dropped", "achieved_per_s", "stream_p50_ms",
                 "stream_p99_ms", "client_cpu_ms_per_start", "server_cpu_s", "other_cpu_s", "held"])
    best = max([r["rate"] for r in rows if r["held"]], default=0)
    failed = [r["rate"] for r in rows if not r["held"]]
    print(f"  highest arrival rate held within 2 % with no dropped arrivals: {best}/s"
          + (f"; first not held: {failed[0]}/s" if failed else " (no rate failed)"))
    write_csv(ctx, "starts", rows)


def bench_soak(ctx):
    if ctx.smoke:
        total, windows = 10, [(1, 4), (6, 9)]
        sessions = 20
    elif ctx.args.long:
        total, windows = 610, [(0, 60), (540, 600)]
        sessions = 200
    else:
        total, windows = 190, [(0, 60), (120, 180)]
        sessions = 200
    ctx.quiet()
    server = Server(ctx, 50, "20ms")
    points = []  # (t, cpu_s, rss_kib, server events_sent, machine busy s, server cpu s)

    def sample(t, cpu, rss):
        st = server.stats() or {}
        points.append((t, cpu, rss, st.get("events_sent", 0), machine_busy(), server.cpu()))

    try:
        scen = ctx.scenario("soak", sessions_scenario("bench-soak", [(0, sessions), (total, sessions)]))
        run = run_client(ctx, scen, server, budget=total + 120, sample=sample, every=1.0)
    finally:
        server.stop()
    # Every minute (every 2 s in smoke mode) too, to see a trend rather than two points.
    step = 2 if ctx.smoke else 60
    per_minute = []
    for a in range(0, int(points[-1][0]) if points else 0, step):
        inside = [p for p in points if a <= p[0] <= a + step + 0.5]
        if len(inside) < 2:
            continue
        p0, p1 = inside[0], inside[-1]
        ev, cpu = p1[3] - p0[3], p1[1] - p0[1]
        other = (p1[4] - p0[4]) - cpu - (p1[5] - p0[5])
        per_minute.append(dict(from_s=round(p0[0], 1), to_s=round(p1[0], 1), events=ev, cpu_s=round(cpu, 2),
                               cpu_s_per_M_events=round(cpu / ev * 1e6, 3) if ev else None, rss_kib=p1[2],
                               server_cpu_s=round(p1[5] - p0[5], 2), other_cpu_s=round(max(0.0, other), 2)))
    write_csv(ctx, "soak_trend", per_minute)
    rows = []
    for i, (a, b) in enumerate(windows):
        inside = [p for p in points if a <= p[0] <= b + 0.5]
        if len(inside) < 2:
            continue
        p0, p1 = inside[0], inside[-1]
        ev = p1[3] - p0[3]
        other = (p1[4] - p0[4]) - (p1[1] - p0[1]) - (p1[5] - p0[5])
        rows.append(dict(window=f"{'first' if i == 0 else 'last'} [{a}-{b} s]", from_s=round(p0[0], 1),
                         to_s=round(p1[0], 1), events=ev, cpu_s=round(p1[1] - p0[1], 2),
                         other_cpu_s=round(max(0.0, other), 2),
                         cpu_s_per_M_events=round((p1[1] - p0[1]) / ev * 1e6, 3) if ev else None,
                         rss_kib_end=p1[2], sessions=sessions, failed_streams=int(run["summary"]["streams_failed"])))
    if len(rows) == 2 and rows[0]["cpu_s_per_M_events"]:
        rows[1]["cpu_drift"] = round(rows[1]["cpu_s_per_M_events"] / rows[0]["cpu_s_per_M_events"], 3)
        rows[1]["rss_drift_kib"] = rows[1]["rss_kib_end"] - rows[0]["rss_kib_end"]
    table(rows, ["window", "events", "cpu_s", "cpu_s_per_M_events", "rss_kib_end", "cpu_drift", "rss_drift_kib",
                 "other_cpu_s"])
    write_csv(ctx, "soak", rows)


BENCHES = {"parser": bench_parser, "cost": bench_cost, "concurrency": bench_concurrency,
           "starts": bench_starts, "soak": bench_soak}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smoke", action="store_true", help="seconds-long versions (debug build), for CI")
    p.add_argument("--long", action="store_true", help="soak for 11 minutes (minute 1 vs minute 10)")
    p.add_argument("--only", default=",".join(BENCHES), help="comma-separated subset of " + ",".join(BENCHES))
    p.add_argument("--repeat", type=int, default=1, help="repetitions of each cost run")
    p.add_argument("--cost-rows", default="saturated,paced",
                   help="which workloads the cost benchmark runs (comma-separated: saturated,paced)")
    p.add_argument("--rates", default="1000,5000,10000,16000,20000,25000,30000",
                   help="arrival rates (streams/s) tried by the starts benchmark, 10 s each; "
                        "past the last one held it goes on in x1.25 steps until a rate is not held")
    p.add_argument("--results", help="output folder (default target/bench-results, smoke: target/bench-results/smoke)")
    p.add_argument("--bin-dir", help="folder holding streamsoak and examples/floor_client")
    p.add_argument("--release", action="store_true", help="smoke with the release build")
    p.add_argument("--no-build", action="store_true", help="use the binaries as they are")
    p.add_argument("--no-floor-concurrency", action="store_true", help="skip the floor in the concurrency run")
    p.add_argument("--max-wait", type=float, default=600, help="seconds to wait for a quiet machine per run")
    args = p.parse_args()
    if not args.results:
        args.results = str(TARGET / "bench-results" / ("smoke" if args.smoke else ""))
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = [b for b in only if b not in BENCHES]
    if unknown:
        p.error(f"unknown benchmark(s) {unknown}; choose from {list(BENCHES)}")

    # 10,000 streams need 10,000+ descriptors in the client AND the server;
    # `serve` does not raise its own limit, so raise ours and let both inherit it.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass
    ctx = Ctx(args)
    ctx.results.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    print(f"streamsoak bench ({'smoke' if args.smoke else 'full'}; {ctx.profile} build; "
          f"nproc {os.cpu_count()}; RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)[0]})")
    if not args.no_build:
        cmd = ["cargo", "build", "--locked", "--quiet", "--bin", "streamsoak", "--example", "floor_client"]
        if ctx.profile == "release":
            cmd.insert(2, "--release")
        print("  $ " + " ".join(cmd))
        subprocess.run(cmd, cwd=ROOT, check=True)
    crashed = []
    for name in only:
        print(f"\n== {name}")
        started = time.monotonic()
        try:
            BENCHES[name](ctx)
        except Exception as err:  # report every benchmark, then fail
            crashed.append(name)
            print(f"  !! {name} crashed: {err}")
        print(f"  ({time.monotonic() - started:.1f} s)")
    print(f"\nbench done in {time.monotonic() - t0:.1f} s; results in {ctx.results}")
    if crashed:
        print(f"crashed: {', '.join(crashed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
