import io
import json

import pytest
from django.core.management import CommandError, call_command

from events.choices import EventStatus
from events.models import Cooldown, Event
from events.services import PROCESS_TASK


pytestmark = pytest.mark.django_db


def run(*args):
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


# --- emit_event ---------------------------------------------------------------------------------------

def test_emit_event_records_and_enqueues(enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        doc = json.loads(run("emit_event", "git_post_commit", "--source", "git", "--payload", '{"commit": "abc"}', "--json"))
    event = Event.objects.get()
    assert doc == {"id": event.pk, "status": "pending", "duplicate": False}
    assert (event.type, event.source, event.payload) == ("git_post_commit", "git", {"commit": "abc"})
    assert enqueued == [(PROCESS_TASK, (event.pk,))]


def test_emit_event_with_a_known_key_does_not_enqueue_again(enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run("emit_event", "x", "--id", "k1")
        out = run("emit_event", "x", "--id", "k1")
    assert "already recorded" in out and Event.objects.count() == 1 and len(enqueued) == 1


@pytest.mark.parametrize("args, message", [
    (["x", "--payload", "{not json"], "--payload: not valid JSON"),
    (["x", "--payload", "[1, 2]"], "--payload: expected a JSON object"),
    (["bad type"], "event type"),
])
def test_emit_event_bad_input_exits_2_and_records_nothing(args, message, enqueued):
    with pytest.raises(CommandError) as exc:
        call_command("emit_event", *args)
    assert exc.value.returncode == 2 and message in str(exc.value)
    assert Event.objects.count() == 0 and enqueued == []


# --- events status | test | trigger ---------------------------------------------------------------

def test_events_status_lists_hooks_metrics_cooldowns_and_recent_events(hooks_config, fake_runs):
    call_command("events", "trigger", "--event-type", "git_post_commit", stdout=io.StringIO())
    doc = json.loads(run("events", "status", "--json"))
    hooks = {h["name"]: h for h in doc["hooks"]}
    assert hooks["git_post_commit"]["matched_metrics"] == ["code_base.python_files", "git.commits"]
    assert hooks["monthly_audit"]["cron"] == "0 0 1 * *" and len(hooks["monthly_audit"]["matched_metrics"]) == 4
    assert doc["cooldown_seconds"] == 60 and doc["endpoint_token_configured"] is True
    assert doc["cooldowns"][0]["event_type"] == "git_post_commit" and doc["cooldowns"][0]["cooling_down"] is True
    assert doc["recent_events"][0]["type"] == "git_post_commit" and doc["events_by_status"] == {"done": 1}
    text = run("events", "status")
    assert "git_post_commit (trigger post-commit)" in text and "cooling down" in text


def test_events_test_shows_what_would_fire_without_side_effects(hooks_config, fake_runs):
    text = run("events", "test", "--event-type", "git_post_commit")
    assert "EVENT TEST: git_post_commit" in text
    assert "✓ Hook configured: git_post_commit" in text
    assert "Would Trigger: 2 metrics" in text and "  - git.commits" in text
    doc = json.loads(run("events", "test", "--event-type", "post-commit", "--json"))
    assert [h["name"] for h in doc["hooks"]] == ["git_post_commit"] and doc["would_fire"] is True
    doc = json.loads(run("events", "test", "--event-type", "scraper_complete", "--json"))
    assert doc["reconcile"] is True and doc["metrics"] == ["data_gaps.open"] and doc["builtin"]
    assert Event.objects.count() == 0 and Cooldown.objects.count() == 0 and fake_runs.verifications == []


def test_events_test_unknown_type_exits_2(hooks_config):
    with pytest.raises(CommandError) as exc:
        call_command("events", "test", "--event-type", "nope")
    assert exc.value.returncode == 2 and "no hook matches" in str(exc.value)


def test_builtin_types_are_known_without_hooks():
    doc = json.loads(run("events", "test", "--event-type", "s3_event", "--json"))
    assert doc["hooks"] == [] and "inventory" in doc["builtin"]


def test_events_trigger_fires_now_ignoring_cooldown(hooks_config, fake_runs):
    out1 = run("events", "trigger", "--event-type", "git_post_commit")
    out2 = run("events", "trigger", "--event-type", "git_post_commit")
    assert "✓ Event triggered: git_post_commit" in out1 and "Metrics triggered: 2" in out1
    assert "Verification run #" in out2
    assert len(fake_runs.verifications) == 2
    assert list(Event.objects.order_by().values_list("status", "source").distinct()) == [("done", "manual")]


def test_events_trigger_enqueue(hooks_config, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        doc = json.loads(run("events", "trigger", "--event-type", "git_post_commit", "--enqueue", "--json"))
    assert doc["status"] == "pending" and enqueued == [(PROCESS_TASK, (doc["id"],))]


def test_events_trigger_failure_exits_1(hooks_config, fake_runs):
    fake_runs.fail_with = RuntimeError("boom")
    with pytest.raises(CommandError) as exc:
        call_command("events", "trigger", "--event-type", "git_post_commit", stdout=io.StringIO())
    assert exc.value.returncode == 1 and "boom" in str(exc.value)
    assert Event.objects.get().status == EventStatus.FAILED


def test_events_trigger_bad_payload_exits_2(hooks_config):
    with pytest.raises(CommandError) as exc:
        call_command("events", "trigger", "--event-type", "git_post_commit", "--payload", "nope")
    assert exc.value.returncode == 2 and Event.objects.count() == 0


def test_events_malformed_hooks_exit_2():
    from metrics.models import MetricsSettings

    s = MetricsSettings.load()
    s.events_config = {"hooks": "git_post_commit"}
    s.save()
    with pytest.raises(CommandError) as exc:
        call_command("events", "status")
    assert exc.value.returncode == 2 and "events.hooks" in str(exc.value)
