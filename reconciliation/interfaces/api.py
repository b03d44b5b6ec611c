"""The task queue's HTTP API for scrapers (SPEC §9), the mirror of `manage.py tasks`: claim, complete,
fail. Mounted under /api/tasks/ by events/urls.py, behind the same door as every /api/ endpoint
(events.views: POST only, body size, authentication, Content-Type, strict JSON; every refusal a JSON
4xx). See docs/events.md.
"""
from __future__ import annotations

import uuid

from django.core.exceptions import ObjectDoesNotExist
from django.http import JsonResponse

from events.services import EventError, check_storable
from events.views import api_post, authenticated_json, bad_request
from reconciliation.models import Task
from reconciliation.selectors import scraper_known, task_document
from reconciliation.services.task_queue import (TaskError, TaskNotFound, lease_minutes_problem, task_claim, task_complete,
                                                task_fail, worker_problem)


def _task_error(exc: Exception) -> JsonResponse:
    if isinstance(exc, (ObjectDoesNotExist, TaskNotFound)):
        return JsonResponse({"error": "no such task"}, status=404)
    return JsonResponse({"error": str(exc) or exc.__class__.__name__}, status=409)


def _task_after(task_id):
    task = Task.objects.select_related("source", "data_type").get(pk=task_id)
    return JsonResponse({"task": task_document(task)}, status=200)  # the same shape as `tasks claim --json`


@api_post
def task_claim_view(request):
    """POST /api/tasks/claim/ {"scraper", "lease_minutes"? (1–10080, default 30), "worker"?} →
    200 {"task": {...}}, 200 {"task": null} when nothing is pending for that scraper, 404 for a
    scraper no source or task names (as `tasks claim` exits 2)."""
    document, refused = authenticated_json(request)
    if refused:
        return refused
    scraper = document.get("scraper")
    if not isinstance(scraper, str) or not scraper.strip():
        return bad_request("scraper: required, a non-empty string")
    lease = document.get("lease_minutes", 30)
    problem = lease_minutes_problem(lease)
    if problem:
        return bad_request(f"lease_minutes: {problem}")
    worker = document.get("worker", "")
    problem = worker_problem(worker)
    if problem:
        return bad_request(f"worker: {problem}")
    try:
        check_storable("scraper", scraper)
        check_storable("worker", worker)
    except EventError as exc:
        return bad_request(str(exc))
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


def _holder(document) -> tuple[str | None, JsonResponse | None]:
    """The "worker" a complete/fail request names: (worker, None) or (None, 400)."""
    worker = document.get("worker", "")
    problem = worker_problem(worker)
    if problem:
        return None, bad_request(f"worker: {problem}")
    return worker, None


def _task_id_or_400(task_id: str):
    try:
        return uuid.UUID(str(task_id)), None
    except ValueError:
        return None, bad_request(f"task id {task_id!r}: not a UUID")


@api_post
def task_complete_view(request, task_id):
    """POST /api/tasks/<id>/complete/ {"worker"} → 200 {"task": {...}}. Only the current holder: the
    worker must be the one the claim recorded (409 otherwise, also after another worker re-claimed
    the task when the lease ran out). A body may be empty only for a task claimed without a name."""
    document, refused = authenticated_json(request, empty_ok=True)
    if refused:
        return refused
    tid, error = _task_id_or_400(task_id)
    if error:
        return error
    worker, error = _holder(document)
    if error:
        return error
    try:
        task_complete(tid, worker=worker)
    except Exception as exc:
        return _task_error(exc)
    return _task_after(tid)


@api_post
def task_fail_view(request, task_id):
    """POST /api/tasks/<id>/fail/ {"error": "reason", "worker"} → 200 {"task": {...}}; the worker
    as for complete."""
    document, refused = authenticated_json(request)
    if refused:
        return refused
    tid, error = _task_id_or_400(task_id)
    if error:
        return error
    reason = document.get("error")
    if not isinstance(reason, str) or not reason.strip():
        return bad_request("error: required, a non-empty string")
    worker, error = _holder(document)
    if error:
        return error
    try:
        check_storable("error", reason)
    except EventError as exc:
        return bad_request(str(exc))
    try:
        task_fail(tid, error=reason.strip(), worker=worker)
    except Exception as exc:
        return _task_error(exc)
    return _task_after(tid)
