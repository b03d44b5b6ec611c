"""The shell commands notify too, not only event- and schedule-driven runs (issue 4, item 4)."""
import datetime as dt
import io

import pytest
from django.core import mail
from django.core.management import call_command

from metrics.models import MetricDefinition
from reconciliation.models import DataType, ReconciliationSettings, Source

pytestmark = pytest.mark.django_db


def test_verify_with_critical_severity_emails(settings, tmp_path):
    settings.ADCE_NOTIFY_EMAILS = ["ops@example.org"]
    (tmp_path / "a.json").write_text("{}")
    MetricDefinition.objects.create(category="lake", name="files", kind="file_count", parse_type="integer",
                                    params={"path": str(tmp_path)}, baseline_value=100,
                                    baseline_set_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    with pytest.raises(SystemExit) as exc:
        call_command("verify", stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.code == 1
    assert len(mail.outbox) == 1 and "critical" in mail.outbox[0].subject
    assert "lake.files" in mail.outbox[0].body


def test_verify_without_critical_severity_sends_nothing(settings, tmp_path):
    settings.ADCE_NOTIFY_EMAILS = ["ops@example.org"]
    (tmp_path / "a.json").write_text("{}")
    MetricDefinition.objects.create(category="lake", name="files", kind="file_count", parse_type="integer",
                                    params={"path": str(tmp_path)}, baseline_value=1,
                                    baseline_set_at=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    call_command("verify", stdout=io.StringIO(), stderr=io.StringIO())
    assert mail.outbox == []


def test_reconcile_opening_critical_gaps_emails_and_a_dry_run_does_not(settings, tmp_path):
    settings.ADCE_NOTIFY_EMAILS = ["ops@example.org"]
    lake = tmp_path / "lake"
    lake.mkdir()
    source = Source.objects.create(name="espn", scraper="espn_scraper", location=lake.as_uri() + "/",
                                   seasons=["2026-27"])
    DataType.objects.create(source=source, name="schedule", level="fixed", path_patterns=["schedule.json"])
    ReconciliationSettings.load()
    call_command("reconcile", "--dry-run", "--as-of", "2026-11-22", stdout=io.StringIO(), stderr=io.StringIO())
    assert mail.outbox == []
    call_command("reconcile", "--as-of", "2026-11-22", stdout=io.StringIO(), stderr=io.StringIO())
    # A required fixed key that is missing is HIGH, not CRITICAL: no notification.
    assert mail.outbox == []
    gap_type = DataType.objects.create(source=source, name="pbp", level="date",
                                       path_patterns=["pbp/{date}.json"])
    from reconciliation.models import CatalogGame
    CatalogGame.objects.create(source=source, game_id="401", season="2026-27", game_date=dt.date(2026, 11, 21))
    call_command("reconcile", "--as-of", "2026-11-22", stdout=io.StringIO(), stderr=io.StringIO())
    assert len(mail.outbox) == 1 and "CRITICAL" in mail.outbox[0].subject
    assert gap_type.name in mail.outbox[0].body
