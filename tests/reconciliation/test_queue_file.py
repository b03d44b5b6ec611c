"""The §8 task queue document: keys, types, ordering, splitting, open tasks only."""
from __future__ import annotations

import datetime as dt
import json

import pytest

from reconciliation.choices import GapStatus, TaskStatus
from reconciliation.models import Gap, ReconciliationSettings, Task
from reconciliation.services.queue_file import queue_document, queue_file_write
from reconciliation.services.reconcile import reconcile_run

from .test_scanning import add_games, file_uri, make_source, put_file

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2024, 11, 25)
TOP_KEYS = ["generated_at", "as_of", "total_tasks", "by_priority", "by_source", "by_scraper",
            "estimated_total_minutes", "not_judged", "tasks"]
TASK_KEYS = ["id", "priority", "gap_type", "source", "data_type", "season", "scraper", "game_ids", "dates",
             "partitions", "missing_files", "estimated_time_minutes", "reason", "created_at", "status"]


@pytest.fixture
def queue(tmp_path):
    root = tmp_path / "lake"
    root.mkdir()
    ReconciliationSettings.objects.create(pk=1, max_items_per_task=2, critical_days=7)
    src = make_source("espn", file_uri(root), {
        "pbp": {"path_patterns": ["pbp/{game_id}.json"], "minutes_per_file": 2},
        "schedule": {"path_patterns": ["schedule/{date}.json"], "minutes_per_file": 0.5},
        "teams": {"path_patterns": ["teams.json"], "required": False},
    }, scraper="espn_async_scraper", seasons=["2023-24", "2024-25"])
    add_games(src, [
        ("401", "2024-25", "2024-10-22"), ("399", "2024-25", "2024-10-22"), ("405", "2024-25", "2024-10-23"),
        ("410", "2024-25", "2024-10-24"), ("420", "2024-25", "2024-10-26"),
        ("300", "2023-24", "2023-11-01"),
    ])
    put_file(root, "schedule/20241022.json")
    put_file(root, "schedule/20241023.json")
    put_file(root, "schedule/20231101.json")
    reconcile_run(as_of=AS_OF)
    return root


def test_document_shape_and_splitting(queue):
    doc = queue_document(AS_OF, now=dt.datetime(2024, 11, 25, 10, 0, tzinfo=dt.timezone.utc))
    assert list(doc) == TOP_KEYS
    assert doc["generated_at"] == "2024-11-25T10:00:00Z" and doc["as_of"] == "2024-11-25"
    tasks = doc["tasks"]
    for t in tasks:
        assert list(t) == TASK_KEYS
        assert isinstance(t["id"], str) and t["priority"].isupper() and t["gap_type"].islower()
        assert t["status"] == "pending" and t["created_at"].endswith("Z")
        assert t["missing_files"] == len(t["game_ids"]) + len(t["dates"]) or t["data_type"] == "teams"
    summary = [(t["priority"], t["data_type"], t["season"], t["game_ids"], t["dates"], t["missing_files"],
                t["estimated_time_minutes"]) for t in tasks]
    assert summary == [
        # pbp 2024-25: 5 games missing, HIGH (below threshold), at most 2 per task, partition order
        ("HIGH", "pbp", "2024-25", ["399", "401"], [], 2, 4),
        ("HIGH", "pbp", "2024-25", ["405", "410"], [], 2, 4),
        ("HIGH", "pbp", "2024-25", ["420"], [], 1, 2),
        ("HIGH", "schedule", "2024-25", [], ["2024-10-24", "2024-10-26"], 2, 1),
        ("MEDIUM", "pbp", "2023-24", ["300"], [], 1, 2),
        ("LOW", "teams", None, [], [], 1, 2),
    ]
    assert doc["total_tasks"] == 6
    assert doc["by_priority"] == {"critical": 0, "high": 4, "medium": 1, "low": 1}
    assert doc["by_source"] == {"espn": 6} and doc["by_scraper"] == {"espn_async_scraper": 6}
    assert doc["estimated_total_minutes"] == 15
    assert "2 missing games of espn/pbp 2024-25" in tasks[0]["reason"]


def test_only_open_tasks_with_their_open_partitions(queue):
    first = Task.objects.get(gaps__partition="401")
    Task.objects.filter(pk=first.pk).update(status=TaskStatus.CLAIMED)
    Gap.objects.filter(partition="399").update(status=GapStatus.RESOLVED)
    Task.objects.filter(gaps__partition="300").update(status=TaskStatus.FAILED)
    doc = queue_document(AS_OF)
    by_id = {t["id"]: t for t in doc["tasks"]}
    assert by_id[str(first.pk)]["status"] == "claimed" and by_id[str(first.pk)]["game_ids"] == ["401"]
    assert by_id[str(first.pk)]["missing_files"] == 1
    assert all(t["season"] != "2023-24" for t in doc["tasks"])  # the failed task left the file
    assert doc["total_tasks"] == 5


def test_queue_file_write_is_valid_json(queue, tmp_path):
    out = tmp_path / "inventory" / "gaps.json"
    out.parent.mkdir()
    queue_file_write(out, AS_OF)
    doc = json.loads(out.read_text())
    assert list(doc) == TOP_KEYS and doc["total_tasks"] == 6
    assert oct(out.stat().st_mode & 0o777) == "0o644"


def test_empty_queue(db):
    doc = queue_document(AS_OF)
    assert doc["total_tasks"] == 0 and doc["tasks"] == [] and doc["estimated_total_minutes"] == 0
    assert doc["by_priority"] == {"critical": 0, "high": 0, "medium": 0, "low": 0}
