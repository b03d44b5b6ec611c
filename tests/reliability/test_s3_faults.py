"""S3 faults through a real HTTP proxy in front of moto (tests/reliability/faultproxy.py): throttling,
500s in the middle of a listing, connection resets, one prefix denied. Transient faults are retried
with backoff and the scan is exact; persistent ones fail the scan cleanly: the run is recorded failed
with its error, and the inventory, gaps and tasks stay exactly as they were."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from django.core.management import CommandError, call_command

from adce_site.choices import RunStatus
from reconciliation.models import Gap, ReconcileRun, ScanRun, StoredObject, Task
from reconciliation.services.reconcile import ReconcileFailed, reconcile_run
from reconciliation.services.scan import scan_run
from reconciliation.services.scan_plan import ScanFailed
from reconciliation.storage import s3 as s3mod

from ..reconciliation.test_scanning import add_games, make_source
from .conftest import state_snapshot
from .faultproxy import Rule

pytestmark = pytest.mark.django_db

AS_OF = dt.date(2024, 12, 31)
GAMES = [(f"g{i:03d}", "2024-25", (dt.date(2024, 10, 22) + dt.timedelta(days=i)).isoformat()) for i in range(60)]
PAGE = 10  # keys per ListObjectsV2 page: a listing is several pages


@pytest.fixture
def lake(fault_proxy, server_bucket, fast_backoff, monkeypatch, settings):
    """An S3 source with two data types (two common prefixes, listed in parallel, several pages each);
    pbp has 50 of 60 games, box 40. Returns the bucket; the expected object count is `lake.count`."""
    monkeypatch.setattr(s3mod, "PAGE_SIZE", PAGE)
    settings.ADCE_S3_MAX_ATTEMPTS = 3
    settings.ADCE_S3_LIST_WORKERS = 2
    src = make_source("espn", server_bucket.uri, {"pbp": ["pbp/{game_id}.json"], "box": ["box/{game_id}.json"]})
    add_games(src, GAMES)
    server_bucket.put_many([f"pbp/g{i:03d}.json" for i in range(50)])
    server_bucket.put_many([f"box/g{i:03d}.json" for i in range(40)])
    server_bucket.count = 90
    return server_bucket


def _baseline(lake):
    """A first complete reconcile (gaps and tasks exist), then the lake changes so that a successful
    scan *would* change the inventory, gaps and tasks."""
    run = reconcile_run(as_of=AS_OF)
    assert run.status == RunStatus.COMPLETED
    assert Gap.objects.filter(status="open").count() == 30 and Task.objects.exists()
    lake.put_many([f"pbp/g{i:03d}.json" for i in range(50, 60)])  # would resolve 10 gaps
    lake.client.delete_object(Bucket=lake.name, Key="box/g000.json")  # would open one
    return state_snapshot()


# ---- transient faults: retried, exact result -----------------------------------------------------

@pytest.mark.parametrize("rule", [
    Rule("slowdown", op="ListObjectsV2", start=1, times=4),           # throttled from the first call
    Rule("internal", op="ListObjectsV2", start=3, times=2),           # 500s on the 3rd listing page
    Rule("reset", op="ListObjectsV2", start=3, times=2),              # connection reset mid-listing
], ids=["503-slowdown", "500-mid-listing", "connection-reset"])
def test_transient_faults_are_retried_and_the_scan_is_exact(lake, fault_proxy, fast_backoff, rule):
    fault_proxy.add(rule)
    run = scan_run()
    assert run.status == RunStatus.COMPLETED and not run.error
    assert run.objects_seen == lake.count == StoredObject.objects.count()
    assert sorted(StoredObject.objects.values_list("key", flat=True)) == sorted(
        o["Key"] for p in lake.client.get_paginator("list_objects_v2").paginate(Bucket=lake.name)
        for o in p.get("Contents", ()))
    assert rule.fired == rule.times
    assert fault_proxy.count(rule.action) == rule.times
    assert len(fast_backoff) >= rule.times and all(d > 0 for d in fast_backoff)  # backed off per retry


def test_transient_faults_under_reconcile_give_the_same_gaps(lake, fault_proxy):
    fault_proxy.add(Rule("slowdown", op="ListObjectsV2", start=2, times=2),
                    Rule("reset", op="ListObjectsV2", start=5, times=1))
    run = reconcile_run(as_of=AS_OF)
    assert run.status == RunStatus.COMPLETED and run.scan.objects_seen == lake.count
    assert Gap.objects.filter(status="open").count() == 30  # 10 pbp + 20 box missing


# ---- persistent faults: clean failure, nothing changed --------------------------------------------

PERSISTENT = [
    (Rule("slowdown", op="ListObjectsV2", start=1, times=None), r"SlowDown.*after 3 rounds of retries"),
    (Rule("internal", op="ListObjectsV2", start=3, times=None), r"InternalError.*after 3 rounds of retries"),
    (Rule("reset", op="ListObjectsV2", prefix="box/", start=2, times=None), r"after 3 rounds of retries"),
    (Rule("denied", op="ListObjectsV2", prefix="pbp/", times=None), r"s3://adce-test-bucket/: access denied \(AccessDenied"),
]
PERSISTENT_IDS = ["503-forever", "500-from-page-3", "resets-on-one-prefix", "access-denied-one-prefix"]


@pytest.mark.parametrize("rule,error", PERSISTENT, ids=PERSISTENT_IDS)
def test_persistent_fault_fails_the_scan_cleanly(lake, fault_proxy, rule, error):
    before = _baseline(lake)
    runs_before = ScanRun.objects.count()
    fault_proxy.add(rule)

    with pytest.raises(ScanFailed, match=error) as info:
        scan_run()

    run = info.value.run
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.finished_at is not None
    assert run.error and re.search(error, run.error)
    assert ScanRun.objects.count() == runs_before + 1
    assert state_snapshot() == before
    if rule.action == "denied":
        assert rule.fired == 1  # access denied is final: never retried
    else:
        # retried: botocore's attempts x our resume rounds on the failing page
        assert rule.fired >= 3 * s3mod.RESUME_ROUNDS


@pytest.mark.parametrize("rule,error", PERSISTENT, ids=PERSISTENT_IDS)
def test_reconcile_over_a_failing_scan_changes_no_gap_or_task(lake, fault_proxy, rule, error):
    before = _baseline(lake)
    fault_proxy.add(rule)

    with pytest.raises(ReconcileFailed, match=error) as info:
        reconcile_run(as_of=AS_OF + dt.timedelta(days=1))

    run = ReconcileRun.objects.get(pk=info.value.run.pk)
    assert run.status == RunStatus.FAILED and run.error.startswith("scan failed:")
    assert run.scan is not None and run.scan.status == RunStatus.FAILED
    assert state_snapshot() == before

    # the fault goes away: the next reconcile succeeds and sees the changed lake
    fault_proxy.clear()
    run = reconcile_run(as_of=AS_OF + dt.timedelta(days=1))
    assert run.status == RunStatus.COMPLETED
    assert run.scan.objects_seen == lake.count + 10 - 1
    open_gaps = set(Gap.objects.filter(status="open").values_list("partition", flat=True))
    assert len(open_gaps) == 21 and "g000" in open_gaps


def test_scan_command_reports_a_failed_listing_with_exit_2(lake, fault_proxy):
    before = _baseline(lake)
    fault_proxy.add(Rule("denied", op="ListObjectsV2", prefix="box/", times=None))
    with pytest.raises(CommandError, match=r"scan #\d+ failed: .*access denied") as info:
        call_command("scan")
    assert info.value.returncode == 2
    assert state_snapshot() == before
    assert ScanRun.objects.order_by("-pk").first().status == RunStatus.FAILED
