"""manage.py setup_schedules [--dry-run] [--json]: create or update the django-q2 schedules."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, emit_json
from events.hooks import HookConfigError
from events.schedules import schedules_sync


class Command(BaseCommand):
    help = ("Create or update, by name, the django-q2 schedules ADCE owns (names starting 'adce:'): "
            "reconcile hourly, verify/snapshot/retention daily, task-lease expiry, event re-queue, and "
            "one per `cron:` hook of the metrics YAML; removes 'adce:' schedules no longer configured. "
            "Idempotent.")

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="report what would change, change nothing")
        parser.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        try:
            report = schedules_sync(dry_run=opts["dry_run"])
        except HookConfigError as exc:
            raise bad_input(f"metrics settings (events section): {exc}") from None
        if opts["json"]:
            emit_json(self.stdout, {"dry_run": opts["dry_run"], **report})
            return
        prefix = "would be " if opts["dry_run"] else ""
        for outcome in ("created", "updated", "removed", "unchanged"):
            for name in report[outcome]:
                self.stdout.write(f"{name}: {prefix}{outcome}")
