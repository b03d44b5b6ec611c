#!/usr/bin/env python
"""SQS consumption throughput (SPEC §12): `manage.py consume_s3_events --once` draining a moto server
queue of N S3 event messages (a third bare notifications, a third SNS envelopes, a third EventBridge
events, one record each), beside a peer measured in the same run: a bare receive + delete loop over
the same queue refilled the same way (what SQS and the HTTP hop cost by themselves).

    .venv/bin/python bench/sqs_consume_bench.py [--messages 10000] [--db sqlite|postgres] [--pg-url URL]
                                                [--rounds 2] [--out FILE]

The consumer runs as its own `manage.py` process on a fresh database (SQLite file, or PostgreSQL
database --pg-url, dropped and recreated), with the django-q2 ORM broker: every recorded event also
enqueues its processing task, as in production. Checks: every message is recorded as exactly one
event, the queue ends empty.

Note: moto 5's SQS walks the whole queue on every receive and every deleted message, so its cost grows
with the queue's length; on a shared 2-core box 10,000 messages did not drain in 25 minutes even for
the bare peer (docs/benchmarks.md §4). Use a few hundred messages there.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from tests.events.aws_shapes import eventbridge, notification, s3_record, sns_envelope  # noqa: E402


def bodies(n: int) -> list[str]:
    out = []
    for i in range(n):
        key = f"espn_play_by_play/{401000000 + i}.json"
        seq = f"{0x0055AED6DCD90281E5 + i:018X}"
        if i % 3 == 0:
            doc = notification(s3_record(key, sequencer=seq))
        elif i % 3 == 1:
            doc = sns_envelope(notification(s3_record(key, sequencer=seq)), message_id=f"m-{i}")
        else:
            doc = eventbridge(key, sequencer=seq, event_id=f"e-{i}")
        out.append(json.dumps(doc))
    return out


def fill(client, url: str, messages: list[str]) -> float:
    t0 = time.perf_counter()
    batches = [messages[i:i + 10] for i in range(0, len(messages), 10)]

    def send(batch):
        client.send_message_batch(QueueUrl=url, Entries=[{"Id": str(j), "MessageBody": b} for j, b in enumerate(batch)])

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, batches))
    return time.perf_counter() - t0


def left(client, url: str) -> int:
    a = client.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                   "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(a["ApproximateNumberOfMessages"]) + int(a["ApproximateNumberOfMessagesNotVisible"])


def bare_drain(client, url: str) -> tuple[int, float]:
    """The peer: receive (batches of 10, the same long-polling call) and delete, recording nothing."""
    t0, n = time.perf_counter(), 0
    while True:
        msgs = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages") or []
        if not msgs:
            return n, time.perf_counter() - t0
        for m in msgs:
            json.loads(m["Body"])
        client.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                           for i, m in enumerate(msgs)])
        n += len(msgs)


def fresh_db(kind: str, workdir: Path, pg_url: str) -> dict:
    """The environment of a fresh, migrated database (reconcile_bench's SQLite file or PostgreSQL db)."""
    from bench.reconcile_bench import prepare_db

    env = prepare_db(kind, workdir, pg_url)
    subprocess.run([sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"], env=env, check=True,
                   cwd=ROOT)
    return env


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", ""))
    ap.add_argument("--out")
    args = ap.parse_args(argv)
    if args.db == "postgres" and not args.pg_url:
        ap.error("--db postgres needs --pg-url")

    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    os.environ["AWS_ENDPOINT_URL"] = endpoint
    client = boto3.client("sqs", region_name="us-east-1")
    messages = bodies(args.messages)
    report = {"machine": {"cpus": os.cpu_count(), "load_avg_before": os.getloadavg(), "shared": True},
              "messages": args.messages, "db": args.db, "rounds": []}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for r in range(args.rounds):
                url = client.create_queue(QueueName=f"bench-{r}")["QueueUrl"]
                fill(client, url, messages)
                n, peer_s = bare_drain(client, url)
                assert n == args.messages, n

                env = fresh_db(args.db, Path(tmp), args.pg_url)
                fill_s = fill(client, url, messages)
                t0 = time.perf_counter()
                proc = subprocess.run([sys.executable, str(ROOT / "manage.py"), "consume_s3_events", "--queue-url", url,
                                       "--once", "--wait-seconds", "1", "--json"], env=env, cwd=ROOT,
                                      capture_output=True, text=True)
                wall = time.perf_counter() - t0
                if proc.returncode != 0:
                    sys.stderr.write(proc.stderr[-2000:])
                    return 1
                stats = json.loads(proc.stdout)
                events = subprocess.run(
                    [sys.executable, str(ROOT / "manage.py"), "shell", "-c",
                     "from events.models import Event; print(Event.objects.filter(type='s3_event').count())"],
                    env=env, cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
                row = {"fill_s": round(fill_s, 2), "consume_wall_s": round(wall, 2),
                       "consume_loop_s": stats["seconds"], "events_recorded": stats["recorded"],
                       "events_in_db": int(events), "queue_left": left(client, url),
                       "events_per_s_wall": round(args.messages / wall), "events_per_s_loop": round(args.messages / stats["seconds"]),
                       "peer_bare_drain_s": round(peer_s, 2), "peer_messages_per_s": round(args.messages / peer_s),
                       "ratio_loop_to_peer": round(stats["seconds"] / peer_s, 2)}
                row["ok"] = (row["events_recorded"] == row["events_in_db"] == args.messages and row["queue_left"] == 0)
                report["rounds"].append(row)
                print(json.dumps(row), file=sys.stderr)
    finally:
        server.stop()
    text = json.dumps(report, indent=2)
    if args.out:
        Path(args.out).write_text(text)
    print(text)
    return 0 if all(r["ok"] for r in report["rounds"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
