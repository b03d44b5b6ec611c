"""manage.py diff --since DATE [--json] — current values against the snapshot of a date."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, emit_json, parse_iso_date
from metrics.management.commands._text import fmt_value
from metrics.selectors import SnapshotNotFound, snapshot_diff


class Command(BaseCommand):
    help = (
        "Compare the current value of every enabled metric (its latest measurement; none when that "
        "failed) with the snapshot of DATE: then, now, delta, delta %, and metrics added or removed "
        "since. The snapshot must exist for exactly that date; otherwise the nearest dates are named."
    )

    def add_arguments(self, parser):
        # Checked in handle, not by argparse, so a missing value is the same one-line exit 2 everywhere.
        parser.add_argument("--since", metavar="DATE", help="date of the snapshot, YYYY-MM-DD (required)")
        parser.add_argument("--json", action="store_true", help="print one JSON document")

    def handle(self, *args, **options):
        if not options["since"]:
            raise bad_input("--since: required (the date of a snapshot, YYYY-MM-DD)")
        date = parse_iso_date(options["since"], "--since")
        try:
            diff = snapshot_diff(date)
        except SnapshotNotFound as exc:
            raise bad_input(f"--since: {exc}") from None
        if options["json"]:
            emit_json(self.stdout, diff.as_dict())
            return
        w = self.stdout.write
        w(f"Current values against the snapshot of {date.isoformat()}")
        w(f"{'metric':50} {'then':>16} {'now':>16} {'delta':>12} {'delta %':>9}  change")
        for r in diff.rows:
            pct = "-" if r.delta_pct is None else f"{r.delta_pct:+.2f}"
            w(f"{r.metric:50} {fmt_value(r.then):>16} {fmt_value(r.now):>16} {fmt_value(r.delta):>12} {pct:>9}  {r.change}")
        summary = diff.as_dict()["summary"]
        w(", ".join(f"{k}: {v}" for k, v in sorted(summary.items())) or "no metrics")
