"""Fixtures for the events tests: hooks config, metrics, fake run services, enqueue capture."""
import pytest

from events.hooks import parse_events_config

HOOKS = {
    "cooldown_seconds": 60,
    "hooks": [
        {"name": "git_post_commit", "trigger": "post-commit", "metrics": ["code_base.*", "git.*"]},
        {"name": "s3_upload_complete", "trigger": "s3_event", "metrics": ["s3_storage.*"]},
        {"name": "scraper_complete", "trigger": "scraper_complete", "metrics": ["data_gaps.*"], "reconcile": True},
        {"name": "daily_sync_check", "trigger": "cron:0 9 * * *", "metrics": ["s3_storage.*"]},
        {"name": "monthly_audit", "trigger": "cron:0 0 1 * *", "metrics": ["*"]},
    ],
}


def set_events_config(raw):
    from metrics.models import MetricsSettings

    parse_events_config(raw)  # tests only configure valid sections unless they say otherwise
    s = MetricsSettings.load()
    s.events_config = raw
    s.save()


def make_metric(full_name, kind="file_count", **params):
    from metrics.models import MetricDefinition

    category, name = full_name.split(".", 1)
    return MetricDefinition.objects.create(category=category, name=name, kind=kind, params=params,
                                           parse_type="integer")


@pytest.fixture
def hooks_config(db):
    set_events_config(HOOKS)
    for name in ("code_base.python_files", "git.commits", "s3_storage.total_objects", "data_gaps.open"):
        make_metric(name)
    return HOOKS


class FakeRuns:
    """Stands in for verification_run / reconcile_run where a test is about events logic: records
    the calls and creates real run rows (so the event's links are real foreign keys)."""

    def __init__(self):
        self.verifications = []
        self.reconciles = []
        self.fail_with = None
        self.order = []

    def verification_run(self, *, trigger="manual", patterns=None, update=False, use_cache=True, **kw):
        from metrics.models import VerificationRun

        if self.fail_with:
            raise self.fail_with
        self.order.append("verify")
        self.verifications.append({"trigger": trigger, "patterns": patterns, "update": update, "use_cache": use_cache})
        return VerificationRun.objects.create(trigger=trigger, status="completed", update=update)

    def reconcile_run(self, *, use_cache=False, trigger="manual", output=None, **kw):
        import datetime as dt

        from reconciliation.models import ReconcileRun

        self.order.append("reconcile")
        self.reconciles.append({"trigger": trigger, "use_cache": use_cache})
        return ReconcileRun.objects.create(trigger=trigger, status="completed", as_of=dt.date(2026, 11, 22))


@pytest.fixture
def fake_runs(monkeypatch):
    fake = FakeRuns()
    import metrics.services

    monkeypatch.setattr(metrics.services, "verification_run", fake.verification_run)
    import reconciliation.services.reconcile as reconciling

    monkeypatch.setattr(reconciling, "reconcile_run", fake.reconcile_run)
    return fake


@pytest.fixture
def enqueued(monkeypatch):
    """Captures django-q2 enqueues instead of writing to the broker."""
    calls = []

    def fake_async_task(func, *args, **kwargs):
        calls.append((func, args))
        return "task-id"

    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", fake_async_task)
    return calls


def make_task(*, source="espn", scraper="espn_async_scraper", partitions=("401",), gap_status="open",
              task_status="pending", location="s3://nba-sim-raw-data-lake/", pattern="espn_play_by_play/{game_id}.json"):
    """A Source/DataType (game level) with one task covering a gap per partition."""
    import datetime as dt

    from reconciliation.models import DataType, Gap, Source, Task

    src, _ = Source.objects.get_or_create(name=source, defaults={"scraper": scraper, "location": location,
                                                                  "seasons": ["2026-27"]})
    dtype, _ = DataType.objects.get_or_create(source=src, name="play_by_play",
                                              defaults={"path_patterns": [pattern], "level": "game"})
    task = Task.objects.create(source=src, data_type=dtype, season="2026-27", priority="CRITICAL", priority_rank=0,
                               gap_kind="missing", scraper=scraper, status=task_status)
    for i, p in enumerate(partitions):
        Gap.objects.create(source=src, data_type=dtype, season="2026-27", partition=p,
                           game_date=dt.date(2026, 11, 20) + dt.timedelta(days=i), kind="missing",
                           priority="CRITICAL", priority_rank=0, status=gap_status, task=task)
    return task
