"""`manage.py demo --no-serve` on a small lake: every step runs for real and the planted defects show."""
import datetime as dt
import io
import json
import re
import signal
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

from adce_site.demo_lake import build_demo_lake, current_season_end, season_label
from metrics.models import MetricDefinition
from reconciliation.models import CatalogGame, Gap, ScanRun, Task
from tests.demo_process import alive, descendants, kill_all, start_demo


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


@pytest.mark.django_db(transaction=True)
def test_a_second_demo_run_reports_no_drift_it_caused_itself(tmp_path):
    """The admin login exists before the first verify, so accounts.staff_users does not jump on run 2;
    "first baselines" is said only when there were none."""
    first, second = io.StringIO(), io.StringIO()
    call_command("demo", "--no-serve", "--seasons", "2", "--dir", str(tmp_path / "demo"), stdout=first)
    call_command("demo", "--no-serve", "--seasons", "2", "--dir", str(tmp_path / "demo"), stdout=second)
    assert "== verify --update (first baselines)" in first.getvalue()
    assert "first baselines" not in second.getvalue() and "== verify --update\n" in second.getvalue()
    staff = MetricDefinition.objects.get(category="accounts", name="staff_users")
    latest = staff.measurements.order_by("-measured_at", "-pk").first()
    assert (latest.status, latest.value, staff.baseline_value) == ("ok", 1, 1)
    assert not re.search(r"^accounts\.staff_users\s+(minor|moderate|major|critical)", second.getvalue(), re.M)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_to_the_demo_stops_the_worker_it_started(tmp_path, sig):
    """A real `manage.py demo` serving on a free port: a signal to the demo process alone (a service
    manager's SIGTERM, or Ctrl-C's SIGINT) ends it and the django-q2 cluster with all its processes."""
    demo = start_demo(tmp_path, "--seasons", "2")
    cluster: set[int] = set()
    try:
        demo.wait_serving(timeout=180)
        deadline = time.monotonic() + 60
        while not descendants(demo.worker_pid) and time.monotonic() < deadline:
            time.sleep(0.1)  # qcluster forks its sentinel and workers a moment after it starts
        cluster = {demo.worker_pid} | descendants(demo.worker_pid)
        assert len(cluster) > 1, "qcluster runs its workers as child processes"
        assert demo.stop(sig, timeout=60) == 0, demo.output()[-3000:]
        deadline = time.monotonic() + 20
        while any(alive(p) for p in cluster) and time.monotonic() < deadline:
            time.sleep(0.1)  # the cluster's processes wind down after the demo returned
        assert not [p for p in cluster if alive(p)], f"left running: {cluster}\n{demo.output()[-3000:]}"
    finally:  # never leave a process behind, whatever failed
        leftovers = descendants(demo.proc.pid) | cluster
        demo.stop(signal.SIGKILL)
        kill_all(leftovers)
