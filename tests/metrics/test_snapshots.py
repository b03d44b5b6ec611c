import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from metrics.models import Snapshot
from metrics.snapshots import SnapshotDateError, snapshot_take
from tests.metrics.reports_factories import backdate, make_metric, measure

pytestmark = pytest.mark.django_db


def test_snapshot_stores_current_values_typed():
    now = timezone.now()
    a = make_metric("s.count")
    measure(a, 10, now - dt.timedelta(hours=2))
    measure(a, 12, now - dt.timedelta(hours=1))
    b = make_metric("s.ratio", parse_type="float")
    measure(b, 0.5, now - dt.timedelta(hours=1))
    c = make_metric("s.failed")
    measure(c, 3, now - dt.timedelta(hours=2))
    measure(c, None, now - dt.timedelta(hours=1), status="error", error="NoSuchBucket")
    make_metric("s.never")
    make_metric("s.off", enabled=False)

    snap = snapshot_take(now=now)
    snap.refresh_from_db()
    assert snap.date == now.date()
    assert snap.values == {"s.count": 12, "s.failed": None, "s.never": None, "s.ratio": 0.5}
    assert isinstance(snap.values["s.count"], int)


def test_snapshot_rerun_replaces_the_same_date():
    now = timezone.now()
    m = make_metric("s.count")
    measure(m, 1, now - dt.timedelta(minutes=10))
    first = snapshot_take(now=now)
    measure(m, 2, now - dt.timedelta(minutes=5))
    second = snapshot_take(now=now)
    assert Snapshot.objects.count() == 1
    assert first.pk == second.pk
    assert Snapshot.objects.get().values == {"s.count": 2}


def test_snapshot_of_a_past_date_holds_that_days_values():
    now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
    m = backdate(make_metric("s.count"), now - dt.timedelta(days=30))
    measure(m, 5, dt.datetime(2026, 11, 18, 23, 0, tzinfo=dt.timezone.utc))
    measure(m, 6, dt.datetime(2026, 11, 19, 1, 0, tzinfo=dt.timezone.utc))
    measure(m, 7, dt.datetime(2026, 11, 20, 8, 0, tzinfo=dt.timezone.utc))
    snap = snapshot_take(date=dt.date(2026, 11, 18), now=now)
    assert snap.values == {"s.count": 5}
    assert snapshot_take(date=dt.date(2026, 11, 19), now=now).values == {"s.count": 6}
    assert snapshot_take(now=now).values == {"s.count": 7}
    assert Snapshot.objects.count() == 3


def test_snapshot_future_date_refused():
    now = dt.datetime(2026, 11, 20, 9, 0, tzinfo=dt.timezone.utc)
    with pytest.raises(SnapshotDateError):
        snapshot_take(date=dt.date(2026, 11, 21), now=now)
    assert not Snapshot.objects.exists()


def test_snapshot_command(capsys):
    m = make_metric("s.count")
    measure(m, 3, timezone.now())
    make_metric("s.never")
    call_command("snapshot")
    out = capsys.readouterr().out
    assert "2 metrics" in out and "1 without a value" in out
    assert Snapshot.objects.get(date=timezone.now().date()).values == {"s.count": 3, "s.never": None}


def test_snapshot_command_json(capsys):
    import json

    m = make_metric("s.count")
    measure(m, 3, timezone.now())
    call_command("snapshot", "--json")
    doc = json.loads(capsys.readouterr().out)
    assert doc["values"] == {"s.count": 3}
    assert doc["date"] == timezone.now().date().isoformat()


@pytest.mark.parametrize("bad", ["2026-13-01", "yesterday", "2026-02-30", "2999-01-01"])
def test_snapshot_command_bad_date_exits_2_and_changes_nothing(bad):
    Snapshot.objects.create(date=dt.date(2026, 1, 1), values={"x.y": 1})
    make_metric("s.count")
    with pytest.raises(CommandError) as exc:
        call_command("snapshot", "--date", bad)
    assert exc.value.returncode == 2
    assert "--date" in str(exc.value) and "\n" not in str(exc.value)
    assert list(Snapshot.objects.values_list("date", "values")) == [(dt.date(2026, 1, 1), {"x.y": 1})]
