"""manage.py emit_event TYPE [--source S] [--payload JSON] [--id KEY]: record an event and enqueue
its work for the django-q2 cluster; returns at once (this is what git hooks call)."""

from django.core.management.base import BaseCommand
from django.db import transaction

from adce_site.cli import bad_input, emit_json
from events.cli import payload_option
from events.services import EventError, event_record


class Command(BaseCommand):
    help = ("Record an event and enqueue its processing (hooks, closed-loop updates) for the "
            "django-q2 cluster. Returns immediately; `events status` shows the outcome.")

    def add_arguments(self, parser):
        parser.add_argument("type", help="event type, e.g. git_post_commit or scraper_complete")
        parser.add_argument("--source", default="", help="who sent it (cooldown is per type and source)")
        parser.add_argument("--payload", default=None, help="a JSON object with event details")
        parser.add_argument("--id", dest="dedupe_key", default=None,
                            help="dedupe key: an event with a key already seen is not processed again")
        parser.add_argument("--json", action="store_true", help="print {id, status, duplicate} as JSON")

    def handle(self, *args, **opts):
        payload = payload_option(opts["payload"])
        try:
            with transaction.atomic():
                event, created = event_record(opts["type"], source=opts["source"], payload=payload,
                                              dedupe_key=opts["dedupe_key"])
        except EventError as exc:
            raise bad_input(str(exc)) from None
        if opts["json"]:
            emit_json(self.stdout, {"id": event.pk, "status": event.status, "duplicate": not created})
        elif created:
            self.stdout.write(f"event {event.pk} recorded ({event.type}), enqueued")
        else:
            self.stdout.write(f"event {event.pk} already recorded with that key ({event.status}); not enqueued again")
