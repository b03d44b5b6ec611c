"""`manage.py demo --no-serve` on a small lake: every step runs for real and the planted defects show."""
import datetime as dt
import io
import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from adce_site.demo_lake import build_demo_lake, current_season_end, season_label
from metrics.models import MetricDefinition
from reconciliation.models import CatalogGame, Gap, ScanRun, Task


def test_demo_lake_is_deterministic_and_plants_every_defect(tmp_path):
    today = dt.date(2026, 11, 22)
    a = build_demo_lake(tmp_path / "a", today=today, seasons=2)
    b = build_demo_lake(tmp_path / "b", today=today, seasons=2)
    assert (a.objects, a.bytes, a.planted) == (b.objects, b.bytes, b.planted)
    assert a.seasons == ["2025-26", "2026-27"] and a.current_season == season_label(current_season_end(today))
    assert a.future_games > 0
    assert all(a.planted[k] > 0 for k in ("missing", "empty", "stale", "unmatched", "recent_unscraped"))


@pytest.mark.django_db(transaction=True)
def test_demo_runs_every_step_without_serving(tmp_path):
    out = io.StringIO()
    call_command("demo", "--no-serve", "--seasons", "2", "--dir", str(tmp_path / "demo"), stdout=out)
    text = out.getvalue()
    password = re.search(r"user: admin\s+password: (\S+)", text).group(1)
    assert get_user_model().objects.get(username="admin").check_password(password)

    scan = ScanRun.objects.get()
    assert scan.status == "completed" and scan.unmatched_count == 5
    kinds = set(Gap.objects.filter(status="open").values_list("kind", flat=True))
    assert kinds == {"missing", "empty", "stale"}
    assert Gap.objects.filter(priority="CRITICAL", status="open").exists()
    # Games after today are in the catalog but never gaps.
    today = dt.datetime.now(dt.timezone.utc).date()
    future = set(CatalogGame.objects.filter(game_date__gt=today).values_list("game_id", flat=True))
    assert future and not Gap.objects.filter(partition__in=future).exists()
    assert Task.objects.filter(status="pending").exists()

    queue = json.loads((tmp_path / "demo" / "gaps.json").read_text())
    assert queue["total_tasks"] == Task.objects.filter(status__in=["pending", "claimed"]).count()
    # Every demo metric measured without error and became a first baseline.
    assert MetricDefinition.objects.filter(enabled=True).count() == 14
    assert not MetricDefinition.objects.filter(baseline_set_at__isnull=True).exists()


@pytest.mark.django_db
def test_demo_refuses_a_silly_season_count(tmp_path):
    with pytest.raises(CommandError) as exc:
        call_command("demo", "--no-serve", "--seasons", "1", "--dir", str(tmp_path))
    assert exc.value.returncode == 2 and "--seasons" in str(exc.value)
