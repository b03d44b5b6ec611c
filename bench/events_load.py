#!/usr/bin/env python
"""Load on the events endpoint (issue 6 item 5): POST /api/events/ at a fixed rate for a fixed time,
on loopback only; every accepted (202) event must be recorded exactly once.

    DATABASE_URL='postgres://postgres@127.0.0.1:5432/adce_bench_events?conn_max_age=60' \\
        /tmp/venv/bin/python bench/events_load.py                  # 200 req/s for 60 s (defaults)
    … --rate 200 --seconds 60 --server waitress|runserver --auth bearer|signature --workers 48 \
      --server-threads 8

The server is started here on 127.0.0.1 (a free port), DEBUG off, with its own events token:
waitress (a dev dependency, pure-Python WSGI server, 8 threads) by default, or `manage.py runserver
--noreload`. The database named by DATABASE_URL is migrated first (SQLite or PostgreSQL; PostgreSQL
is what the numbers in docs/reliability.md use).

The load generator is open-loop with a fixed schedule: request i is due at t0 + i/rate, whatever
happened to the earlier ones (no coordinated omission). `--workers` threads with keep-alive
connections take the next due request; latency is measured from the moment the request was
*due* (what a client waiting on the schedule sees) and from the moment it was *sent*. Each request
has a unique dedupe id (`load-<run>-<i>`). Bounded: rate × seconds requests at most, and a hard
stop at seconds + 30 s.

Checks after the run: the rows recorded for this run = the 202 answers (ids equal, one row per
dedupe id, none marked duplicate), and nothing answered 5xx. Exit 0 when every check holds and
the target rate was reached (≥ 95 % of the requests sent on time), else 1.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import secrets
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
SERVER_LOG = os.path.join(os.environ.get("TMPDIR", "/tmp"), "adce-events-load-server.log")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(kind: str, port: int, env: dict, threads: int = 8) -> subprocess.Popen:
    if kind == "waitress":
        cmd = [PYTHON, "-m", "waitress", "--listen", f"127.0.0.1:{port}", "--threads", str(threads),
               "--connection-limit", "200", "adce_site.wsgi:application"]
    else:
        cmd = [PYTHON, "manage.py", "runserver", "--noreload", "--nothreading" if kind == "runserver-1" else
               "--insecure", f"127.0.0.1:{port}"]
    # The server's output goes to a file: a pipe nobody reads fills up and blocks the server.
    log = open(SERVER_LOG, "w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {Path(SERVER_LOG).read_text()[-2000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("server did not start in 30 s")


class Load:
    def __init__(self, *, port, rate, seconds, token, auth, run_id, workers):
        self.port, self.rate, self.seconds = port, rate, seconds
        self.token, self.auth, self.run_id = token, auth, run_id
        self.total = int(rate * seconds)
        self.workers = workers
        self.next = 0
        self.lock = threading.Lock()
        self.results: list[tuple] = []  # (i, status, due_latency_ms, send_latency_ms, late_ms, body)
        self.t0 = 0.0
        self.stop_at = 0.0

    def take(self) -> int | None:
        with self.lock:
            if self.next >= self.total:
                return None
            i = self.next
            self.next += 1
            return i

    def body(self, i: int) -> bytes:
        return json.dumps({"type": "load_test", "source": "bench", "id": f"load-{self.run_id}-{i}",
                           "payload": {"i": i, "run": self.run_id}}).encode()

    def headers(self, body: bytes) -> dict:
        h = {"Content-Type": "application/json"}
        if self.auth == "signature":
            from events.auth import sign

            h["X-ADCE-Signature"] = sign(body, self.token)
        else:
            h["Authorization"] = f"Bearer {self.token}"
        return h

    def worker(self):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        while True:
            i = self.take()
            if i is None:
                break
            due = self.t0 + i / self.rate
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            if time.perf_counter() > self.stop_at:
                break
            body = self.body(i)
            sent = time.perf_counter()
            try:
                conn.request("POST", "/api/events/", body=body, headers=self.headers(body))
                response = conn.getresponse()
                status, payload = response.status, response.read()
            except (OSError, http.client.HTTPException) as exc:
                status, payload = f"error:{type(exc).__name__}", b""
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            done = time.perf_counter()
            self.results.append((i, status, (done - due) * 1000, (done - sent) * 1000, (sent - due) * 1000, payload))
        conn.close()

    def run(self):
        threads = [threading.Thread(target=self.worker, daemon=True) for _ in range(self.workers)]
        self.t0 = time.perf_counter() + 0.5
        self.stop_at = self.t0 + self.seconds + 30  # hard bound
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=self.seconds + 60)
        return time.perf_counter() - self.t0


def pct(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--server", choices=["waitress", "runserver"], default="waitress")
    parser.add_argument("--auth", choices=["bearer", "signature"], default="bearer")
    parser.add_argument("--workers", type=int, default=48)
    parser.add_argument("--server-threads", type=int, default=8,
                        help="waitress threads: 1 measures what one server worker holds")
    args = parser.parse_args()
    if args.rate * args.seconds > 100_000:
        print("refusing more than 100,000 requests (bounded bench)", file=sys.stderr)
        return 2

    token = secrets.token_hex(16)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="adce_site.settings", DEBUG="0", ADCE_EVENTS_TOKEN=token,
               ALLOWED_HOSTS="127.0.0.1,localhost", LOG_LEVEL="ERROR", PYTHONPATH=str(ROOT))
    os.environ.update({k: env[k] for k in ("DJANGO_SETTINGS_MODULE", "ADCE_EVENTS_TOKEN", "DEBUG")})
    sys.path.insert(0, str(ROOT))
    subprocess.run([PYTHON, "manage.py", "migrate", "--verbosity", "0"], cwd=ROOT, env=env, check=True)
    import django

    django.setup()
    from django.db import connection

    from events.models import Event

    run_id = secrets.token_hex(4)
    port = free_port()
    server = start_server(args.server, port, env, args.server_threads)
    try:
        load = Load(port=port, rate=args.rate, seconds=args.seconds, token=token, auth=args.auth, run_id=run_id,
                    workers=args.workers)
        elapsed = load.run()
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()

    results = load.results
    statuses: dict = {}
    for r in results:
        statuses[r[1]] = statuses.get(r[1], 0) + 1
    accepted = [r for r in results if r[1] == 202]
    accepted_ids = [json.loads(r[5])["id"] for r in accepted]
    duplicates_answered = sum(1 for r in accepted if json.loads(r[5]).get("duplicate"))
    rows = Event.objects.filter(dedupe_key__startswith=f"load-{run_id}-")
    row_ids = set(rows.values_list("pk", flat=True))
    row_count = rows.count()
    distinct_keys = rows.values("dedupe_key").distinct().count()
    on_time = sum(1 for r in results if r[4] <= 100)  # sent within 100 ms of its due time
    due_lat = [r[2] for r in accepted]
    send_lat = [r[3] for r in accepted]
    vendor = connection.vendor

    report = {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}",
        "database": vendor, "server": args.server, "auth": args.auth, "run": run_id,
        "target": f"{args.rate:g} req/s × {args.seconds:g} s = {load.total} requests",
        "sent": len(results), "elapsed_s": round(elapsed, 1), "achieved_rate": round(len(results) / elapsed, 1),
        "sent_on_time_pct": round(100 * on_time / max(1, len(results)), 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items(), key=str)},
        "latency_ms_from_send": {"p50": round(pct(send_lat, 50), 1), "p90": round(pct(send_lat, 90), 1),
                                 "p99": round(pct(send_lat, 99), 1), "max": round(max(send_lat, default=0), 1),
                                 "mean": round(statistics.fmean(send_lat), 1) if send_lat else None},
        "latency_ms_from_due": {"p50": round(pct(due_lat, 50), 1), "p99": round(pct(due_lat, 99), 1),
                                "max": round(max(due_lat, default=0), 1)},
        "rows_recorded": row_count, "accepted_202": len(accepted), "distinct_dedupe_keys": distinct_keys,
        "answered_duplicate": duplicates_answered,
    }
    checks = {
        "every 202 recorded exactly once": row_count == len(accepted) == len(set(accepted_ids))
        and set(accepted_ids) == row_ids and distinct_keys == row_count and duplicates_answered == 0,
        "no 5xx or transport errors": all(isinstance(k, int) and k < 500 for k in statuses),
        "every request sent": len(results) == load.total,
        "≥ 95 % sent on schedule": on_time >= 0.95 * load.total,
    }
    report["checks"] = checks
    report["server_log"] = SERVER_LOG
    print(json.dumps(report, indent=2, ensure_ascii=False))
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
