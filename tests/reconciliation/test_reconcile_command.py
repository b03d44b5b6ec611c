"""manage.py reconcile: --json, --output, --dry-run, bad input → exit 2, nothing changed."""
from __future__ import annotations

import datetime as dt
import io
import json

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command

from reconciliation.models import Gap, Task

from .test_scanning import add_games, file_uri, make_source, put_file

pytestmark = pytest.mark.django_db


@pytest.fixture
def lake(tmp_path):
    root = tmp_path / "lake"
    src = make_source("espn", file_uri(root), {"pbp": ["pbp/{game_id}.json"]})
    add_games(src, [("1", "2024-25", "2024-10-22"), ("2", "2024-25", "2024-11-20")])
    put_file(root, "pbp/1.json")
    return root


def snapshot():
    return {m._meta.label: m.objects.count() for m in apps.get_models()}


def reconcile(*args) -> dict:
    out = io.StringIO()
    call_command("reconcile", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def test_reconcile_json_and_output(lake, tmp_path):
    out = tmp_path / "gaps.json"
    doc = reconcile("--as-of", "2024-11-25", "--output", str(out))
    assert doc["as_of"] == "2024-11-25" and doc["dry_run"] is False
    assert doc["gaps"]["by_priority"]["critical"] == 1 and doc["gaps"]["opened"] == 1
    assert doc["tasks"]["created"] == 1
    assert doc["completeness"][0]["expected"] == 2 and doc["completeness"][0]["present"] == 1
    assert set(doc["timings"]) >= {"scan", "load", "analyze", "persist", "write"}
    queue = json.loads(out.read_text())
    assert queue["total_tasks"] == 1 and queue["tasks"][0]["game_ids"] == ["2"]


def test_output_creates_missing_parent_folders(lake, tmp_path):
    out = tmp_path / "inventory" / "daily" / "gaps.json"
    reconcile("--as-of", "2024-11-25", "--output", str(out))
    assert json.loads(out.read_text())["total_tasks"] == 1


def test_dry_run_creates_no_output_folder(lake, tmp_path):
    reconcile("--dry-run", "--as-of", "2024-11-25", "--output", str(tmp_path / "new" / "gaps.json"))
    assert not (tmp_path / "new").exists()


def test_as_of_defaults_to_today(lake):
    doc = reconcile()
    assert doc["as_of"] == dt.datetime.now(dt.timezone.utc).date().isoformat()


def test_dry_run_command_writes_nothing(lake, tmp_path):
    before = snapshot()
    out = tmp_path / "gaps.json"
    doc = reconcile("--dry-run", "--as-of", "2024-11-25", "--output", str(out))
    assert doc["dry_run"] is True and doc["gaps"]["opened"] == 1 and doc["tasks"]["created"] == 1
    assert snapshot() == before and not out.exists()


def test_text_output(lake):
    out = io.StringIO()
    call_command("reconcile", "--as-of", "2024-11-25", stdout=out, stderr=io.StringIO())
    assert "open 1" in out.getvalue() and "create 1 task" in out.getvalue()


@pytest.mark.parametrize("args, message", [
    (["--as-of", "2024-13-01"], "--as-of: invalid date '2024-13-01'"),
    (["--as-of", "yesterday"], "--as-of: invalid date"),
    (["--output", "{tmp}/a-file/x/gaps.json"], "a-file is a file, not a folder"),
    (["--output", "{tmp}"], "is a folder"),
])
def test_bad_input_exit_2_nothing_changed(lake, args, message, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    before = snapshot()
    with pytest.raises(CommandError) as exc:
        call_command("reconcile", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2 and message in str(exc.value) and "\n" not in str(exc.value)
    assert snapshot() == before


def test_unreachable_location_exit_2_no_gap_or_task_change(lake, tmp_path):
    call_command("reconcile", "--as-of", "2024-11-25", stdout=io.StringIO(), stderr=io.StringIO())
    before = (sorted(Gap.objects.values_list("pk", "status", "priority")), sorted(Task.objects.values_list("pk", "status")))
    import shutil
    shutil.rmtree(lake)
    with pytest.raises(CommandError) as exc:
        call_command("reconcile", "--as-of", "2024-11-25", stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2 and "does not exist" in str(exc.value) and "\n" not in str(exc.value)
    assert (sorted(Gap.objects.values_list("pk", "status", "priority")),
            sorted(Task.objects.values_list("pk", "status"))) == before


def test_nothing_to_reconcile_exit_2(db):
    with pytest.raises(CommandError) as exc:
        call_command("reconcile", stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2 and "nothing to reconcile" in str(exc.value)


def test_output_write_failure_exit_1_after_commit(lake, tmp_path, monkeypatch):
    import reconciliation.services.queue_file as queue_file

    def full_disk(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(queue_file.tempfile, "mkstemp", full_disk)
    with pytest.raises(CommandError) as exc:
        call_command("reconcile", "--as-of", "2024-11-25", "--output", str(tmp_path / "gaps.json"),
                     stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 1 and "No space left on device" in str(exc.value)
    assert Gap.objects.count() == 1 and Task.objects.count() == 1  # the reconcile itself committed
    assert not (tmp_path / "gaps.json").exists()
