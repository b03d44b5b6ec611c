"""manage.py events status | test --event-type T | trigger --event-type T"""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from adce_site.cli import bad_input, emit_json
from events.choices import EventStatus
from events.cli import payload_option
from events.hooks import HookConfigError, load_config
from events.selectors import events_status, events_test, is_known_type
from events.services import EventError, event_fire_by_hand, event_record, validate_event_type


class Command(BaseCommand):
    help = ("Event hooks. `status`: hooks, the metrics each matches, cooldowns, recent events. "
            "`test --event-type T`: which hooks and metrics an event would fire (no side effects). "
            "`trigger --event-type T`: fire it by hand now, in this process, ignoring the cooldown "
            "(--enqueue: hand it to the cluster instead). Exit 1 when a triggered event failed.")

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        status = sub.add_parser("status", help="hooks, cooldowns and recent events")
        status.add_argument("--recent", type=int, default=20, help="how many recent events to list")
        status.add_argument("--json", action="store_true")
        test = sub.add_parser("test", help="what an event of a type would fire, without firing it")
        test.add_argument("--event-type", required=True)
        test.add_argument("--source", default="")
        test.add_argument("--json", action="store_true")
        trigger = sub.add_parser("trigger", help="fire an event by hand")
        trigger.add_argument("--event-type", required=True)
        trigger.add_argument("--source", default="manual")
        trigger.add_argument("--payload", default=None, help="a JSON object")
        trigger.add_argument("--enqueue", action="store_true",
                             help="record and enqueue for the cluster (cooldown applies) instead of running now")
        trigger.add_argument("--json", action="store_true")

    def handle(self, *args, **opts):
        try:
            config = load_config()
        except HookConfigError as exc:
            raise bad_input(f"metrics settings (events section): {exc}") from None
        action = opts["action"]
        if action == "status":
            if opts["recent"] < 0:
                raise bad_input("--recent: expected a number >= 0")
            return self._status(config, opts)
        try:
            validate_event_type(opts["event_type"])
        except EventError as exc:
            raise bad_input(f"--event-type: {exc}") from None
        if not is_known_type(config, opts["event_type"]):
            names = ", ".join(h.name for h in config.hooks) or "none configured"
            raise bad_input(f"--event-type {opts['event_type']!r}: no hook matches it (hooks: {names})")
        if action == "test":
            return self._test(config, opts)
        return self._trigger(opts)

    def _status(self, config, opts):
        doc = events_status(config, recent=opts["recent"])
        if opts["json"]:
            return emit_json(self.stdout, doc)
        w = self.stdout.write
        w(f"EVENTS: {'enabled' if doc['enabled'] else 'disabled'}; cooldown {doc['cooldown_seconds']}s per (type, source); "
          f"HTTP token {'configured' if doc['endpoint_token_configured'] else 'NOT configured (endpoints refuse all)'}")
        w(f"Hooks ({len(doc['hooks'])}):")
        for h in doc["hooks"]:
            extra = " + reconcile" if h["reconcile"] else ""
            w(f"  - {h['name']} (trigger {h['trigger'] or '-'}){extra}: {h['metrics']} -> {len(h['matched_metrics'])} metric(s)")
        w("Cooldowns:" if doc["cooldowns"] else "Cooldowns: none yet")
        for c in doc["cooldowns"]:
            state = f"cooling down {c['remaining_seconds']}s" if c["cooling_down"] else "ready"
            w(f"  - {c['event_type']}/{c['source'] or '-'}: last fired {c['last_fired_at'].isoformat() if c['last_fired_at'] else 'never'} ({state})")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(doc["events_by_status"].items())) or "none"
        w(f"Events: {counts}")
        for e in doc["recent_events"]:
            w(f"  #{e['id']} {e['received_at'].isoformat()} {e['type']} from {e['source'] or '-'}: {e['status']}"
              + (f" — {e['error'].splitlines()[0]}" if e["error"] else ""))

    def _test(self, config, opts):
        doc = events_test(config, opts["event_type"], source=opts["source"])
        if opts["json"]:
            return emit_json(self.stdout, doc)
        w = self.stdout.write
        w(f"EVENT TEST: {doc['event_type']}")
        if doc["builtin"]:
            w(f"Built-in: {doc['builtin']}")
        if not doc["enabled"]:
            w("Events are disabled (events.enabled: false): no hook fires")
        for h in doc["hooks"]:
            w(f"✓ Hook configured: {h['name']} (trigger {h['trigger'] or '-'})")
        w(f"Metric Patterns: {doc['patterns']}")
        w(f"Would Trigger: {len(doc['metrics'])} metrics" + (" + reconcile" if doc["reconcile"] else ""))
        if doc["metrics"]:
            w("Metrics:")
            for name in doc["metrics"]:
                w(f"  - {name}")
        cd = doc["cooldown"]
        if cd["cooling_down"]:
            w(f"Cooldown: {cd['event_type']}/{cd['source'] or '-'} fired recently; an emitted event would skip its hooks "
              f"for {cd['remaining_seconds']}s more")

    def _trigger(self, opts):
        payload = payload_option(opts["payload"])
        if opts["enqueue"]:
            with transaction.atomic():
                event, _ = event_record(opts["event_type"], source=opts["source"], payload=payload)
        else:
            event = event_fire_by_hand(opts["event_type"], source=opts["source"], payload=payload)
        doc = {"id": event.pk, "type": event.type, "status": event.status, "error": event.error,
               "result": event.result, "verification_run": event.verification_run_id,
               "reconcile_run": event.reconcile_run_id}
        if opts["json"]:
            emit_json(self.stdout, doc)
        else:
            w = self.stdout.write
            verb = "enqueued" if opts["enqueue"] else "triggered"
            w(f"✓ Event {verb}: {event.type} (event {event.pk}, {event.status})")
            if not opts["enqueue"]:
                w(f"Metrics triggered: {event.result.get('metrics', 0)}")
                if event.verification_run_id:
                    w(f"Verification run #{event.verification_run_id}")
                if event.reconcile_run_id:
                    w(f"Reconcile run #{event.reconcile_run_id}")
        if event.status == EventStatus.FAILED:
            raise CommandError(f"event {event.pk} failed: {event.error.splitlines()[0] if event.error else ''}", returncode=1)
