import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from django.core import mail

from events.notifications import notify_reconcile, notify_verification

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhook():
    received = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["Content-Type"], json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", received
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def verification_with(severity):
    from metrics.models import Measurement, VerificationRun

    from .conftest import make_metric

    run = VerificationRun.objects.create(trigger="event", status="completed")
    m = make_metric("s3_storage.total_objects")
    Measurement.objects.create(metric=m, run=run, value=200, baseline_value=100, status="critical",
                               severity=severity, drift_pct=100.0)
    return run


def reconcile_with_critical_gap():
    from reconciliation.models import Gap, ReconcileRun

    from .conftest import make_task

    run = ReconcileRun.objects.create(status="completed", as_of=dt.date(2026, 11, 22))
    make_task(partitions=["402"])
    Gap.objects.update(opened_by=run)
    return run


def test_critical_verification_emails_and_posts(settings, webhook):
    url, received = webhook
    settings.ADCE_NOTIFY_EMAILS = ["ops@example.invalid"]
    settings.ADCE_NOTIFY_WEBHOOK_URL = url
    run = verification_with("critical")
    assert notify_verification(run.pk) == {"email": True, "webhook": True}
    assert len(mail.outbox) == 1 and "critical" in mail.outbox[0].subject
    assert mail.outbox[0].to == ["ops@example.invalid"] and "s3_storage.total_objects" in mail.outbox[0].body
    content_type, doc = received[0]
    assert content_type == "application/json"
    assert doc["kind"] == "verification" and doc["run"] == run.pk
    assert doc["metrics"][0] == {"metric": "s3_storage.total_objects", "status": "critical", "baseline": 100,
                                 "actual": 200, "drift_pct": 100.0}


def test_no_critical_severity_no_notification(settings, webhook):
    url, received = webhook
    settings.ADCE_NOTIFY_EMAILS = ["ops@example.invalid"]
    settings.ADCE_NOTIFY_WEBHOOK_URL = url
    run = verification_with("high")
    assert notify_verification(run.pk) == {"email": False, "webhook": False}
    assert mail.outbox == [] and received == []


def test_reconcile_opening_critical_gaps_notifies(settings, webhook):
    url, received = webhook
    settings.ADCE_NOTIFY_EMAILS = ["ops@example.invalid"]
    settings.ADCE_NOTIFY_WEBHOOK_URL = url
    run = reconcile_with_critical_gap()
    assert notify_reconcile(run.pk) == {"email": True, "webhook": True}
    assert "1 new CRITICAL gap" in mail.outbox[0].subject
    assert received[0][1]["gaps"] == [{"source": "espn", "data_type": "play_by_play", "season": "2026-27",
                                       "partition": "402", "kind": "missing"}]


def test_failed_webhook_and_mail_are_logged_never_raised(settings, closed_port, caplog):
    settings.ADCE_NOTIFY_WEBHOOK_URL = f"http://127.0.0.1:{closed_port}/hook"
    settings.ADCE_NOTIFY_EMAILS = ["ops@example.invalid"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", closed_port, 2
    run = verification_with("critical")
    assert notify_verification(run.pk) == {"email": False, "webhook": False}
    assert "webhook" in caplog.text and "notification email" in caplog.text


def test_a_failing_notification_does_not_break_the_event(settings, closed_port, hooks_config, fake_runs,
                                                          monkeypatch, caplog):
    """The run and the event complete even when the webhook is down."""
    from events.services import event_process, event_record

    settings.ADCE_NOTIFY_WEBHOOK_URL = f"http://127.0.0.1:{closed_port}/hook"
    real = fake_runs.verification_run

    def critical_run(**kw):
        from metrics.models import Measurement, MetricDefinition

        run = real(**kw)
        Measurement.objects.create(metric=MetricDefinition.objects.first(), run=run, value=1, status="critical",
                                   severity="critical")
        return run

    import metrics.services
    monkeypatch.setattr(metrics.services, "verification_run", critical_run)
    event, _ = event_record("git_post_commit", source="git", enqueue=False)
    assert event_process(event.pk).status == "done"
    assert "notification webhook" in caplog.text  # it was tried, and failed quietly


def test_unknown_runs_notify_nothing():
    assert notify_verification(999999) == {"email": False, "webhook": False}
    assert notify_reconcile(999999) == {"email": False, "webhook": False}
