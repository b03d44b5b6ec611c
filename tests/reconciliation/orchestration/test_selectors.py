"""The loop's health (SPEC §13) as figures and as `reconciliation_stat` metrics: errors, never 0, when
they cannot be judged."""
import datetime as dt

import pytest
from django.utils import timezone

from metrics.probes import ProbeError
from reconciliation.choices import GapStatus, TaskStatus
from reconciliation.models import Gap
from reconciliation.orchestration.models import Scraper
from reconciliation.orchestration.selectors import loop_health
from tests.metrics.test_probes_reconciliation import completed_reconcile, measure
from tests.reconciliation.test_tasks import make_gap, make_source, make_task, make_type

pytestmark = pytest.mark.django_db
H = dt.timedelta(hours=1)


def test_health_figures():
    now = timezone.now()
    pbp = make_type(make_source())
    for first_seen_hours, resolved_hours_ago in ((10, 1), (4, 2), (30, 3), (100, 30)):  # the last: > 24 h ago
        g = make_gap(pbp, status=GapStatus.RESOLVED)
        Gap.objects.filter(pk=g.pk).update(first_seen_at=now - (first_seen_hours + resolved_hours_ago) * H,
                                           resolved_at=now - resolved_hours_ago * H)
    old = make_gap(pbp, priority="CRITICAL")
    Gap.objects.filter(pk=old.pk).update(first_seen_at=now - 50 * H)
    make_gap(pbp, priority="CRITICAL")
    make_gap(pbp, priority="HIGH")
    Gap.objects.filter(priority="HIGH").update(first_seen_at=now - 500 * H)  # not CRITICAL: not counted
    for status in (TaskStatus.FAILED, TaskStatus.FAILED, TaskStatus.DONE):
        make_task(pbp, status=status)
    Scraper.objects.create(name="a", kind="command", command=["x"], paused_until=now + H)
    Scraper.objects.create(name="b", kind="command", command=["x"], paused_until=now - H)  # pause over
    Scraper.objects.create(name="c", kind="command", command=["x"], paused_until=now + H, declared=False)

    with pytest.raises(ProbeError, match="no reconcile"):
        measure("reconciliation_stat", stat="gaps_healed_24h")
    completed_reconcile()
    assert measure("reconciliation_stat", stat="gaps_healed_24h") == 3
    assert measure("reconciliation_stat", stat="median_time_to_heal_hours") == pytest.approx(10, abs=0.01)
    assert measure("reconciliation_stat", stat="oldest_critical_gap_age_hours") == pytest.approx(50, abs=0.01)
    assert measure("reconciliation_stat", stat="tasks_failed_for_good") == 2
    assert measure("reconciliation_stat", stat="scrapers_paused") == 1
    figures = {h["stat"]: h["value"] for h in loop_health()}
    assert figures["gaps_healed_24h"] == 3 and figures["scrapers_paused"] == 1


def test_time_to_heal_is_unknown_when_nothing_healed():
    completed_reconcile()
    with pytest.raises(ProbeError, match="no gap was resolved in the last 24 h"):
        measure("reconciliation_stat", stat="median_time_to_heal_hours")
    row = next(h for h in loop_health() if h["stat"] == "median_time_to_heal_hours")
    assert row["value"] is None and "no gap was resolved" in row["error"]
    # no open CRITICAL gap: its oldest age is truly 0, not unknown
    assert measure("reconciliation_stat", stat="oldest_critical_gap_age_hours") == 0
