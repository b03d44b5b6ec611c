import datetime as dt
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from metrics.models import Measurement, MetricDefinition
from tests.metrics.reports_factories import make_metric, measure

pytestmark = pytest.mark.django_db


@pytest.fixture
def series():
    now = timezone.now()
    m = make_metric("s3.objects", baseline=100)
    measure(m, 100, now - dt.timedelta(days=3))
    measure(m, None, now - dt.timedelta(days=2), status="error", error="NoSuchBucket: nba-lake")
    measure(m, 150, now - dt.timedelta(days=1), status="critical", severity="critical", drift_pct=50.0)
    measure(m, 5, now - dt.timedelta(days=60))
    return m


def test_history_json_one_document(series, capsys):
    call_command("history", "s3.objects", "--days", "7", "--json")
    doc = json.loads(capsys.readouterr().out)
    assert doc["metric"] == "s3.objects" and doc["days"] == 7
    assert [p["value"] for p in doc["points"]] == [100, None, 150]
    assert [p["status"] for p in doc["points"]] == ["ok", "error", "critical"]
    assert doc["points"][1]["error"] == "NoSuchBucket: nba-lake"
    assert doc["points"][2]["delta"] == 50 and doc["points"][2]["delta_pct"] == 50.0
    assert doc["trend"]["change"] == 50 and doc["trend"]["change_pct"] == 50.0
    assert doc["stats"] == {"count": 2, "min": 100, "max": 150, "mean": 125.0, "stddev": 25.0, "errors": 1,
                            "stddev_kind": "population"}


def test_history_text(series, capsys):
    call_command("history", "s3.objects", "--days", "7")
    out = capsys.readouterr().out
    assert "ERROR  NoSuchBucket: nba-lake" in out
    assert "trend: 100 -> 150  change +50 (+50.00%)" in out
    assert "min 100  max 150  mean 125.0  stddev 25.0 (population, n=2)" in out


def test_history_default_window_is_30_days(series, capsys):
    call_command("history", "s3.objects", "--json")
    assert len(json.loads(capsys.readouterr().out)["points"]) == 3


@pytest.mark.parametrize("args, needle", [
    (["no.such", "--days", "7"], "unknown metric 'no.such'"),
    (["nodot", "--days", "7"], "CATEGORY.NAME"),
    (["s3.objects", "--days", "0"], "--days: must be at least 1"),
    (["s3.objects", "--days", "-3"], "--days: must be at least 1"),
    (["s3.objects", "--days", "seven"], "--days: 'seven' is not an integer"),
    (["s3.objects", "--days", "99999999999"], "--days: at most 36600"),
])
def test_history_bad_input_exits_2(series, args, needle):
    before = (MetricDefinition.objects.count(), Measurement.objects.count())
    with pytest.raises(CommandError) as exc:
        call_command("history", *args)
    assert exc.value.returncode == 2
    assert needle in str(exc.value) and "\n" not in str(exc.value)
    assert (MetricDefinition.objects.count(), Measurement.objects.count()) == before
