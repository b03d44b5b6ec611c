import datetime as dt

import pytest
from django.db import transaction

from events.choices import EventStatus
from events.models import Cooldown, Event
from events.services import (
    EventError, cooldown_acquire, event_process, event_record, events_requeue_stale, PROCESS_TASK,
)
from events.tasks import history_cleanup, process_event

from .conftest import set_events_config

T0 = dt.datetime(2026, 11, 22, 10, 0, tzinfo=dt.timezone.utc)


# --- recording ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_record_enqueues_on_commit_with_the_event_id(enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        with transaction.atomic():
            event, created = event_record("git_post_commit", source="git", payload={"commit": "abc"})
            assert enqueued == []  # nothing reaches the broker before the row is committed
    assert created and len(callbacks) == 1
    assert enqueued == [(PROCESS_TASK, (event.pk,))]
    assert event.status == EventStatus.PENDING and event.payload == {"commit": "abc"}


@pytest.mark.django_db
def test_same_dedupe_key_is_recorded_and_enqueued_once(enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first, created1 = event_record("scraper_complete", source="espn", dedupe_key="run-42")
        second, created2 = event_record("scraper_complete", source="espn", dedupe_key="run-42",
                                        payload={"different": True})
    assert (created1, created2) == (True, False)
    assert first.pk == second.pk and Event.objects.count() == 1
    assert len(enqueued) == 1


@pytest.mark.django_db
def test_long_dedupe_keys_keep_their_identity():
    key = "s3:bucket:00AA:" + "k" * 1000
    a, _ = event_record("x", dedupe_key=key, enqueue=False)
    b, created = event_record("x", dedupe_key=key, enqueue=False)
    c, _ = event_record("x", dedupe_key=key + "2", enqueue=False)
    assert not created and a.pk == b.pk and c.pk != a.pk
    assert len(a.dedupe_key) <= 255


@pytest.mark.django_db
@pytest.mark.parametrize("kwargs, message", [
    ({"type": "bad type!"}, "event type"),
    ({"type": ""}, "event type"),
    ({"type": "ok", "payload": [1]}, "payload"),
    ({"type": "ok", "source": "s" * 151}, "source"),
])
def test_record_rejects_bad_input_and_records_nothing(kwargs, message):
    type_ = kwargs.pop("type")
    with pytest.raises(EventError, match=message):
        event_record(type_, enqueue=False, **kwargs)
    assert Event.objects.count() == 0


# --- processing -----------------------------------------------------------------------------------

@pytest.mark.django_db
def test_process_fires_matching_hooks_and_links_the_run(hooks_config, fake_runs):
    event, _ = event_record("git_post_commit", source="git", enqueue=False)
    event = event_process(event.pk, now=T0)
    assert event.status == EventStatus.DONE, event.error
    assert fake_runs.verifications == [
        {"trigger": "git_post_commit", "patterns": ["code_base.*", "git.*"], "update": False, "use_cache": False}
    ]
    assert event.verification_run_id is not None and event.reconcile_run_id is None
    assert event.result["hooks"] == ["git_post_commit"] and event.result["metrics"] == 2
    assert event.processed_at is not None


@pytest.mark.django_db
def test_an_event_is_processed_once(hooks_config, fake_runs):
    event, _ = event_record("git_post_commit", source="git", enqueue=False)
    event_process(event.pk, now=T0)
    again = event_process(event.pk, now=T0 + dt.timedelta(hours=1))  # a duplicate task delivery
    assert again.status == EventStatus.DONE
    assert len(fake_runs.verifications) == 1
    assert Event.objects.get(pk=event.pk).attempts == 1


@pytest.mark.django_db
def test_a_processing_event_left_by_a_killed_worker_is_taken_again(hooks_config, fake_runs, settings):
    event, _ = event_record("git_post_commit", source="git", enqueue=False)
    Event.objects.filter(pk=event.pk).update(status=EventStatus.PROCESSING, started_at=T0)
    # still within the cluster timeout: someone is working on it
    assert event_process(event.pk, now=T0 + dt.timedelta(seconds=10)).status == EventStatus.PROCESSING
    late = T0 + dt.timedelta(seconds=settings.Q_CLUSTER["timeout"] + 1)
    assert event_process(event.pk, now=late).status == EventStatus.DONE
    assert len(fake_runs.verifications) == 1


@pytest.mark.django_db
def test_cooldown_lives_in_the_database(hooks_config, fake_runs):
    first, _ = event_record("git_post_commit", source="git", enqueue=False)
    second, _ = event_record("git_post_commit", source="git", enqueue=False)
    other_source, _ = event_record("git_post_commit", source="ci", enqueue=False)
    third, _ = event_record("git_post_commit", source="git", enqueue=False)

    assert event_process(first.pk, now=T0).status == EventStatus.DONE
    second = event_process(second.pk, now=T0 + dt.timedelta(seconds=30))
    assert second.status == EventStatus.SKIPPED_COOLDOWN
    assert "60s" in second.result["cooldown"] and second.verification_run_id is None
    # cooldown is per (type, source)
    assert event_process(other_source.pk, now=T0 + dt.timedelta(seconds=31)).status == EventStatus.DONE
    # after the window, the hooks fire again
    assert event_process(third.pk, now=T0 + dt.timedelta(seconds=61)).status == EventStatus.DONE
    assert len(fake_runs.verifications) == 3

    row = Cooldown.objects.get(event_type="git_post_commit", source="git")
    assert row.last_fired_at == T0 + dt.timedelta(seconds=61) and row.last_event_id == third.pk


@pytest.mark.django_db
def test_cooldown_row_written_elsewhere_is_honoured(hooks_config, fake_runs):
    """Another process fired a moment ago: only the database knows."""
    Cooldown.objects.create(event_type="git_post_commit", source="git", last_fired_at=T0)
    event, _ = event_record("git_post_commit", source="git", enqueue=False)
    assert event_process(event.pk, now=T0 + dt.timedelta(seconds=5)).status == EventStatus.SKIPPED_COOLDOWN
    assert fake_runs.verifications == []


@pytest.mark.django_db
def test_cooldown_acquire_is_a_conditional_update():
    assert cooldown_acquire("t", "s", 60, now=T0) is True
    assert cooldown_acquire("t", "s", 60, now=T0 + dt.timedelta(seconds=59)) is False
    assert cooldown_acquire("t", "s", 60, now=T0 + dt.timedelta(seconds=59), force=True) is True
    assert cooldown_acquire("t", "s", 0, now=T0 + dt.timedelta(seconds=59)) is True
    assert Cooldown.objects.count() == 1


@pytest.mark.django_db
def test_reconcile_hook_runs_reconcile_before_verifying(hooks_config, fake_runs):
    event, _ = event_record("scraper_complete", source="espn", enqueue=False)
    event = event_process(event.pk, now=T0)
    assert event.status == EventStatus.DONE, event.error
    assert fake_runs.order == ["reconcile", "verify"]  # gap metrics are measured after the gaps moved
    assert event.reconcile_run_id and event.verification_run_id


@pytest.mark.django_db
def test_hooks_matching_no_metric_do_not_run_or_take_the_cooldown(fake_runs):
    set_events_config({"hooks": [{"name": "h", "trigger": "x", "metrics": ["nothing.*"]}]})
    event, _ = event_record("x", enqueue=False)
    event = event_process(event.pk, now=T0)
    assert event.status == EventStatus.DONE and "no enabled metric" in event.result["note"]
    assert fake_runs.verifications == [] and not Cooldown.objects.exists()


@pytest.mark.django_db
def test_disabled_events_record_but_fire_nothing(hooks_config, fake_runs):
    set_events_config({**hooks_config, "enabled": False})
    event, _ = event_record("git_post_commit", enqueue=False)
    event = event_process(event.pk, now=T0)
    assert event.status == EventStatus.DONE and fake_runs.verifications == []


@pytest.mark.django_db
def test_a_failing_run_fails_the_event_with_the_reason(hooks_config, fake_runs):
    fake_runs.fail_with = RuntimeError("probe exploded")
    event, _ = event_record("git_post_commit", source="git", enqueue=False)
    with pytest.raises(RuntimeError, match="probe exploded"):
        process_event(event.pk)  # the django-q2 task reports the failure too
    event.refresh_from_db()
    assert event.status == EventStatus.FAILED and "RuntimeError: probe exploded" in event.error


@pytest.mark.django_db
def test_malformed_hooks_in_the_database_fail_the_event(fake_runs):
    from metrics.models import MetricsSettings

    s = MetricsSettings.load()
    s.events_config = {"hooks": [{"trigger": "x"}]}
    s.save()
    event, _ = event_record("x", enqueue=False)
    event = event_process(event.pk, now=T0)
    assert event.status == EventStatus.FAILED and "events.hooks[0].name" in event.error


@pytest.mark.django_db
def test_requeue_stale_pending_events(enqueued, django_capture_on_commit_callbacks):
    old, _ = event_record("a", enqueue=False, now=T0)
    event_record("b", enqueue=False, now=T0 + dt.timedelta(minutes=9))
    event_record("c", enqueue=False, now=T0, status=EventStatus.DONE)
    killed, _ = event_record("d", enqueue=False, now=T0 - dt.timedelta(hours=2))
    Event.objects.filter(pk=killed.pk).update(status=EventStatus.PROCESSING, started_at=T0 - dt.timedelta(hours=2))
    working, _ = event_record("e", enqueue=False, now=T0)
    Event.objects.filter(pk=working.pk).update(status=EventStatus.PROCESSING, started_at=T0)
    with django_capture_on_commit_callbacks(execute=True):
        assert events_requeue_stale(older_than_minutes=10, now=T0 + dt.timedelta(minutes=15)) == 2
    assert enqueued == [(PROCESS_TASK, (killed.pk,)), (PROCESS_TASK, (old.pk,))]


@pytest.mark.django_db
def test_enqueue_failure_leaves_the_event_pending(monkeypatch, django_capture_on_commit_callbacks):
    import django_q.tasks

    def broken(*a, **k):
        raise ConnectionError("redis down")

    monkeypatch.setattr(django_q.tasks, "async_task", broken)
    with django_capture_on_commit_callbacks(execute=True):
        event, _ = event_record("a")
    assert Event.objects.get(pk=event.pk).status == EventStatus.PENDING


# --- retention ------------------------------------------------------------------------------------

@pytest.mark.django_db
def test_history_cleanup_keeps_recent_approved_and_applied(settings):
    from approvals.models import ApprovalRequest
    from metrics.models import Measurement

    from .conftest import make_metric

    m = make_metric("s3_storage.total_objects")
    now = T0
    old = now - dt.timedelta(days=400)
    mk = lambda when, **kw: Measurement.objects.create(metric=m, measured_at=when, value=1, status="ok",
                                                        severity="none", **kw)
    plain_old = mk(old)
    recent = mk(now - dt.timedelta(days=10))
    applied_old = mk(old, applied=True)
    approved_old = mk(old)
    ApprovalRequest.objects.create(metric=m, proposed_value=2, severity="critical", measurement=approved_old,
                                   status="approved")
    old_event, _ = event_record("a", enqueue=False, now=old, status=EventStatus.DONE)
    old_pending, _ = event_record("b", enqueue=False, now=old)
    settings.ADCE_HISTORY_RETENTION_DAYS = 365
    out = history_cleanup(now=now)
    assert out["measurements_deleted"] == 1 and out["events_deleted"] == 1
    left = set(Measurement.objects.values_list("pk", flat=True))
    assert left == {recent.pk, applied_old.pk, approved_old.pk}
    assert not Event.objects.filter(pk=old_event.pk).exists() and Event.objects.filter(pk=old_pending.pk).exists()
    assert plain_old.pk not in left
    with pytest.raises(ValueError):
        history_cleanup(days=0, now=now)


# --- scraper_complete ---------------------------------------------------------------------------------

@pytest.mark.django_db
def test_scraper_complete_completes_only_claimed_tasks_whose_gaps_are_resolved(fake_runs):
    from reconciliation.models import Task

    from .conftest import make_task

    seen = make_task(partitions=["401"], gap_status="resolved", task_status="claimed")
    waiting = make_task(partitions=["402"], gap_status="open", task_status="claimed")
    pending = make_task(partitions=["403"], gap_status="resolved", task_status="pending")
    other = make_task(source="nba_api", scraper="nba_api_scraper", partitions=["404"], gap_status="resolved",
                      task_status="claimed")
    Task.objects.filter(pk__in=[seen.pk, waiting.pk, other.pk]).update(claimed_by="w", claimed_at=T0)
    # source "espn" → its scraper (no scraper in the payload)
    event, _ = event_record("scraper_complete", source="espn", enqueue=False)
    event = event_process(event.pk, now=T0)
    assert event.status == EventStatus.DONE, event.error
    assert event.result["tasks"] == {"scraper": "espn_async_scraper", "completed": [str(seen.pk)],
                                     "waiting": [str(waiting.pk)]}
    status = dict(Task.objects.values_list("pk", "status"))
    assert status == {seen.pk: "done", waiting.pk: "claimed", pending.pk: "pending", other.pk: "claimed"}


@pytest.mark.django_db
def test_scraper_complete_with_explicit_task_ids(fake_runs):
    from reconciliation.models import Task

    from .conftest import make_task

    a = make_task(partitions=["401"], gap_status="resolved", task_status="claimed")
    b = make_task(partitions=["402"], gap_status="resolved", task_status="claimed")
    Task.objects.update(claimed_by="w", claimed_at=T0)
    event, _ = event_record("scraper_complete", source="espn", payload={"task_ids": [str(a.pk)]}, enqueue=False)
    event_process(event.pk, now=T0)
    assert dict(Task.objects.values_list("pk", "status")) == {a.pk: "done", b.pk: "claimed"}


@pytest.mark.django_db
def test_a_failed_reconcile_is_linked_and_fails_the_event(hooks_config, monkeypatch):
    import reconciliation.services.reconcile as reconciling
    from reconciliation.models import ReconcileRun

    def failing(**kw):
        run = ReconcileRun.objects.create(status="failed", as_of=T0.date(), error="scan failed: s3://x/: denied")
        raise reconciling.ReconcileFailed("scan failed: s3://x/: denied", run)

    monkeypatch.setattr(reconciling, "reconcile_run", failing)
    event, _ = event_record("scraper_complete", source="espn", enqueue=False)
    event = event_process(event.pk, now=T0)
    assert event.status == EventStatus.FAILED and "denied" in event.error
    assert event.reconcile_run.status == "failed"
