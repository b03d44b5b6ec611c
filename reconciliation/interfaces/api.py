"""The task queue's HTTP API for scrapers (SPEC §9), the mirror of `manage.py tasks`: claim, complete,
fail. Mounted under /api/tasks/ by events/urls.py, behind the same door as every /api/ endpoint
(events.views: POST only, body size, authentication, Content-Type, strict JSON; every refusal a JSON
4xx). See docs/events.md.

The checks of a request run in a fixed order and the first one that fails answers: each raises
_Refused with its 4xx response, which `_answering_refusals` returns.
"""
from __future__ import annotations

import functools
import uuid

from django.core.exceptions import ObjectDoesNotExist
from django.http import JsonResponse

from events.services import EventError, check_storable
from events.views import api_post, authenticated_json, bad_request
from reconciliation.models import Task
from reconciliation.selectors import scraper_known, task_document
from reconciliation.services.task_queue import (TaskError, TaskNotFound, lease_minutes_problem, task_claim, task_complete,
                                                task_fail, worker_problem)


class _Refused(Exception):
    def __init__(self, response: JsonResponse):
        super().__init__(response.status_code)
        self.response = response


def _answering_refusals(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except _Refused as refused:
            return refused.response
    return wrapped


def _document(request, **kwargs) -> dict:
    document, refused = authenticated_json(request, **kwargs)
    if refused:
        raise _Refused(refused)
    return document


def _refuse_problem(key: str, problem: str | None) -> None:
    if problem:
        raise _Refused(bad_request(f"{key}: {problem}"))


def _required_text(document: dict, key: str) -> str:
    value = document.get(key)
    if not isinstance(value, str) or not value.strip():
        raise _Refused(bad_request(f"{key}: required, a non-empty string"))
    return value


def _storable(**values) -> None:
    """What no database can store (NUL, lone surrogates) is a 400 naming the field."""
    try:
        for key, value in values.items():
            check_storable(key, value)
    except EventError as exc:
        raise _Refused(bad_request(str(exc))) from None


def _worker(document: dict) -> str:
    """The "worker" a request names (blank: a claim without a name)."""
    worker = document.get("worker", "")
    _refuse_problem("worker", worker_problem(worker))
    return worker


def _task_id(task_id: str) -> uuid.UUID:
    try:
        return uuid.UUID(str(task_id))
    except ValueError:
        raise _Refused(bad_request(f"task id {task_id!r}: not a UUID")) from None


def _task_error(exc: Exception) -> JsonResponse:
    if isinstance(exc, (ObjectDoesNotExist, TaskNotFound)):
        return JsonResponse({"error": "no such task"}, status=404)
    return JsonResponse({"error": str(exc) or exc.__class__.__name__}, status=409)


def _task_after(task_id):
    task = Task.objects.select_related("source", "data_type").get(pk=task_id)
    return JsonResponse({"task": task_document(task)}, status=200)  # the same shape as `tasks claim --json`


@api_post
@_answering_refusals
def task_claim_view(request):
    """POST /api/tasks/claim/ {"scraper", "lease_minutes"? (1–10080, default 30), "worker"?} →
    200 {"task": {...}}, 200 {"task": null} when nothing is pending for that scraper, 404 for a
    scraper no source or task names (as `tasks claim` exits 2)."""
    document = _document(request)
    scraper = _required_text(document, "scraper")
    lease = document.get("lease_minutes", 30)
    _refuse_problem("lease_minutes", lease_minutes_problem(lease))
    worker = _worker(document)
    _storable(scraper=scraper, worker=worker)
    scraper = scraper.strip()
    try:
        task = task_claim(scraper=scraper, lease_minutes=lease, worker=worker)
    except TaskError as exc:
        return bad_request(str(exc))
    if task is None:
        if not scraper_known(scraper):
            return JsonResponse({"error": f"unknown scraper {scraper!r}: no source or task names it"}, status=404)
        return JsonResponse({"task": None}, status=200)
    return _task_after(task.pk)


@api_post
@_answering_refusals
def task_complete_view(request, task_id):
    """POST /api/tasks/<id>/complete/ {"worker"} → 200 {"task": {...}}. Only the current holder: the
    worker must be the one the claim recorded (409 otherwise, also after another worker re-claimed
    the task when the lease ran out). A body may be empty only for a task claimed without a name."""
    document = _document(request, empty_ok=True)
    tid = _task_id(task_id)
    worker = _worker(document)
    try:
        task_complete(tid, worker=worker)
    except Exception as exc:
        return _task_error(exc)
    return _task_after(tid)


@api_post
@_answering_refusals
def task_fail_view(request, task_id):
    """POST /api/tasks/<id>/fail/ {"error": "reason", "worker"} → 200 {"task": {...}}; the worker
    as for complete."""
    document = _document(request)
    tid = _task_id(task_id)
    reason = _required_text(document, "error")
    worker = _worker(document)
    _storable(error=reason)
    try:
        task_fail(tid, error=reason.strip(), worker=worker)
    except Exception as exc:
        return _task_error(exc)
    return _task_after(tid)
