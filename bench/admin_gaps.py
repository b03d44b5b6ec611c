#!/usr/bin/env python
"""Admin gap list over 1,000,000 gaps (issue 6 item 5): the changelist must render in ≤ 500 ms.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/adce_bench_admin /tmp/venv/bin/python bench/admin_gaps.py
    … --gaps 1000000 --runs 7          (defaults)

PostgreSQL only (the numbers that matter): the database named by DATABASE_URL is migrated, its
reconciliation rows are replaced by a synthetic lake — 4 sources × 3 data types, N gaps (70% open,
25% resolved, 5% ignored; 4 priorities; 8 seasons) and one task per 100 open gaps — inserted
server-side with INSERT … SELECT generate_series, then ANALYZEd. Each page is fetched with a
logged-in superuser through Django's test client (the full admin stack: middleware, session,
template rendering), once to warm up and then `--runs` times; the median, min and max wall time
and the number of SQL queries are reported. Nothing listens on a socket.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "adce_site.settings")

PAGES = [
    ("unfiltered (first page)", "/admin/reconciliation/gap/"),
    ("page 50", "/admin/reconciliation/gap/?p=50"),
    ("status=open", "/admin/reconciliation/gap/?status__exact=open"),
    ("open + CRITICAL", "/admin/reconciliation/gap/?status__exact=open&priority__exact=CRITICAL"),
    ("one source + season", "/admin/reconciliation/gap/?source__id__exact={source}&season=2023-24"),
    ("partition prefix search", "/admin/reconciliation/gap/?q=04000012"),
    ("ignored (a small status)", "/admin/reconciliation/gap/?status__exact=ignored"),
    ("tasks changelist", "/admin/reconciliation/task/"),
]
SEASONS = ["2017-18", "2018-19", "2019-20", "2020-21", "2021-22", "2022-23", "2023-24", "2024-25"]


def build(n: int) -> None:
    from django.core.management import call_command
    from django.db import connection, transaction

    from reconciliation.models import DataType, Gap, Source, Task

    call_command("migrate", verbosity=0)
    t0 = time.monotonic()
    with transaction.atomic():
        with connection.cursor() as cur:
            cur.execute("TRUNCATE reconciliation_gap, reconciliation_task, reconciliation_datatype, "
                        "reconciliation_source RESTART IDENTITY CASCADE")
        types = []
        for s in ("espn", "nba_api", "hoopr", "bbref"):
            src = Source.objects.create(name=s, scraper=f"{s}_scraper", location=f"s3://bench/{s}/", seasons=SEASONS)
            for name in ("play_by_play", "box_scores", "schedule"):
                types.append(DataType.objects.create(source=src, name=name, level="game",
                                                     path_patterns=[f"{name}/{{game_id}}.json"]))
        n_types = len(types)
        first_type, first_source = types[0].pk, types[0].source_id
        n_tasks = max(1, int(n * 0.7) // 100)
        with connection.cursor() as cur:
            # Tasks: one per 100 open gaps, of the data type their gaps have.
            cur.execute(f"""
                INSERT INTO reconciliation_task (id, source_id, data_type_id, season, priority, priority_rank,
                    gap_kind, scraper, reason, status, attempts, max_attempts, last_error, claimed_by,
                    created_at, updated_at)
                SELECT gen_random_uuid(), {first_source} + ((i % {n_types}) / 3), {first_type} + (i % {n_types}),
                       (ARRAY{SEASONS!r})[1 + (i % 8)],
                       (ARRAY['CRITICAL','HIGH','MEDIUM','LOW'])[1 + (i % 4)], i % 4, 'missing', 'bench_scraper',
                       'bench', (ARRAY['pending','claimed','done','failed'])[1 + (i % 4)], 0, 3, '', '', now(), now()
                FROM generate_series(0, {n_tasks - 1}) AS i""")
            # Gaps: partition unique per data type (the open/ignored uniqueness), spread over everything.
            cur.execute(f"""
                WITH t AS (SELECT array_agg(id ORDER BY id) AS ids FROM reconciliation_task)
                INSERT INTO reconciliation_gap (source_id, data_type_id, season, partition, game_date, kind, priority,
                    priority_rank, status, first_seen_at, last_seen_at, resolved_at, object_key, task_id)
                SELECT {first_source} + ((i % {n_types}) / 3), {first_type} + (i % {n_types}),
                       (ARRAY{SEASONS!r})[1 + ((i / {n_types}) % 8)],
                       lpad((40000000 + i)::text, 9, '0'),
                       date '2017-10-01' + ((i / {n_types}) % 2700),
                       (ARRAY['missing','missing','missing','empty','stale'])[1 + (i % 5)],
                       (ARRAY['CRITICAL','HIGH','MEDIUM','LOW'])[1 + ((i / 7) % 4)], (i / 7) % 4,
                       CASE WHEN i % 20 = 0 THEN 'ignored' WHEN i % 4 = 1 THEN 'resolved' ELSE 'open' END,
                       now() - (i % 1000) * interval '1 hour', now(),
                       CASE WHEN i % 4 = 1 AND i % 20 <> 0 THEN now() ELSE NULL END, '',
                       CASE WHEN i % 4 <> 1 AND i % 20 <> 0 THEN t.ids[1 + (i / 100) % {n_tasks}] END
                FROM generate_series(0, {n - 1}) AS i, t""")
    with connection.cursor() as cur:
        cur.execute("ANALYZE reconciliation_gap")
        cur.execute("ANALYZE reconciliation_task")
    print(f"built {Gap.objects.count():,} gaps, {Task.objects.count():,} tasks in {time.monotonic() - t0:.1f}s",
          flush=True)


def measure(runs: int) -> list[tuple[str, float, float, float, int, int]]:
    from django.contrib.auth.models import User
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext, setup_test_environment

    from reconciliation.models import Source

    setup_test_environment()  # 'testserver' in ALLOWED_HOSTS; nothing else changes
    user, _ = User.objects.get_or_create(username="bench-admin", defaults={"is_staff": True, "is_superuser": True})
    client = Client()
    client.force_login(user)
    source = Source.objects.order_by("pk").first().pk
    results = []
    for label, url in PAGES:
        url = url.format(source=source)
        response = client.get(url)  # warm-up (and a correctness check)
        assert response.status_code == 200, (url, response.status_code)
        times = []
        for _ in range(runs):
            with CaptureQueriesContext(connection) as ctx:
                t0 = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - t0) * 1000)
            assert response.status_code == 200
        rows = len(response.context["cl"].result_list)
        results.append((label, statistics.median(times), min(times), max(times), len(ctx.captured_queries), rows))
        print(f"  {label:28s} median {statistics.median(times):7.1f} ms  (min {min(times):.1f}, max {max(times):.1f})"
              f"  {len(ctx.captured_queries)} queries, {rows} rows", flush=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gaps", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-build", action="store_true", help="reuse the rows of a previous run")
    parser.add_argument("--target-ms", type=float, default=500.0)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("DATABASE_URL must name a PostgreSQL bench database (it is overwritten)", file=sys.stderr)
        return 2
    import django

    django.setup()
    print(f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    if not args.no_build:
        build(args.gaps)
    results = measure(args.runs)
    worst = max(r[1] for r in results[:-1])
    verdict = "OK" if worst <= args.target_ms else "TOO SLOW"
    print(f"gap changelist: worst median {worst:.1f} ms (target ≤ {args.target_ms:g} ms): {verdict}")
    return 0 if verdict == "OK" else 1


if __name__ == "__main__":
    sys.exit(main())
