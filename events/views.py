"""HTTP endpoints (SPEC §9). Machine clients only: CSRF-exempt, POST only, JSON in and out.

Order of checks, so that a refused request records nothing: method → authentication → JSON →
required fields → record (one transaction, with the replay check of a signed request) → 202.
Work is enqueued when the transaction commits. Bodies are strict JSON (events.strict_json) and
what no database can store (NUL, lone surrogates) is a 400 naming the field.
"""
from __future__ import annotations

from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from .auth import SignatureReplayed, authenticate, replay_refused, signature_remember
from .choices import EventType
from .s3 import S3NotificationError, parse_notification
from .services import EventError, check_storable, event_record, s3_records_record, sns_subscription_record
from .strict_json import parse_json


def _bad(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


def _json_body(request):
    """(document, None) or (None, 400 response)."""
    try:
        return parse_json(request.body.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, _bad(f"body: not valid JSON ({exc})")


def _authenticated_json(request, *, object_required: bool = True, empty_ok: bool = False):
    """Authentication, then the JSON body: (document, None) or (None, the refusal response)."""
    refused = authenticate(request)
    if refused:
        return None, refused
    if empty_ok and not request.body.strip():
        return {}, None
    document, error = _json_body(request)
    if error:
        return None, error
    if object_required and not isinstance(document, dict):
        return None, _bad("body: expected a JSON object")
    return document, None


@csrf_exempt
@require_POST
def event_receive(request):
    """POST /api/events/ {"type", "source"?, "id"? (dedupe key), "payload"? (object)} → 202 {"id"}."""
    document, refused = _authenticated_json(request)
    if refused:
        return refused
    event_type = document.get("type")
    if event_type is None:
        return _bad("type: required")
    source = document.get("source", "")
    if not isinstance(source, str):
        return _bad("source: expected a string")
    dedupe = document.get("id")
    if dedupe is not None and (isinstance(dedupe, bool) or not isinstance(dedupe, (str, int))):
        return _bad("id: expected a string or an integer")
    payload = document.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return _bad("payload: expected a JSON object")
    if event_type == EventType.S3_EVENT:
        return _bad("type: s3_event records come through POST /api/events/s3/")
    try:
        with transaction.atomic():
            signature_remember(request)
            event, created = event_record(event_type, source=source, payload=payload,
                                          dedupe_key=None if dedupe is None else str(dedupe))
    except EventError as exc:
        return _bad(str(exc))
    except SignatureReplayed:
        return replay_refused()
    return JsonResponse({"id": event.pk, "status": event.status, "duplicate": not created}, status=202)


@csrf_exempt
@require_POST
def s3_receive(request):
    """POST /api/events/s3/: an S3 notification, its SNS envelope or an EventBridge S3 event (an API
    destination) → 202 {"id", "ids"}.

    One event per record. An SNS (Un)SubscriptionConfirmation is recorded as an `ignored` event
    for the operator, with its Token (its SubscribeURL is never fetched); an `s3:TestEvent` is
    acknowledged (200) and not recorded."""
    document, refused = _authenticated_json(request, object_required=False)
    if refused:
        return refused
    try:
        parsed = parse_notification(document)
    except S3NotificationError as exc:
        return _bad(str(exc))
    if parsed.kind == "test":
        return JsonResponse({"ids": [], "detail": "s3:TestEvent acknowledged, nothing recorded"}, status=200)
    if parsed.kind == "subscription":
        try:
            with transaction.atomic():
                signature_remember(request)
                event = sns_subscription_record(parsed.subscription)
        except SignatureReplayed:
            return replay_refused()
        except EventError as exc:
            return _bad(str(exc))
        return JsonResponse({"id": event.pk, "ids": [event.pk], "detail":
                             "SNS subscription message recorded, not confirmed: confirm it by hand "
                             "(aws sns confirm-subscription) — ADCE never fetches URLs"}, status=202)
    try:
        with transaction.atomic():
            signature_remember(request)
            events, created_count = s3_records_record(parsed.records)
    except SignatureReplayed:
        return replay_refused()
    except EventError as exc:  # one bad record refuses the whole request: nothing recorded
        return _bad(str(exc))
    ids = [event.pk for event in events]
    return JsonResponse({"id": ids[0], "ids": ids, "created": created_count}, status=202)


# --- scraper task endpoints (mirror `manage.py tasks`) ------------------------------------------------

def _task_error(exc: Exception) -> JsonResponse:
    from django.core.exceptions import ObjectDoesNotExist
    from reconciliation.tasks import TaskNotFound

    if isinstance(exc, (ObjectDoesNotExist, TaskNotFound)):
        return JsonResponse({"error": "no such task"}, status=404)
    return JsonResponse({"error": str(exc) or exc.__class__.__name__}, status=409)


def _task_after(task_id):
    from reconciliation.models import Task

    from reconciliation.selectors import task_document

    task = Task.objects.select_related("source", "data_type").get(pk=task_id)
    return JsonResponse({"task": task_document(task)}, status=200)  # the same shape as `tasks claim --json`


@csrf_exempt
@require_POST
def task_claim_view(request):
    """POST /api/tasks/claim/ {"scraper", "lease_minutes"? (default 30), "worker"?} →
    200 {"task": {...}} or 200 {"task": null} when nothing is pending for that scraper."""
    document, refused = _authenticated_json(request)
    if refused:
        return refused
    scraper = document.get("scraper")
    if not isinstance(scraper, str) or not scraper.strip():
        return _bad("scraper: required, a non-empty string")
    lease = document.get("lease_minutes", 30)
    if isinstance(lease, bool) or not isinstance(lease, (int, float)) or not 0 < lease <= 7 * 24 * 60:
        return _bad("lease_minutes: expected a number of minutes between 1 and 10080")
    worker = document.get("worker", "")
    if not isinstance(worker, str):
        return _bad("worker: expected a string")
    try:
        check_storable("scraper", scraper)
        check_storable("worker", worker)
    except EventError as exc:
        return _bad(str(exc))
    from reconciliation.tasks import task_claim

    task = task_claim(scraper=scraper.strip(), lease_minutes=lease, worker=worker)
    if task is None:
        return JsonResponse({"task": None}, status=200)
    return _task_after(task.pk)


def _task_id_or_400(task_id: str):
    import uuid

    try:
        return uuid.UUID(str(task_id)), None
    except ValueError:
        return None, _bad(f"task id {task_id!r}: not a UUID")


@csrf_exempt
@require_POST
def task_complete_view(request, task_id):
    """POST /api/tasks/<id>/complete/ (empty body or {}) → 200 {"task": {...}}."""
    _, refused = _authenticated_json(request, empty_ok=True)
    if refused:
        return refused
    tid, error = _task_id_or_400(task_id)
    if error:
        return error
    from reconciliation.tasks import task_complete

    try:
        task_complete(tid)
    except Exception as exc:
        return _task_error(exc)
    return _task_after(tid)


@csrf_exempt
@require_POST
def task_fail_view(request, task_id):
    """POST /api/tasks/<id>/fail/ {"error": "reason"} → 200 {"task": {...}}."""
    document, refused = _authenticated_json(request)
    if refused:
        return refused
    tid, error = _task_id_or_400(task_id)
    if error:
        return error
    reason = document.get("error")
    if not isinstance(reason, str) or not reason.strip():
        return _bad("error: required, a non-empty string")
    try:
        check_storable("error", reason)
    except EventError as exc:
        return _bad(str(exc))
    from reconciliation.tasks import task_fail

    try:
        task_fail(tid, error=reason.strip())
    except Exception as exc:
        return _task_error(exc)
    return _task_after(tid)
