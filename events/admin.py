"""Events are written by the system; the admin shows them (and cooldowns) read-only."""
from django.contrib import admin

from .models import Cooldown, Event


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "source", "status", "received_at", "processed_at", "verification_run", "reconcile_run")
    list_filter = ("status", "type")
    search_fields = ("type", "source", "dedupe_key", "error")
    date_hierarchy = "received_at"
    readonly_fields = [f.name for f in Event._meta.fields] + ["sns_token"]

    @admin.display(description="SNS token")
    def sns_token(self, obj):
        """An SNS SubscriptionConfirmation's Token: what `aws sns confirm-subscription --token` needs
        (ADCE never fetches the SubscribeURL itself)."""
        return (obj.payload or {}).get("Token") or "-"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Cooldown)
class CooldownAdmin(admin.ModelAdmin):
    list_display = ("event_type", "source", "last_fired_at", "last_event")
    readonly_fields = ("event_type", "source", "last_fired_at", "last_event")

    def has_add_permission(self, request):
        return False
