"""domain.lifecycle.plan (pure) and services.lifecycle: a dry run reports what applying does."""
from __future__ import annotations

import datetime as dt

import pytest

from reconciliation.domain.analysis import AnalysisReport, DataTypeSpec, GapFinding, ObjectSummary
from reconciliation.domain.lifecycle import LiveGap, OpenTask, plan

UTC = dt.timezone.utc
SPEC = DataTypeSpec(id=1, source="espn", name="pbp", scraper="espn_scraper", required=True, freshness_days=7,
                    completeness_threshold=0.9, min_size_bytes=100, minutes_per_file=1.0, level="game",
                    seasons=("2024-25",))
DAY = dt.date(2024, 11, 1)


def finding(partition, kind="missing", priority="MEDIUM", obj=None) -> GapFinding:
    return GapFinding(1, "espn", "pbp", "2024-25", partition, DAY, kind, priority, obj)


def live(gap_id, status="open", task=None, task_status=None, kind="missing", priority="MEDIUM", obj=None) -> LiveGap:
    return LiveGap(gap_id, status, task, task_status, kind, priority, "2024-25", DAY,
                   obj.key if obj else "", obj.size if obj else None, obj.last_modified if obj else None)


def run_plan(findings, gaps: dict, tasks=()):
    return plan(AnalysisReport(gaps=list(findings)), {(1, p): g for p, g in gaps.items()}, list(tasks), {1: SPEC},
                max_items=10, critical_days=7)


def test_opens_updates_resolves_and_leaves_ignored_gaps_alone():
    empty = ObjectSummary("pbp/g2.json", 5, dt.datetime(2024, 11, 1, tzinfo=UTC))
    p = run_plan([finding("g1"), finding("g2", "empty", obj=empty), finding("g3"), finding("g5")],
                 {"g2": live(2), "g3": live(3), "g4": live(4), "g5": live(5, "ignored")})
    assert [f.partition for f in p.to_open] == ["g1"]
    assert [(gid, f.kind) for gid, f in p.to_update] == [(2, "empty")]  # missing → empty: its object moved
    assert p.to_resolve == [4] and p.ignored == 1


def test_a_task_finishes_only_when_no_open_gap_is_left_in_scope_or_outside():
    p = run_plan([finding("g2")], {"g1": live(1, task="a", task_status="pending"),
                                   "g2": live(2, task="b", task_status="pending"),
                                   "g3": live(3, task="c", task_status="claimed")},
                 [OpenTask("a", "pending", 2), OpenTask("b", "pending", 2), OpenTask("c", "claimed", 2, 1, 3),
                  OpenTask("d", "pending", 2)])
    # a: its only gap resolves; c: its gap here resolves but one outside the scope is open; d: no gap at all
    assert p.tasks_finish == ["a", "d"]
    assert p.tasks_rerank == []  # c is claimed: never re-ranked


def test_a_pending_task_takes_its_open_gaps_top_priority_after_the_updates():
    p = run_plan([finding("g1", priority="CRITICAL"), finding("g2", priority="LOW")],
                 {"g1": live(1, task="a", task_status="pending"), "g2": live(2, task="a", task_status="pending")},
                 [OpenTask("a", "pending", 2), OpenTask("b", "pending", 3, 2, 1)])
    assert p.tasks_rerank == [("a", "CRITICAL"), ("b", "HIGH")]


def test_new_tasks_take_the_new_gaps_and_the_uncovered_ones_never_a_failed_tasks():
    p = run_plan([finding("g1"), finding("g2"), finding("g3"), finding("g4")],
                 {"g2": live(2), "g3": live(3, task="f", task_status="failed"),
                  "g4": live(4, task="x", task_status="done")})
    assert [[g.partition for g in t.gaps] for t in p.tasks_create] == [["g1", "g2", "g4"]]
    assert p.stored_gap_ids == {(1, "g2"): 2, (1, "g4"): 4}  # g1 is opened with its task


@pytest.mark.django_db
def test_a_dry_run_reports_what_the_real_run_then_does(tmp_path):
    from reconciliation.services.reconcile import reconcile_run

    from .test_scanning import add_games, file_uri, make_source, put_file

    src = make_source("espn", file_uri(tmp_path), {"pbp": {"path_patterns": ["pbp/{game_id}.json"],
                                                           "min_size_bytes": 100}})
    add_games(src, [(f"g{i}", "2024-25", f"2024-10-{22 + i}") for i in range(5)])
    for i in (0, 1):
        put_file(tmp_path, f"pbp/g{i}.json")
    reconcile_run(as_of=dt.date(2024, 11, 25))
    put_file(tmp_path, "pbp/g2.json")  # one gap resolves, its task's others stay
    (tmp_path / "pbp" / "g0.json").unlink()  # one opens
    as_of = dt.date(2024, 10, 28)  # g4 no longer expected; priorities move
    dry = reconcile_run(as_of=as_of, dry_run=True).summary
    real = reconcile_run(as_of=as_of).summary
    assert dry["gaps"] == real["gaps"]
    assert ({k: v for k, v in dry["tasks"].items() if k != "created_tasks"}
            == {k: v for k, v in real["tasks"].items() if k != "created_tasks"})
    assert [dict(t, id=None) for t in dry["tasks"]["created_tasks"]] == [
        dict(t, id=None) for t in real["tasks"]["created_tasks"]]
