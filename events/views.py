"""HTTP endpoints (SPEC §9). Machine clients only: CSRF-exempt, POST only, JSON in and out.

Order of checks, so that a refused request records nothing: method (405) → body size (400) →
authentication (401/403) → Content-Type (415) → JSON (400) → required fields → record (one
transaction, with the replay check of a signed request) → 202. Every refusal is a JSON body.
Work is enqueued when the transaction commits. Bodies are strict JSON (events.strict_json) and
what no database can store (NUL, lone surrogates) is a 400 naming the field.

`api_post`, `authenticated_json` and `bad_request` are the door of every endpoint under /api/: the
task queue's endpoints (reconciliation.interfaces.api) use them too.
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
from .services import EventError, event_record, s3_records_record, sns_subscription_record
from .strict_json import parse_json


def bad_request(message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=400)


def _json_body(request):
    """(document, None) or (None, 400 response)."""
    try:
        return parse_json(request.body.decode("utf-8")), None
    except (UnicodeDecodeError, ValueError) as exc:
        return None, bad_request(f"body: not valid JSON ({exc})")


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
            return bad_request(f"body: larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes")
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


def authenticated_json(request, *, object_required: bool = True, empty_ok: bool = False,
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
        return None, bad_request("body: expected a JSON object")
    return document, None


@api_post
def event_receive(request):
    """POST /api/events/ {"type", "source"?, "id"? (dedupe key), "payload"? (object)} → 202 {"id"}."""
    document, refused = authenticated_json(request)
    if refused:
        return refused
    event_type = document.get("type")
    if event_type is None:
        return bad_request("type: required")
    source = document.get("source", "")
    if not isinstance(source, str):
        return bad_request("source: expected a string")
    dedupe = document.get("id")
    if dedupe is not None and (isinstance(dedupe, bool) or not isinstance(dedupe, (str, int))):
        return bad_request("id: expected a string or an integer")
    payload = document.get("payload", {})
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        return bad_request("payload: expected a JSON object")
    if event_type == EventType.S3_EVENT:
        return bad_request("type: s3_event records come through POST /api/events/s3/")
    try:
        with transaction.atomic():
            signature_remember(request)
            event, created = event_record(event_type, source=source, payload=payload,
                                          dedupe_key=None if dedupe is None else str(dedupe))
    except EventError as exc:
        return bad_request(str(exc))
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
    document, refused = authenticated_json(request, object_required=False, accepted=SNS_TYPES)
    if refused:
        return refused
    try:
        parsed = parse_notification(document)
    except S3NotificationError as exc:
        return bad_request(str(exc))
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
            return bad_request(str(exc))
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
        return bad_request(str(exc))
    ids = [event.pk for event in events]
    return JsonResponse({"id": ids[0], "ids": ids, "created": created_count}, status=202)
