import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from metrics.models import Snapshot
from tests.metrics.reports_factories import make_metric, measure

pytestmark = pytest.mark.django_db


@pytest.fixture
def lake():
    now = timezone.now()
    a = make_metric("s3.objects")
    measure(a, 120, now)
    b = make_metric("s3.size_gb", parse_type="float")
    measure(b, 2.5, now)
    c = make_metric("git.commits")
    measure(c, None, now, status="error", error="not a git repo")
    make_metric("new.metric")
    Snapshot.objects.create(date=dt.date(2026, 11, 1),
                            values={"s3.objects": 100, "s3.size_gb": 2.5, "git.commits": 40, "old.metric": 9})
    Snapshot.objects.create(date=dt.date(2026, 11, 10), values={})


def test_diff_json(lake, capsys):
    call_command("diff", "--since", "2026-11-01", "--json")
    doc = json.loads(capsys.readouterr().out)
    rows = {r["metric"]: r for r in doc["metrics"]}
    assert rows["s3.objects"] == {"metric": "s3.objects", "then": 100, "now": 120, "delta": 20, "delta_pct": 20.0,
                                  "change": "changed"}
    assert rows["s3.size_gb"]["change"] == "unchanged"
    assert rows["git.commits"]["now"] is None and rows["git.commits"]["delta"] is None
    assert doc["added"] == ["new.metric"]
    assert doc["removed"] == ["old.metric"]
    assert doc["summary"] == {"added": 1, "changed": 2, "removed": 1, "unchanged": 1}
    assert doc["since"] == "2026-11-01"


def test_diff_text(lake, capsys):
    call_command("diff", "--since", "2026-11-01")
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("s3.objects"))
    assert line.split() == ["s3.objects", "100", "120", "20", "+20.00", "changed"]
    assert "added: 1" in out and "removed: 1" in out


def test_diff_missing_snapshot_names_date_and_nearest(lake):
    with pytest.raises(CommandError) as exc:
        call_command("diff", "--since", "2026-11-05")
    assert exc.value.returncode == 2
    msg = str(exc.value)
    assert "2026-11-05" in msg and "2026-11-01" in msg and "2026-11-10" in msg and "\n" not in msg


@pytest.mark.parametrize("bad", ["2026-11-32", "last week", ""])
def test_diff_invalid_date_exits_2_and_changes_nothing(lake, bad):
    before = list(Snapshot.objects.values_list("date", "values"))
    with pytest.raises(CommandError) as exc:
        call_command("diff", "--since", bad)
    assert exc.value.returncode == 2 and "--since" in str(exc.value)
    assert list(Snapshot.objects.values_list("date", "values")) == before


def test_diff_without_any_snapshot(db):
    with pytest.raises(CommandError) as exc:
        call_command("diff", "--since", "2026-11-05")
    assert exc.value.returncode == 2 and "nearest snapshots: none" in str(exc.value)


def test_diff_without_since_exits_2(lake):
    with pytest.raises(CommandError) as exc:
        call_command("diff")
    assert exc.value.returncode == 2 and "--since: required" in str(exc.value)
