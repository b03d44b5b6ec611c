"""`manage.py tasks`: JSON shapes, exit codes, nothing changed on bad input."""
import datetime as dt
import io
import json

import pytest
from django.core.management import CommandError, call_command

from reconciliation.choices import TaskStatus
from reconciliation.models import Task
from tests.reconciliation.test_tasks import make_gap, make_source, make_task, make_type

DOC_KEYS = {
    "id", "priority", "gap_type", "source", "data_type", "season", "scraper", "game_ids", "dates", "partitions",
    "missing_files", "estimated_time_minutes", "reason", "created_at", "status",
    "attempts", "max_attempts", "claimed_by", "claimed_at", "lease_expires_at", "last_error",
}


def run(*args):
    out = io.StringIO()
    call_command("tasks", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def snapshot():
    return list(Task.objects.order_by("pk").values())


@pytest.fixture
def ptype(db):
    return make_type(make_source(), minutes=2)


def test_claim_json_shape(ptype):
    t = make_task(ptype, priority="CRITICAL", season="2024-25")
    make_gap(ptype, "401000002", task=t, game_date=dt.date(2024, 11, 2))
    make_gap(ptype, "401000001", task=t, game_date=dt.date(2024, 11, 2))
    make_gap(ptype, "400999999", task=t, game_date=dt.date(2024, 11, 3))
    make_gap(ptype, "401000009", task=t, status="resolved")  # no longer missing: not listed
    doc = json.loads(run("claim", "--scraper", "espn_scraper", "--worker", "w1", "--lease-minutes", "5", "--json"))
    assert set(doc) == DOC_KEYS
    assert doc["id"] == str(t.pk)
    assert doc["priority"] == "CRITICAL" and doc["gap_type"] == "missing"
    assert (doc["source"], doc["data_type"], doc["season"], doc["scraper"]) == (
        "espn", "play_by_play", "2024-25", "espn_scraper")
    assert doc["game_ids"] == ["401000001", "401000002", "400999999"]  # game date, then id
    assert doc["dates"] == []
    assert doc["missing_files"] == 3 and doc["estimated_time_minutes"] == 6
    assert doc["status"] == "claimed" and doc["attempts"] == 1 and doc["claimed_by"] == "w1"
    assert doc["created_at"].endswith("Z") and doc["lease_expires_at"].endswith("Z")
    lease = dt.datetime.fromisoformat(doc["lease_expires_at"].replace("Z", "+00:00"))
    claimed = dt.datetime.fromisoformat(doc["claimed_at"].replace("Z", "+00:00"))
    assert lease - claimed == dt.timedelta(minutes=5)


def test_date_level_task_lists_dates(db):
    dtype = make_type(make_source("bref"), name="box_scores", level="date")
    t = make_task(dtype)
    make_gap(dtype, "2024-11-02", task=t, game_date=dt.date(2024, 11, 2))
    make_gap(dtype, "2024-11-01", task=t, game_date=dt.date(2024, 11, 1))
    doc = json.loads(run("claim", "--scraper", "bref_scraper", "--json"))
    assert doc["dates"] == ["2024-11-01", "2024-11-02"] and doc["game_ids"] == []


def test_claim_with_nothing_pending_prints_null_and_exits_0(ptype):
    assert json.loads(run("claim", "--scraper", "espn_scraper", "--json")) is None
    assert "no pending task" in run("claim", "--scraper", "espn_scraper")


def test_complete_and_fail_round_trip(ptype):
    t = make_task(ptype, max_attempts=2)
    run("claim", "--scraper", "espn_scraper")
    doc = json.loads(run("fail", str(t.pk), "--error", "HTTP 503", "--json"))
    assert (doc["status"], doc["attempts"], doc["last_error"]) == ("pending", 1, "HTTP 503")
    run("claim", "--scraper", "espn_scraper")
    assert "done" in run("complete", str(t.pk))
    assert Task.objects.get().status == TaskStatus.DONE


@pytest.mark.parametrize("args, message", [
    (("complete", "6f1c1f7e-8a5b-4c6e-9a51-8d9b1b0e0f00"), "no such task"),
    (("complete", "not-a-uuid"), "not a valid task id"),
    (("fail", "6f1c1f7e-8a5b-4c6e-9a51-8d9b1b0e0f00", "--error", "x"), "no such task"),
    (("complete", "{pending}"), "is pending, not claimed"),
    (("fail", "{pending}", "--error", "x"), "is pending, not claimed"),
    (("complete", "{done}"), "is done, not claimed"),
    (("fail", "{claimed}", "--error", "   "), "--error: must not be empty"),
    (("complete", "{claimed}", "--worker", "other"), "claimed by 'w'"),
    (("claim", "--scraper", "nobody_scraper"), "unknown scraper 'nobody_scraper'"),
    (("claim", "--scraper", "espn_scraper", "--lease-minutes", "0"), "--lease-minutes: must be between 1 and 10080"),
    (("claim", "--scraper", "espn_scraper", "--lease-minutes", "0.05"), "--lease-minutes: must be between 1 and 10080"),
    (("claim", "--scraper", "espn_scraper", "--lease-minutes", "10081"), "--lease-minutes: must be between 1 and 10080"),
    (("claim", "--scraper", "espn_scraper", "--lease-minutes", "nan"), "--lease-minutes: expected a number"),
    (("claim", "--scraper", "espn_scraper", "--worker", "w" * 200), "--worker: at most 150 characters, got 200"),
    (("complete", "{claimed}", "--worker", "w" * 200), "--worker: at most 150 characters, got 200"),
    (("list", "--status", "open"), "--status: unknown status 'open'"),
    (("list", "--scraper", "nobody_scraper"), "unknown scraper"),
])
def test_bad_input_exits_2_and_changes_nothing(ptype, args, message):
    ids = {
        "pending": make_task(ptype, priority="LOW").pk,
        "done": make_task(ptype, status=TaskStatus.DONE).pk,
        "claimed": make_task(ptype, status=TaskStatus.CLAIMED, claimed_by="w", attempts=1,
                             lease_expires_at=dt.datetime(2999, 1, 1, tzinfo=dt.timezone.utc)).pk,
    }
    args = [a.format(**ids) for a in args]
    before = snapshot()
    with pytest.raises(CommandError) as exc:
        run(*args)
    assert exc.value.returncode == 2
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert snapshot() == before


def test_list_json_filters(ptype):
    other = make_type(make_source("nba", scraper="nba_api"))
    a = make_task(ptype, priority="HIGH")
    make_task(ptype, status=TaskStatus.DONE)
    make_task(other)
    doc = json.loads(run("list", "--status", "pending", "--scraper", "espn_scraper", "--json"))
    assert doc["count"] == 1 and [d["id"] for d in doc["tasks"]] == [str(a.pk)]
    assert set(doc["tasks"][0]) == DOC_KEYS
    assert json.loads(run("list", "--json"))["count"] == 3
    assert "espn.play_by_play" in run("list")
