"""HTTP endpoints (SPEC §9). Machine clients only: CSRF-exempt, POST only, JSON in and out.

Order of checks, so that a refused request records nothing: method (405) → body size (400) →
authentication (401/403) → Content-Type (415) → JSON (400) → required fields → record (one
transaction, with the replay check of a signed request) → 202. Every refusal is a JSON body.
Work is enqueued when the transaction commits. Bodies are strict JSON (events.strict_json) and
what no database can store (NUL, lone surrogates) is a 400 naming the field.
"""
from __future__ import annotations

import functools

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

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


def api_post(view):
    """POST only (405 JSON otherwise), CSRF-exempt, and a body over DATA_UPLOAD_MAX_MEMORY_SIZE is a
    JSON 400 (Django's own answer is an HTML page)."""
    @csrf_exempt
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.method != "POST":
            response = JsonResponse({"error": f"method {request.method} not allowed: use POST"}, status=405)
            response["Allow"] = "POST"
            return response
        try:
            request.body  # noqa: B018 - read (and size-checked) once, here
        except RequestDataTooBig:
            return _bad(f"body: larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
        return view(request, *args, **kwargs)
    return wrapped


JSON_TYPES = ("application/json",)
# SNS delivers its HTTP(S) notifications as text/plain; charset=UTF-8 (a JSON document all the same).
SNS_TYPES = ("application/json", "text/plain")


def _content_type_refused(request, accepted: tuple[str, ...]) -> JsonResponse | None:
    kind = (request.content_type or "").lower()
    if kind in accepted or (kind.startswith("application/") and kind.endswith("+json")):
        return None
    return JsonResponse({"error": f"Content-Type {kind or '(none)'!r} not supported: send "
                                  f"{' or '.join(accepted)}"}, status=415)


def _authenticated_json(request, *, object_required: bool = True, empty_ok: bool = False,
                        accepted: tuple[str, ...] = JSON_TYPES):
    """Authentication, the Content-Type, then the JSON body: (document, None) or (None, the refusal)."""
    refused = authenticate(request)
    if refused:
        return None, refused
    if empty_ok and not request.body.strip():
        return {}, None
    if request.body:  # an empty body is refused below as not JSON, whatever its type
        refused = _content_type_refused(request, accepted)
        if refused:
            return None, refused
    document, error = _json_body(request)
    if error:
        return None, error
    if object_required and not isinstance(document, dict):
        return None, _bad("body: expected a JSON object")
    return document, None


@api_post
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


@api_post
def s3_receive(request):
    """POST /api/events/s3/: an S3 notification, its SNS envelope or an EventBridge S3 event (an API
    destination) → 202 {"id", "ids"}.

    One event per record. An SNS (Un)SubscriptionConfirmation is recorded as an `ignored` event
    for the operator, with its Token (its SubscribeURL is never fetched); an `s3:TestEvent` is
    acknowledged (200) and not recorded."""
    document, refused = _authenticated_json(request, object_required=False, accepted=SNS_TYPES)
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
    from reconciliation.services.task_queue import TaskNotFound

    if isinstance(exc, (ObjectDoesNotExist, TaskNotFound)):
        return JsonResponse({"error": "no such task"}, status=404)
    return JsonResponse({"error": str(exc) or exc.__class__.__name__}, status=409)


def _task_after(task_id):
    from reconciliation.models import Task

    from reconciliation.selectors import task_document

    task = Task.objects.select_related("source", "data_type").get(pk=task_id)
    return JsonResponse({"task": task_document(task)}, status=200)  # the same shape as `tasks claim --json`


@api_post
def task_claim_view(request):
    """POST /api/tasks/claim/ {"scraper", "lease_minutes"? (1–10080, default 30), "worker"?} →
    200 {"task": {...}}, 200 {"task": null} when nothing is pending for that scraper, 404 for a
    scraper no source or task names (as `tasks claim` exits 2)."""
    from reconciliation.selectors import scraper_known
    from reconciliation.services.task_queue import TaskError, lease_minutes_problem, task_claim, worker_problem

    document, refused = _authenticated_json(request)
    if refused:
        return refused
    scraper = document.get("scraper")
    if not isinstance(scraper, str) or not scraper.strip():
        return _bad("scraper: required, a non-empty string")
    lease = document.get("lease_minutes", 30)
    problem = lease_minutes_problem(lease)
    if problem:
        return _bad(f"lease_minutes: {problem}")
    worker = document.get("worker", "")
    problem = worker_problem(worker)
    if problem:
        return _bad(f"worker: {problem}")
    try:
        check_storable("scraper", scraper)
        check_storable("worker", worker)
    except EventError as exc:
        return _bad(str(exc))
    scraper = scraper.strip()
    try:
        task = task_claim(scraper=scraper, lease_minutes=lease, worker=worker)
    except TaskError as exc:
        return _bad(str(exc))
    if task is None:
        if not scraper_known(scraper):
            return JsonResponse({"error": f"unknown scraper {scraper!r}: no source or task names it"}, status=404)
        return JsonResponse({"task": None}, status=200)
    return _task_after(task.pk)


def _holder(document) -> tuple[str | None, JsonResponse | None]:
    """The "worker" a complete/fail request names: (worker, None) or (None, 400)."""
    from reconciliation.services.task_queue import worker_problem

    worker = document.get("worker", "")
    problem = worker_problem(worker)
    if problem:
        return None, _bad(f"worker: {problem}")
    return worker, None


def _task_id_or_400(task_id: str):
    import uuid

    try:
        return uuid.UUID(str(task_id)), None
    except ValueError:
        return None, _bad(f"task id {task_id!r}: not a UUID")


@api_post
def task_complete_view(request, task_id):
    """POST /api/tasks/<id>/complete/ {"worker"} → 200 {"task": {...}}. Only the current holder: the
    worker must be the one the claim recorded (409 otherwise, also after another worker re-claimed
    the task when the lease ran out). A body may be empty only for a task claimed without a name."""
    document, refused = _authenticated_json(request, empty_ok=True)
    if refused:
        return refused
    tid, error = _task_id_or_400(task_id)
    if error:
        return error
    worker, error = _holder(document)
    if error:
        return error
    from reconciliation.services.task_queue import task_complete

    try:
        task_complete(tid, worker=worker)
    except Exception as exc:
        return _task_error(exc)
    return _task_after(tid)


@api_post
def task_fail_view(request, task_id):
    """POST /api/tasks/<id>/fail/ {"error": "reason", "worker"} → 200 {"task": {...}}; the worker
    as for complete."""
    document, refused = _authenticated_json(request)
    if refused:
        return refused
    tid, error = _task_id_or_400(task_id)
    if error:
        return error
    reason = document.get("error")
    if not isinstance(reason, str) or not reason.strip():
        return _bad("error: required, a non-empty string")
    worker, error = _holder(document)
    if error:
        return error
    try:
        check_storable("error", reason)
    except EventError as exc:
        return _bad(str(exc))
    from reconciliation.services.task_queue import task_fail

    try:
        task_fail(tid, error=reason.strip(), worker=worker)
    except Exception as exc:
        return _task_error(exc)
    return _task_after(tid)
