"""Benchmark of `verify` over S3 (issue 2): shared listings vs the naive one-listing-per-metric way.

    /tmp/venv/bin/python bench/verify_bench.py [--objects 5000] [--write bench/RESULTS-verify.md]

Sets up, in a temporary folder: a moto server (real HTTP) with one bucket holding N objects under 4
locations (each split in 5 season folders), a SQLite database, and 60 metrics — 20 S3 metrics (5 per
location) and 40 cheap local ones (file/line counts, dir sizes, SQL scalars, expressions). Then measures:

  bare      one plain listing of each of the 4 locations (sequential, then concurrently), no metrics
  naive     the 20 S3 metrics, each with its own listing (what the original did)
  verify    `verification_run` of all 60 metrics, uncached (shared listings, roots listed concurrently)
  cached    `verification_run` again, every value from the TTL cache

and counts the ListObjectsV2 calls of each. Targets: verify's calls = the pages of one listing per
location; uncached verify ≤ 1.5 × the bare listing; cached verify ≤ 2 s.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "bench-lake"
LOCATIONS = ["espn_play_by_play", "espn_box_scores", "nba_stats", "basketball_reference"]
SEASONS = ["2020-21", "2021-22", "2022-23", "2023-24", "2024-25"]


def setup_environment(tmp: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")
    os.environ["DATABASE_URL"] = f"sqlite:///{tmp / 'bench.sqlite3'}"
    os.environ["ADCE_VAR_DIR"] = str(tmp / "var")
    for key, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench"),
                       ("AWS_DEFAULT_REGION", "us-east-1")):
        os.environ[key] = value
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import logging

    for noisy in ("werkzeug", "urllib3"):
        logging.getLogger(noisy).setLevel(logging.ERROR)
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def start_moto():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ["AWS_ENDPOINT_URL"] = f"http://{host}:{port}"
    return server


def fill_bucket(n_objects: int) -> None:
    import boto3

    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    keys = []
    for i in range(n_objects):
        loc = LOCATIONS[i % len(LOCATIONS)]
        season = SEASONS[(i // len(LOCATIONS)) % len(SEASONS)]
        keys.append((f"{loc}/{season}/{4018000 + i}.json", 200 + (i * 37) % 5000 if i % 50 else 10))
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda kv: client.put_object(Bucket=BUCKET, Key=kv[0], Body=b"x" * kv[1]), keys))


def write_config(tmp: Path) -> Path:
    local = tmp / "local"
    for d in range(8):
        folder = local / f"dir{d}"
        folder.mkdir(parents=True)
        for f in range(25):
            (folder / f"f{f}.py").write_text("line\n" * (f + 1))
    lines = ["cache: {default_ttl_hours: 24}", "approval: {critical_metrics: [\"s3.*_objects\"]}", "metrics:", "  s3:"]
    for loc in LOCATIONS:
        uri = f"s3://{BUCKET}/{loc}/"
        lines += [
            f"    {loc}_objects: {{kind: s3_object_count, location: '{uri}', volatility: volatile}}",
            f"    {loc}_json: {{kind: s3_object_count, location: '{uri}', suffix: .json}}",
            f"    {loc}_bytes: {{kind: s3_total_bytes, location: '{uri}', unit: MB}}",
            f"    {loc}_small: {{kind: s3_small_object_count, location: '{uri}', below_bytes: 100}}",
            f"    {loc}_age: {{kind: s3_newest_age_hours, location: '{uri}', precision: 1}}",
        ]
    lines.append("  local:")
    n = 0
    for d in range(8):
        path = local / f"dir{d}"
        lines += [
            f"    files_{d}: {{kind: file_count, path: '{path}', glob: '*.py'}}",
            f"    lines_{d}: {{kind: line_count, path: '{path}', glob: '**/*.py'}}",
            f"    size_{d}: {{kind: dir_size, path: '{path}', unit: KB}}",
        ]
        n += 3
    for i in range(8):
        lines.append(f"    sql_{i}: {{kind: sql_scalar, query: 'SELECT COUNT(*) + {i} FROM auth_user'}}")
        n += 1
    for i in range(40 - n):
        lines.append(f"    ratio_{i}: {{kind: expression, expression: 'local.lines_{i % 8} / local.files_{i % 8} + {i}'}}")
    path = tmp / "bench-metrics.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def timed(fn):
    t0 = time.perf_counter()
    result = fn()
    return time.perf_counter() - t0, result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=5000)
    parser.add_argument("--write", help="also write the results as markdown to this file")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="adce-verify-bench-"))
    setup_environment(tmp)
    server = start_moto()
    try:
        t_fill, _ = timed(lambda: fill_bucket(args.objects))
        from metrics.models import MetricDefinition
        from metrics.probes import REGISTRY, ProbeContext
        from metrics.services import metric_import, verification_run
        from reconciliation.storage import ListingStats, list_objects, make_s3_client

        metric_import(write_config(tmp))
        total = MetricDefinition.objects.count()
        s3_metrics = list(MetricDefinition.objects.filter(category="s3"))
        uris = [f"s3://{BUCKET}/{loc}/" for loc in LOCATIONS]

        # bare: each location listed once, nothing else
        client = make_s3_client(workers=32)
        list(list_objects(uris[0], client=client))  # warm the connection pool, as a run would be
        bare_stats = ListingStats()
        t_bare, counts = timed(lambda: [sum(1 for _ in list_objects(u, client=client, stats=bare_stats)) for u in uris])
        assert sum(counts) == args.objects, counts
        conc_stats = ListingStats()

        def one(u):
            return sum(1 for _ in list_objects(u, client=client, stats=conc_stats))

        with ThreadPoolExecutor(len(uris)) as pool:
            t_bare_conc, _ = timed(lambda: list(pool.map(one, uris)))

        # naive: one listing per S3 metric
        naive_calls = 0

        def naive():
            nonlocal naive_calls
            for m in s3_metrics:
                ctx = ProbeContext(client=client)
                REGISTRY[m.kind].func(m.params, ctx)
                naive_calls += ctx.list_calls

        t_naive, _ = timed(naive)

        # verify (uncached), then cached
        t_verify, run = timed(lambda: verification_run(trigger="bench", use_cache=False))
        assert run.summary["error"] == 0, [r.error for r in run.results if r.error]
        t_cached, run_cached = timed(lambda: verification_run(trigger="bench"))
        assert run_cached.summary["from_cache"] == total
    finally:
        server.stop()

    rows = [
        ("bare listing of the 4 locations, sequential", t_bare, bare_stats.list_calls, "-"),
        ("bare listing of the 4 locations, concurrent", t_bare_conc, conc_stats.list_calls, "-"),
        ("naive: 20 S3 metrics, one listing each", t_naive, naive_calls, "20"),
        (f"verify, uncached ({total} metrics)", t_verify, run.summary["s3_list_calls"], str(run.summary["listings"])),
        (f"verify, cached ({total} metrics)", t_cached, run_cached.summary["s3_list_calls"], str(run_cached.summary["listings"])),
    ]
    ratio = t_verify / t_bare
    lines = [
        f"Objects: {args.objects} in s3://{BUCKET}/ under {len(LOCATIONS)} locations × {len(SEASONS)} season folders "
        f"(moto server over HTTP, filled in {t_fill:.1f}s); metrics: {total} (20 S3).",
        "",
        "| case | wall time | ListObjectsV2 calls | listings |",
        "|---|---:|---:|---:|",
        *[f"| {name} | {secs:.3f} s | {calls} | {listings} |" for name, secs, calls, listings in rows],
        "",
        f"* verify S3 calls = bare listing calls: {run.summary['s3_list_calls'] == bare_stats.list_calls} "
        f"({run.summary['s3_list_calls']} vs {bare_stats.list_calls}); naive made {naive_calls}.",
        f"* uncached verify / sequential bare listing = {ratio:.2f} (target ≤ 1.5); "
        f"/ concurrent bare listing = {t_verify / t_bare_conc:.2f}.",
        f"* cached verify = {t_cached:.3f} s (target ≤ 2 s).",
    ]
    report = "\n".join(lines)
    print(report)
    if args.write:
        machine = (f"{platform.node()} — {platform.platform()}, Python {platform.python_version()}, "
                   f"{os.cpu_count()} CPUs")
        Path(args.write).write_text(
            "# verify benchmark (issue 2)\n\n"
            f"Command: `/tmp/venv/bin/python bench/verify_bench.py --objects {args.objects} --write {args.write}`\n\n"
            f"Machine: {machine}; run at {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
            "Other jobs shared the machine, so wall times are noisy; the call counts are exact.\n\n"
            + report + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
