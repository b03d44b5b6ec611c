#!/usr/bin/env python
"""S3 fault soak: repeated full listings through the fault proxy with random faults, real backoff.

    python bench/reliability_s3_soak.py [--objects 20000] [--rounds 10] [--page 1000]
                                        [--slowdown 0.05] [--internal 0.02] [--reset 0.02] [--seed 1]

A moto server (in this process' threads) holds --objects keys in 7 top-level prefixes; the fault
proxy (tests/reliability/faultproxy.py) answers each ListObjectsV2 with 503 SlowDown, 500
InternalError or a connection reset with the given probabilities (seeded). Every round lists the
bucket with reconciliation.storage.list_objects (botocore standard retries, ADCE_S3_MAX_ATTEMPTS,
our page resume rounds; real sleeps) and checks the listing equals the bucket's keys exactly. A
fault-free baseline round is timed first. Prints one JSON document: per-round seconds, faults
injected, botocore retries, resumed pages, and whether every completed listing was exact and every
failed one raised (never a partial listing).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


class RandomRule:
    """Quacks like faultproxy.Rule: fires on a ListObjectsV2 with probability p."""

    def __init__(self, action, p, rng):
        self.action, self.p, self.rng, self.fired = action, p, rng, 0

    def applies(self, op, prefix):
        if op != "ListObjectsV2" or self.rng.random() >= self.p:
            return False
        self.fired += 1
        return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--objects", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--page", type=int, default=1000)
    ap.add_argument("--slowdown", type=float, default=0.05)
    ap.add_argument("--internal", type=float, default=0.02)
    ap.add_argument("--reset", type=float, default=0.02)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()

    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                 "AWS_DEFAULT_REGION": "us-east-1"}.items():
        os.environ[k] = v
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends
    from moto.server import ThreadedMotoServer

    from reconciliation.storage import list_objects
    from reconciliation.storage import s3 as s3mod
    from reconciliation.storage.errors import StorageError
    from tests.reliability.faultproxy import FaultProxy

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    bucket = "adce-soak"
    backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
    backend.create_bucket(bucket, "us-east-1")
    layout = ["pbp/{}.json", "box/{}.json", "team/{}.json", "sched/{}.json", "adv/{}.json", "hoopr/{}.parquet",
              "bref/{}.json"]
    keys = sorted(layout[i % len(layout)].format(401000000 + i) for i in range(args.objects))
    for k in keys:
        backend.put_object(bucket, k, b"x")
    s3mod.PAGE_SIZE = args.page
    uri = f"s3://{bucket}/"
    out = {"objects": args.objects, "page": args.page, "rounds": args.rounds,
           "probabilities": {"slowdown": args.slowdown, "internal": args.internal, "reset": args.reset},
           "max_attempts": s3mod._setting("ADCE_S3_MAX_ATTEMPTS", 8), "resume_rounds": s3mod.RESUME_ROUNDS}
    with FaultProxy(f"http://{host}:{port}") as proxy:
        os.environ["AWS_ENDPOINT_URL"] = proxy.url
        t0 = time.perf_counter()
        assert [o.key for o in list_objects(uri)] == keys
        out["baseline_seconds"] = round(time.perf_counter() - t0, 3)
        rng = random.Random(args.seed)
        rules = [RandomRule("slowdown", args.slowdown, rng), RandomRule("internal", args.internal, rng),
                 RandomRule("reset", args.reset, rng)]
        proxy.add(*rules)
        rounds = []
        for _ in range(args.rounds):
            stats = s3mod.ListingStats()
            calls_before = proxy.count(op="ListObjectsV2")
            t0 = time.perf_counter()
            try:
                got = [o.key for o in list_objects(uri, stats=stats)]
                outcome = "exact" if got == keys else "WRONG"
            except StorageError as exc:
                outcome = f"failed: {exc}"
            rounds.append({"seconds": round(time.perf_counter() - t0, 3), "outcome": outcome,
                           "requests": proxy.count(op="ListObjectsV2") - calls_before,
                           "http_retries": stats.http_retries, "resumed_pages": stats.resumed_pages})
        out["faults_injected"] = {r.action: r.fired for r in rules}
    server.stop()
    out["rounds_detail"] = rounds
    secs = [r["seconds"] for r in rounds]
    out["summary"] = {
        "exact": sum(r["outcome"] == "exact" for r in rounds),
        "failed_cleanly": sum(r["outcome"].startswith("failed") for r in rounds),
        "wrong": sum(r["outcome"] == "WRONG" for r in rounds),
        "median_seconds": round(statistics.median(secs), 3), "max_seconds": max(secs),
        "requests": sum(r["requests"] for r in rounds),
        "http_retries": sum(r["http_retries"] for r in rounds),
        "resumed_pages": sum(r["resumed_pages"] for r in rounds),
    }
    print(json.dumps(out, indent=1))
    return 1 if out["summary"]["wrong"] else 0


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
    import django

    django.setup()
    sys.exit(main())
