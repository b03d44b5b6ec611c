"""Admin of the orchestrator (SPEC §13): the Scrapers page (state, usage against the limits, last
success and failure, pause/resume) and ScraperRun history (per task: the Task page's inline and the
runs changelist filtered by task). Declarations are read-only: they come from `import_scrapers`."""
from __future__ import annotations

import datetime as dt

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html

from reconciliation.orchestration.models import OrchestrationLimits, Scraper, ScraperRun
from reconciliation.orchestration.selectors import global_usage, scraper_rows
from reconciliation.orchestration.services import scraper_pause, scraper_resume


class _NoAddDelete:
    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class _ReadOnly(_NoAddDelete):
    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Scraper)
class ScraperAdmin(_NoAddDelete, admin.ModelAdmin):
    list_display = ("name", "kind", "state", "running_now", "starts_in_window", "pending_tasks", "last_success",
                    "last_failure")
    list_filter = ("enabled", "kind")
    actions = ["pause_scrapers", "resume_scrapers"]
    readonly_fields = ("name", "kind", "command", "url", "max_concurrency", "rate_limit_text", "timeout_minutes",
                       "max_attempts", "backoff_minutes", "pause_after_failures", "pause_minutes", "enabled",
                       "declared", "paused_until", "pause_reason", "consecutive_failures", "updated_at")
    exclude = ("rate_count", "rate_window_seconds")

    def get_queryset(self, request):
        return super().get_queryset(request).filter(declared=True)

    def changelist_view(self, request, extra_context=None):
        # One read of every figure per page (a handful of scrapers), shared by the columns below.
        self._rows = {r.scraper.pk: r for r in scraper_rows()}
        usage = global_usage()
        limits = usage["limits"]
        extra = {"title": "Scrapers", "subtitle": (
            f"All scrapers: {usage['running']} running of at most {limits.max_concurrency}; "
            + (f"{usage['starts_in_window']} starts in the current window of {limits.rate_limit_text}"
               if limits.rate_limit else "no global rate limit"))}
        return super().changelist_view(request, {**(extra_context or {}), **extra})

    def _row(self, obj):
        rows = getattr(self, "_rows", None) or {r.scraper.pk: r for r in scraper_rows()}
        return rows[obj.pk]

    @admin.display(description="state")
    def state(self, obj):
        if not obj.enabled:
            return "disabled"
        if obj.is_paused():
            return format_html('<span title="{}">paused until {} UTC</span>', obj.pause_reason,
                               obj.paused_until.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M"))
        return "enabled" + (f" ({obj.consecutive_failures} failure(s) in a row)" if obj.consecutive_failures else "")

    @admin.display(description="running now")
    def running_now(self, obj):
        limit = obj.max_concurrency
        return f"{self._row(obj).running} / {limit}" if limit else str(self._row(obj).running)

    @admin.display(description="starts in window")
    def starts_in_window(self, obj):
        n = self._row(obj).starts_in_window
        return "no limit" if n is None else f"{n} / {obj.rate_limit_text}"

    @admin.display(description="pending tasks")
    def pending_tasks(self, obj):
        return self._row(obj).pending

    @admin.display(description="last success")
    def last_success(self, obj):
        run = self._row(obj).last_success
        return "—" if run is None else run.finished_at.strftime("%Y-%m-%d %H:%M")

    @admin.display(description="last failure")
    def last_failure(self, obj):
        run = self._row(obj).last_failure
        if run is None:
            return "—"
        url = reverse("admin:reconciliation_scraperrun_change", args=[run.pk])
        # A reason may hold a long unbroken key: let it wrap inside the column, not run past the list.
        return format_html('<a href="{}">{}</a>: <span style="overflow-wrap:anywhere">{}</span>', url,
                           (run.finished_at or run.started_at).strftime("%Y-%m-%d %H:%M"), run.reason[:200])

    @admin.action(description="Pause the selected scrapers (until resumed)", permissions=["change"])
    def pause_scrapers(self, request, queryset):
        for s in queryset:
            scraper_pause(s, reason=f"paused by {request.user.get_username()}")
        self.message_user(request, f"{queryset.count()} scraper(s) paused.", messages.SUCCESS)

    @admin.action(description="Resume the selected scrapers (closes the circuit breaker)", permissions=["change"])
    def resume_scrapers(self, request, queryset):
        for s in queryset:
            scraper_resume(s)
        self.message_user(request, f"{queryset.count()} scraper(s) resumed.", messages.SUCCESS)


@admin.register(ScraperRun)
class ScraperRunAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("pk", "scraper", "task_link", "attempt", "status", "started_at", "finished_at", "duration_ms",
                    "exit_status", "partitions_verified", "partitions_missing", "reason")
    list_filter = ("status", "scraper")
    list_select_related = ("scraper",)
    show_full_result_count = False
    readonly_fields = [f.name for f in ScraperRun._meta.fields]

    @admin.display(description="task")
    def task_link(self, obj):
        return format_html('<a href="{}">{}</a>', reverse("admin:reconciliation_task_change", args=[obj.task_id]),
                           str(obj.task_id)[:8])


class ScraperRunInline(_ReadOnly, admin.TabularInline):
    """The Task page's run history, newest first."""

    model = ScraperRun
    extra = 0
    ordering = ("-started_at",)
    fields = ("attempt", "scraper", "status", "started_at", "finished_at", "duration_ms", "exit_status",
              "partitions_verified", "partitions_missing", "reason", "stderr_tail")
    readonly_fields = fields
    show_change_link = True


@admin.register(OrchestrationLimits)
class OrchestrationLimitsAdmin(_ReadOnly, admin.ModelAdmin):
    list_display = ("__str__", "max_concurrency", "rate_limit_text", "source_file", "imported_at")
    exclude = ("rate_count", "rate_window_seconds", "locked_at", "wake_at")
    readonly_fields = ("max_concurrency", "rate_limit_text", "source_file", "imported_at")
