"""HTTP endpoints for events and scrapers (SPEC §9), included at /api/. See docs/events.md."""
from django.urls import path

from . import views

app_name = "events"

urlpatterns = [
    path("events/", views.event_receive, name="receive"),
    path("events/s3/", views.s3_receive, name="s3"),
    path("tasks/claim/", views.task_claim_view, name="task-claim"),
    path("tasks/<str:task_id>/complete/", views.task_complete_view, name="task-complete"),
    path("tasks/<str:task_id>/fail/", views.task_fail_view, name="task-fail"),
]
