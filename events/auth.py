"""Authentication of the HTTP endpoints with settings.ADCE_EVENTS_TOKEN (SPEC §9).

Accepted credentials (any one; every credential presented must be valid):
  * `Authorization: Bearer <token>`
  * `X-ADCE-Signature: sha256=<hex HMAC-SHA256 of the raw request body, keyed with the token>`
  * `Authorization: Basic base64(<any user>:<token>)` — for SNS HTTPS subscriptions, which can
    only carry credentials in the URL (https://adce:<token>@host/api/events/s3/).

Outcomes: no credentials → 401 (with a WWW-Authenticate challenge); wrong or malformed
credentials → 403; no token configured → 503 for every request (the endpoints are off).
Every comparison is constant-time (hmac.compare_digest).

Replays: on the event endpoints an accepted *signed* request is remembered (`signature_remember`,
in the transaction that records the event); the same signed request again is refused with 409 and
records nothing. Bearer/Basic requests carry a static secret, not a per-message proof, so they are
not replay-checked (see docs/events.md).
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re

from django.conf import settings
from django.http import JsonResponse

SIGNATURE_HEADER = "HTTP_X_ADCE_SIGNATURE"


def sign(body: bytes, token: str) -> str:
    """The X-ADCE-Signature value for `body` (what a client sends)."""
    return "sha256=" + hmac.new(token.encode(), body, hashlib.sha256).hexdigest()


def _error(status: int, message: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="adce", Basic realm="adce"'
    return response


def _check_authorization(header: str, token: str) -> bool:
    scheme, _, value = header.strip().partition(" ")
    scheme = scheme.lower()
    value = value.strip()
    if scheme == "bearer":
        return hmac.compare_digest(value.encode(), token.encode())
    if scheme == "basic":
        try:
            decoded = base64.b64decode(value, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, sep, password = decoded.partition(":")
        return bool(sep) and hmac.compare_digest(password.encode(), token.encode())
    return False


# HTTP's optional whitespace (spaces, tabs) is tolerated around the value and the "=" only; letter
# case anywhere.
_SIGNATURE = re.compile(r"[ \t]*sha256[ \t]*=[ \t]*([0-9a-f]{64})[ \t]*", re.IGNORECASE)


def signature_canonical(header: str) -> str | None:
    """The one spelling of a signature header, "sha256=<64 lowercase hex>", or None when it is not one.

    Verification and the replay digest both use this, so that two spellings of one signature (spaces
    or tabs around "=", letter case, a trailing space) are one request: verifying a looser form than
    the one remembered let one signed body through four times."""
    match = _SIGNATURE.fullmatch(header)
    return f"sha256={match.group(1).lower()}" if match else None


def _check_signature(header: str, body: bytes, token: str) -> bool:
    canonical = signature_canonical(header)
    if canonical is None:
        return False
    return hmac.compare_digest(canonical.encode(), sign(body, token).encode())


def authenticate(request) -> JsonResponse | None:
    """None when the request is authenticated, else the error response to return."""
    token = getattr(settings, "ADCE_EVENTS_TOKEN", "") or ""
    if not token:
        return _error(503, "events endpoints are disabled: ADCE_EVENTS_TOKEN is not set")
    authorization = request.META.get("HTTP_AUTHORIZATION", "")
    signature = request.META.get(SIGNATURE_HEADER, "")
    if not authorization and not signature:
        return _error(401, "missing credentials: send 'Authorization: Bearer <token>' or 'X-ADCE-Signature: sha256=<hmac>'")
    if authorization and not _check_authorization(authorization, token):
        return _error(403, "invalid credentials")
    if signature and not _check_signature(signature, request.body, token):
        return _error(403, "invalid signature")
    return None


class SignatureReplayed(Exception):
    """This signed request was already accepted on this endpoint."""


def signature_digest(request) -> str | None:
    """sha256(path + signature) of a signed request, or None when it carries no signature."""
    header = request.META.get(SIGNATURE_HEADER, "")
    if not header:
        return None
    # Only called after authenticate() accepted the header, so it has a canonical form.
    signature = signature_canonical(header) or header.strip().lower()
    return hashlib.sha256(f"{_endpoint(request)}\n{signature}".encode()).hexdigest()


def _endpoint(request) -> str:
    """The endpoint's path with its trailing slash: /api/events and /api/events/ are one endpoint."""
    return request.path.rstrip("/") + "/"


def signature_remember(request) -> None:
    """Record the signed request as accepted; SignatureReplayed if it already was. Call it inside
    the transaction that records the event, so that a refused replay records nothing and two
    concurrent copies are settled by the primary key (one wins, the other is a replay).

    One `INSERT … ON CONFLICT DO NOTHING` and its row count: no savepoint around an INSERT that may
    fail (SAVEPOINT + RELEASE were two of the signed request's eight round trips to the database)."""
    from django.db import connection
    from django.utils import timezone

    from .models import SignatureSeen

    digest = signature_digest(request)
    if digest is None:
        return
    seen_at = SignatureSeen._meta.get_field("seen_at").get_db_prep_value(timezone.now(), connection)
    with connection.cursor() as cur:
        cur.execute(f"INSERT INTO {SignatureSeen._meta.db_table} (digest, path, seen_at) VALUES (%s, %s, %s) "
                    "ON CONFLICT (digest) DO NOTHING", [digest, _endpoint(request)[:200], seen_at])
        if cur.rowcount != 1:
            raise SignatureReplayed(digest)


def replay_refused() -> JsonResponse:
    return _error(409, "replayed request: this signed request was already accepted; "
                       "send a new body (e.g. a new id) to send another event")
