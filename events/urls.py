"""HTTP endpoints for events and scrapers (SPEC §9), included at /api/. See docs/events.md.

Each endpoint also answers without its trailing slash: Django's APPEND_SLASH would otherwise answer a
POST to /api/events with a 301 that no HTTP client re-POSTs."""
from django.urls import path

from reconciliation.interfaces import api as task_api

from . import views

app_name = "events"

_ENDPOINTS = [
    ("events/", views.event_receive, "receive"),
    ("events/s3/", views.s3_receive, "s3"),
    # the task queue's API lives with the queue (reconciliation.interfaces.api)
    ("tasks/claim/", task_api.task_claim_view, "task-claim"),
    ("tasks/<str:task_id>/complete/", task_api.task_complete_view, "task-complete"),
    ("tasks/<str:task_id>/fail/", task_api.task_fail_view, "task-fail"),
]

urlpatterns = [path(route, view, name=name) for route, view, name in _ENDPOINTS] + [
    path(route.rstrip("/"), view, name=f"{name}-noslash") for route, view, name in _ENDPOINTS
]
