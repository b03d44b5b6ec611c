#!/usr/bin/env python
"""Live listing benchmark: reconciliation.storage.list_objects vs a bare boto3 paginator, side by side.

    python bench/scan_listing.py [--objects 8000] [--reps 5] [--workers N]

A moto server runs in a CHILD process (its own GIL, like a real S3 endpoint) on 127.0.0.1 with a
bucket of --objects keys laid out like the data lake (7 top-level prefixes). Each repetition times,
in alternating order, (a) a bare `get_paginator("list_objects_v2")` listing of the whole bucket and
(b) `list(list_objects("s3://bucket/"))`; both build their client inside the timed section and
both materialise (key, size, last_modified, etag) per object. Prints medians, the ratio and the
ListObjectsV2 call counts as one JSON document.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BUCKET = "nba-sim-raw-data-lake"

SERVER = r'''
import sys, datetime as dt
from moto.core import DEFAULT_ACCOUNT_ID
from moto.s3.models import s3_backends
from moto.server import ThreadedMotoServer
n = int(sys.argv[1]); bucket = sys.argv[2]
backend = s3_backends[DEFAULT_ACCOUNT_ID]["global"]
backend.create_bucket(bucket, "us-east-1")
layout = ["espn_play_by_play/{}.json", "espn_box_scores/{}.json", "espn_team_stats/{}.json",
          "espn_schedules/2024{:04d}.json", "nba_api_comprehensive/boxscores_advanced/advanced_{}.json",
          "hoopr_parquet/play_by_play/nba_data_{}.parquet", "basketball_reference/box_scores/2025/{}.json"]
for i in range(n):
    backend.put_object(bucket, layout[i % len(layout)].format(401000000 + i), b"x" * (100 + i % 900))
server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
host, port = server.get_host_and_port()
print(f"http://{host}:{port}", flush=True)
sys.stdin.read()  # run until the parent closes our stdin
server.stop()
'''


def bare_listing(bucket: str):
    import boto3

    client = boto3.client("s3")
    calls = 0
    out = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        calls += 1
        for o in page.get("Contents", ()):
            out.append((o["Key"], o["Size"], o["LastModified"], o["ETag"]))
    return out, calls


def adce_listing(bucket: str, workers: int | None):
    from reconciliation.storage import ListingStats
    from reconciliation.storage.s3 import list_s3
    from reconciliation.storage import parse_location

    stats = ListingStats()
    out = [(o.key, o.size, o.last_modified, o.etag)
           for o in list_s3(parse_location(f"s3://{bucket}/"), stats=stats, workers=workers)]
    return out, stats.list_calls


COVERAGE = f"""
expected_coverage:
  espn:
    location: s3://{BUCKET}/
    seasons: ["2024-25"]
    data_types:
      play_by_play: {{path_patterns: ["espn_play_by_play/{{game_id}}.json"]}}
      box_scores: {{path_patterns: ["espn_box_scores/{{game_id}}.json"]}}
"""


def _django_setup() -> None:
    """A throw-away SQLite database for the scan service, migrated before anything is timed."""
    import tempfile

    tmp = tempfile.mkdtemp(prefix="adce-scan-bench-")
    os.environ["ADCE_VAR_DIR"] = tmp
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp}/bench.sqlite3"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    with open(os.path.join(tmp, "coverage.yaml"), "w") as fh:
        fh.write(COVERAGE)
    call_command("import_coverage", os.path.join(tmp, "coverage.yaml"), verbosity=0, stdout=open(os.devnull, "w"))


def scan(warm: bool = False) -> int:
    from reconciliation.services.scan import scan_run

    run = scan_run()
    assert run.status == "completed", run.error
    return run.objects_seen


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--objects", type=int, default=8000)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--workers", type=int, default=None, help="default: ADCE_S3_LIST_WORKERS or 8")
    ap.add_argument("--scan", action="store_true",
                    help="also time the real scan service (listing + matching + inventory write, SQLite "
                         "in a temp folder) in this process, side by side with the bare paginator")
    args = ap.parse_args(argv)
    if args.scan:
        _django_setup()

    os.environ.setdefault("AWS_ACCESS_KEY_ID", "bench")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "bench")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    t0 = time.perf_counter()
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(args.objects), BUCKET],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        endpoint = server.stdout.readline().strip()
        if not endpoint.startswith("http://"):
            raise SystemExit("moto server did not start")
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        setup = time.perf_counter() - t0
        # warm-up (imports, model loading, server caches) — not timed
        ref, _ = bare_listing(BUCKET)
        mine, _ = adce_listing(BUCKET, args.workers)
        assert len(ref) == args.objects
        assert [r[:2] for r in mine] == sorted(r[:2] for r in ref), "listings differ"
        bare_t, adce_t, scan_t = [], [], []
        bare_calls = adce_calls = 0
        if args.scan:
            scan(warm=True)
        for rep in range(args.reps):
            order = [("bare", bare_listing), ("adce", adce_listing)]
            if args.scan:
                order.append(("scan", None))
            if rep % 2:
                order.reverse()
            for name, fn in order:
                if name == "scan":
                    start = time.perf_counter()
                    seen = scan()
                    scan_t.append(time.perf_counter() - start)
                    assert seen == args.objects, seen
                    continue
                start = time.perf_counter()
                rows, calls = fn(BUCKET) if name == "bare" else fn(BUCKET, args.workers)
                took = time.perf_counter() - start
                assert len(rows) == args.objects
                if name == "bare":
                    bare_t.append(took)
                    bare_calls = calls
                else:
                    adce_t.append(took)
                    adce_calls = calls
    finally:
        server.stdin.close()
        server.wait(timeout=30)
    result = {
        "objects": args.objects, "reps": args.reps, "workers": args.workers or int(os.environ.get("ADCE_S3_LIST_WORKERS", 8)),
        "bare_paginator_s": {"median": round(statistics.median(bare_t), 3), "all": [round(x, 3) for x in bare_t]},
        "list_objects_s": {"median": round(statistics.median(adce_t), 3), "all": [round(x, 3) for x in adce_t]},
        "ratio_median": round(statistics.median(adce_t) / statistics.median(bare_t), 3),
        "list_calls": {"bare_paginator": bare_calls, "list_objects": adce_calls},
        "server_setup_s": round(setup, 1),
        "machine": {"nproc": os.cpu_count(), "python": platform.python_version(),
                    "loadavg_1m": round(os.getloadavg()[0], 2)},
    }
    if scan_t:
        result["scan_s"] = {"median": round(statistics.median(scan_t), 3), "all": [round(x, 3) for x in scan_t],
                            "ratio_to_bare_median": round(statistics.median(scan_t) / statistics.median(bare_t), 3),
                            "note": "scan_run(): listing + matching + inventory diff/write (SQLite); "
                                    "the warm-up scan did the first full write"}
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
