"""Tell people when something critical happened: a verification with a critical-severity result, or
a reconcile that opened CRITICAL gaps. Email (Django mail) to settings.ADCE_NOTIFY_EMAILS and/or a
JSON POST to settings.ADCE_NOTIFY_WEBHOOK_URL.

A notification is a side effect of a run, never part of it: every failure (SMTP down, webhook
unreachable, a run that vanished) is logged and swallowed. The functions return what was sent.
"""
from __future__ import annotations

import json
import logging
import urllib.request

from django.conf import settings
from django.core.mail import send_mail

from metrics.choices import Severity
from reconciliation.choices import Priority

logger = logging.getLogger("adce.events.notifications")

WEBHOOK_TIMEOUT_SECONDS = 10


def _deliver(subject: str, body: str, document: dict) -> dict:
    sent = {"email": False, "webhook": False}
    recipients = [r for r in (getattr(settings, "ADCE_NOTIFY_EMAILS", None) or []) if r]
    if recipients:
        try:
            send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=False)
            sent["email"] = True
        except Exception:
            logger.exception("notification email %r to %s failed", subject, ", ".join(recipients))
    url = getattr(settings, "ADCE_NOTIFY_WEBHOOK_URL", "") or ""
    if url:
        try:
            request = urllib.request.Request(
                url, data=json.dumps(document, default=str).encode(), method="POST",
                headers={"Content-Type": "application/json", "User-Agent": "adce-notify"},
            )
            with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
                response.read(1024)
            sent["webhook"] = True
        except Exception as exc:
            logger.warning("notification webhook %s failed: %s", url, exc)
    return sent


def _nothing() -> dict:
    return {"email": False, "webhook": False}


def notify_verification(run_id) -> dict:
    """Notify when verification run `run_id` measured any metric with critical severity."""
    try:
        from metrics.models import Measurement, VerificationRun

        run = VerificationRun.objects.filter(pk=run_id).first()
        if run is None:
            return _nothing()
        critical = list(
            Measurement.objects.filter(run_id=run_id, severity=Severity.CRITICAL).select_related("metric")
            .order_by("metric__category", "metric__name")
        )
        if not critical:
            return _nothing()
        lines = [
            f"- {m.metric.full_name}: {m.status}, baseline {m.baseline_value!r}, actual {m.value!r}"
            + (f", drift {m.drift_pct:.2f}%" if m.drift_pct is not None else "")
            for m in critical
        ]
        subject = f"[ADCE] verification #{run.pk}: {len(critical)} critical metric(s)"
        body = f"Verification run #{run.pk} (trigger {run.trigger}) found critical drift:\n" + "\n".join(lines)
        document = {
            "kind": "verification", "run": run.pk, "trigger": run.trigger, "severity": "critical",
            "metrics": [{"metric": m.metric.full_name, "status": m.status, "baseline": m.baseline_value,
                         "actual": m.value, "drift_pct": m.drift_pct} for m in critical],
        }
        return _deliver(subject, body, document)
    except Exception:
        logger.exception("notification for verification run %s failed", run_id)
        return _nothing()


def notify_reconcile(run_id) -> dict:
    """Notify when reconcile run `run_id` opened CRITICAL gaps."""
    try:
        from reconciliation.models import Gap, ReconcileRun

        run = ReconcileRun.objects.filter(pk=run_id).first()
        if run is None or run.dry_run:
            return _nothing()
        gaps = list(
            Gap.objects.filter(opened_by_id=run_id, priority=Priority.CRITICAL)
            .select_related("source", "data_type").order_by("game_date", "partition")
        )
        if not gaps:
            return _nothing()
        shown = gaps[:50]
        lines = [f"- {g.source.name}.{g.data_type.name} {g.partition or '(fixed)'} ({g.kind})" for g in shown]
        if len(gaps) > len(shown):
            lines.append(f"… and {len(gaps) - len(shown)} more")
        subject = f"[ADCE] reconcile #{run.pk}: {len(gaps)} new CRITICAL gap(s)"
        body = f"Reconcile run #{run.pk} as of {run.as_of} opened CRITICAL gaps:\n" + "\n".join(lines)
        document = {
            "kind": "reconcile", "run": run.pk, "as_of": run.as_of.isoformat(), "critical_gaps": len(gaps),
            "gaps": [{"source": g.source.name, "data_type": g.data_type.name, "season": g.season,
                      "partition": g.partition, "kind": g.kind} for g in shown],
        }
        return _deliver(subject, body, document)
    except Exception:
        logger.exception("notification for reconcile run %s failed", run_id)
        return _nothing()
