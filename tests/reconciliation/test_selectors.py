"""Selectors: task documents (single and bulk), coverage matrix cells, queries."""
import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reconciliation.choices import GapStatus, TaskStatus
from reconciliation.models import ReconcileRun
from reconciliation.selectors import (
    NO_SEASON,
    coverage_matrix,
    iso_z,
    task_document,
    task_documents,
    tasks_query,
)
from tests.reconciliation.test_tasks import make_gap, make_source, make_task, make_type


def test_iso_z():
    assert iso_z(dt.datetime(2026, 11, 22, 10, 0, 0, 123456, tzinfo=dt.timezone.utc)) == "2026-11-22T10:00:00Z"
    assert iso_z(dt.datetime(2026, 11, 22, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))) == "2026-11-22T10:00:00Z"
    assert iso_z(None) is None


def test_document_of_season_and_fixed_tasks(db):
    src = make_source()
    season_type = make_type(src, "season_stats", level="season", minutes=5)
    fixed_type = make_type(src, "teams", level="fixed")
    t1 = make_task(season_type, kind="stale", priority="CRITICAL")
    make_gap(season_type, "2024-25", task=t1, kind="stale", priority="CRITICAL")
    t2 = make_task(fixed_type, season=None, priority="HIGH")
    make_gap(fixed_type, "", season=None, task=t2, priority="HIGH")
    d1, d2 = task_document(t1), task_document(t2)
    assert (d1["game_ids"], d1["dates"], d1["missing_files"], d1["estimated_time_minutes"]) == ([], [], 1, 5)
    assert d1["gap_type"] == "stale" and d1["season"] == "2024-25"
    assert d2["season"] is None and d2["missing_files"] == 1 and d2["priority"] == "HIGH"


def test_bulk_documents_keep_order_and_use_constant_queries(db):
    ptype = make_type(make_source())
    tasks = [make_task(ptype, priority=p) for p in ("LOW", "CRITICAL", "HIGH")]
    for i, t in enumerate(tasks):
        for j in range(i + 1):
            make_gap(ptype, f"4{i}{j:07d}", task=t)
    with CaptureQueriesContext(connection) as q:
        docs = task_documents(tasks_query())
    assert len(q.captured_queries) == 2  # tasks (with source and type), then all their open gaps
    assert [d["priority"] for d in docs] == ["CRITICAL", "HIGH", "LOW"]
    assert [d["missing_files"] for d in docs] == [2, 3, 1]
    assert docs[0]["game_ids"] == ["410000000", "410000001"]


def test_tasks_query(db):
    espn = make_type(make_source("espn"))
    nba = make_type(make_source("nba"), "box_score")
    make_task(espn, status=TaskStatus.DONE)
    make_task(nba)
    assert tasks_query(status="pending").get().source.name == "nba"
    assert tasks_query(source="espn").get().status == "done"


@pytest.fixture
def matrix_lake(db):
    src = make_source("espn", seasons=["2023-24", "2024-25"])
    pbp = make_type(src, "play_by_play", threshold=0.95)
    box = make_type(src, "box_score", threshold=0.9)
    teams = make_type(src, "teams", level="fixed")
    for i in range(3):
        make_gap(pbp, season="2024-25")
    make_gap(pbp, season="2024-25", status=GapStatus.IGNORED)   # still a gap for completeness
    make_gap(pbp, season="2024-25", status=GapStatus.RESOLVED)  # history: not a gap
    for i in range(5):
        make_gap(pbp, season="2023-24")
    for i in range(2):
        make_gap(box, season="2024-25")
    return {"pbp": pbp, "box": box, "teams": teams}


def _run(cells):
    now = timezone.now()
    return ReconcileRun.objects.create(status="completed", as_of=now.date(), finished_at=now, started_at=now,
                                       summary={"completeness": cells})


def _cells(matrix):
    return {(r.data_type, c.season): c for r in matrix.rows for c in r.cells if c is not None}


def test_coverage_matrix_from_run_expected_and_live_gaps(matrix_lake):
    ReconcileRun.objects.create(status="failed", as_of=dt.date(2026, 1, 1), finished_at=timezone.now())
    _run([
        {"source": "espn", "data_type": "play_by_play", "season": "2024-25", "expected": 100, "present": 90, "completeness": 0.9},
        {"source": "espn", "data_type": "play_by_play", "season": "2023-24", "expected": 10, "present": 5, "completeness": 0.5},
        {"source": "espn", "data_type": "box_score", "season": "2024-25", "expected": 10, "present": 8, "completeness": 0.8},
        {"source": "espn", "data_type": "box_score", "season": "2023-24", "expected": 0, "present": 0, "completeness": 1.0},
        {"source": "espn", "data_type": "teams", "season": None, "expected": 1, "present": 1, "completeness": 1.0},
    ])
    m = coverage_matrix()
    assert m.seasons == ["2023-24", "2024-25", NO_SEASON]
    cells = _cells(m)
    c = cells[("play_by_play", "2024-25")]
    assert (c.expected, c.gaps, c.open_gaps, c.percent, c.colour) == (100, 4, 3, 96.0, "green")
    c = cells[("play_by_play", "2023-24")]
    assert (c.percent, c.colour) == (50.0, "red")
    c = cells[("box_score", "2024-25")]
    assert (c.percent, c.colour) == (80.0, "amber")  # below 0.90 by less than 20 points
    assert cells[("box_score", "2023-24")].percent == 100.0  # nothing expected → complete
    assert (cells[("teams", NO_SEASON)].percent, cells[("teams", NO_SEASON)].colour) == (100.0, "green")
    # fixed types have only the no-season column; seasonal types none there
    row = {r.data_type: r for r in m.rows}
    assert row["teams"].cells[:2] == [None, None] and row["play_by_play"].cells[2] is None


def test_coverage_matrix_without_a_reconcile_is_unknown_not_zero(matrix_lake):
    m = coverage_matrix()
    c = _cells(m)[("play_by_play", "2024-25")]
    assert c.expected is None and c.percent is None and c.colour == "unknown" and c.open_gaps == 3
    assert m.run is None


def test_coverage_never_negative(matrix_lake):
    _run([{"source": "espn", "data_type": "play_by_play", "season": "2023-24", "expected": 2, "present": 0,
           "completeness": 0.0}])
    assert _cells(coverage_matrix())[("play_by_play", "2023-24")].percent == 0.0


def test_coverage_nested_summary_shape(matrix_lake):
    _run({"espn": {"play_by_play": {"2024-25": {"expected": 50, "present": 46}}, "teams": {"null": {"expected": 1}}}})
    cells = _cells(coverage_matrix())
    assert cells[("play_by_play", "2024-25")].percent == 92.0
    assert cells[("teams", NO_SEASON)].expected == 1
