"""`gap_count` and `reconciliation_stat` probes: filters, statistics, errors (never 0) when nothing ran."""
import datetime as dt
from pathlib import Path

import pytest
from django.utils import timezone

from metrics.probes import REGISTRY, ParamError, ProbeError
from reconciliation.choices import GapStatus, TaskStatus
from reconciliation.models import ReconcileRun, ScanRun
from tests.reconciliation.test_tasks import make_gap, make_source, make_task, make_type


def measure(kind, **params):
    probe = REGISTRY[kind]
    return probe.func(probe.validate(params, base_dir=Path(".")), None)


def completed_reconcile(hours_ago=2.0, dry_run=False):
    finished = timezone.now() - dt.timedelta(hours=hours_ago)
    return ReconcileRun.objects.create(status="completed", as_of=finished.date(), finished_at=finished,
                                       started_at=finished, dry_run=dry_run)


@pytest.fixture
def lake(db):
    espn = make_source("espn")
    pbp, box = make_type(espn, "play_by_play"), make_type(espn, "box_score")
    nba = make_source("nba")
    nba_pbp = make_type(nba, "play_by_play")
    make_gap(pbp, priority="CRITICAL")
    make_gap(pbp, priority="CRITICAL", kind="empty")
    make_gap(pbp, priority="LOW")
    make_gap(pbp, priority="LOW", status=GapStatus.RESOLVED)
    make_gap(pbp, priority="HIGH", status=GapStatus.IGNORED)
    make_gap(box, priority="MEDIUM", kind="stale", season="2024-25", partition="2024-25")
    make_gap(nba_pbp, priority="CRITICAL")
    return {"pbp": pbp, "box": box, "nba_pbp": nba_pbp}


def test_gap_count_is_an_error_before_any_reconcile(lake):
    with pytest.raises(ProbeError, match="no reconcile has completed"):
        measure("gap_count")
    completed_reconcile(dry_run=True)  # a dry run measured nothing durable
    with pytest.raises(ProbeError, match="no reconcile has completed"):
        measure("gap_count")


@pytest.mark.parametrize("params, expected", [
    ({}, 5),                                            # open only, by default
    ({"status": "any"}, 7),
    ({"status": "resolved"}, 1),
    ({"status": "IGNORED"}, 1),
    ({"source": "espn"}, 4),
    ({"source": "nba"}, 1),
    ({"data_type": "play_by_play"}, 4),                 # both sources' play_by_play
    ({"data_type": "espn.play_by_play"}, 3),
    ({"source": "espn", "data_type": "play_by_play"}, 3),
    ({"priority": "critical"}, 3),
    ({"source": "espn", "priority": "CRITICAL"}, 2),
    ({"gap_kind": "stale"}, 1),
    ({"gap_kind": "empty", "priority": "CRITICAL"}, 1),
    ({"priority": "HIGH"}, 0),                          # the HIGH one is ignored, not open: a real 0
])
def test_gap_count_filters(lake, params, expected):
    completed_reconcile()
    assert measure("gap_count", **params) == expected


@pytest.mark.parametrize("params, message", [
    ({"source": "espm"}, "unknown source 'espm'"),
    ({"data_type": "play_by_pley"}, "unknown data type 'play_by_pley'"),
    ({"source": "nba", "data_type": "box_score"}, "of source 'nba'"),
])
def test_gap_count_unknown_names_are_errors_not_zero(lake, params, message):
    completed_reconcile()
    with pytest.raises(ProbeError, match=message):
        measure("gap_count", **params)


@pytest.mark.parametrize("params, key", [
    ({"priority": "urgent"}, "priority"),
    ({"gap_kind": "absent"}, "gap_kind"),
    ({"status": "closed"}, "status"),
    ({"sources": "espn"}, "sources"),
    ({"source": ""}, "source"),
])
def test_gap_count_bad_params_fail_at_import(params, key):
    probe = REGISTRY["gap_count"]
    with pytest.raises(ParamError) as exc:
        probe.validate(params, base_dir=Path("."))
    assert exc.value.key == key


def test_stat_params():
    probe = REGISTRY["reconciliation_stat"]
    with pytest.raises(ParamError, match="stat: required"):
        probe.validate({}, base_dir=Path("."))
    with pytest.raises(ParamError, match="must be one of"):
        probe.validate({"stat": "gaps"}, base_dir=Path("."))
    assert probe.validate({"stat": "Queue_Size"}, base_dir=Path(".")) == {"stat": "queue_size"}
    # Counts are integers, ages are hours (float).
    assert probe.parse_type({"stat": "Queue_Size"}) == "integer"
    assert probe.parse_type({"stat": "last_scan_age_hours"}) == "float"
    assert REGISTRY["gap_count"].parse_type == "integer"


@pytest.mark.parametrize("stat", ["last_reconcile_age_hours", "last_scan_age_hours", "open_gaps",
                                  "critical_gaps", "queue_size", "unmatched_objects"])
def test_stats_are_errors_when_nothing_ran(db, stat):
    # Failed, running and sampled runs do not count as "ran".
    ReconcileRun.objects.create(status="failed", as_of=dt.date(2026, 1, 1), finished_at=timezone.now())
    ScanRun.objects.create(status="failed", finished_at=timezone.now(), unmatched_count=5)
    ScanRun.objects.create(status="completed", mode="sample", finished_at=timezone.now(), unmatched_count=5)
    with pytest.raises(ProbeError) as exc:
        measure("reconciliation_stat", stat=stat)
    assert "yet" in exc.value.reason


def test_stats_values(lake):
    completed_reconcile(hours_ago=30)
    completed_reconcile(hours_ago=3)
    now = timezone.now()
    ScanRun.objects.create(status="completed", mode="list", finished_at=now - dt.timedelta(hours=5),
                           unmatched_count=12)
    ScanRun.objects.create(status="completed", mode="list", finished_at=now - dt.timedelta(hours=50),
                           unmatched_count=99)
    ScanRun.objects.create(status="completed", mode="sample", finished_at=now, unmatched_count=7)
    pbp = lake["pbp"]
    for status in (TaskStatus.PENDING, TaskStatus.CLAIMED, TaskStatus.DONE, TaskStatus.FAILED):
        make_task(pbp, status=status)
    assert measure("reconciliation_stat", stat="last_reconcile_age_hours") == pytest.approx(3, abs=0.05)
    assert measure("reconciliation_stat", stat="last_scan_age_hours") == pytest.approx(5, abs=0.05)
    assert measure("reconciliation_stat", stat="unmatched_objects") == 12
    assert measure("reconciliation_stat", stat="open_gaps") == 5
    assert measure("reconciliation_stat", stat="critical_gaps") == 3
    assert measure("reconciliation_stat", stat="queue_size") == 2
