"""manage.py snapshot [--date D] — store the current values of all enabled metrics."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, emit_json, parse_iso_date
from metrics.snapshots import SnapshotDateError, snapshot_take


class Command(BaseCommand):
    help = (
        "Store the current value of every enabled metric as the snapshot of a date (one per date; "
        "re-running replaces it). The value is that of the metric's latest measurement, null when it "
        "was never measured or its latest measurement failed. For a past date, the values as of the "
        "end of that day (UTC)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--date", metavar="D", help="YYYY-MM-DD (default: today, UTC); not in the future")
        parser.add_argument("--json", action="store_true", help="print the snapshot as one JSON document")

    def handle(self, *args, **options):
        date = parse_iso_date(options["date"], "--date") if options["date"] is not None else None
        try:
            snapshot = snapshot_take(date=date)
        except SnapshotDateError as exc:
            raise bad_input(f"--date: {exc}") from None
        values = snapshot.values
        if options["json"]:
            emit_json(self.stdout, {"date": snapshot.date, "taken_at": snapshot.taken_at, "values": values})
            return
        missing = sum(1 for v in values.values() if v is None)
        self.stdout.write(
            f"Snapshot {snapshot.date.isoformat()}: {len(values)} metrics"
            + (f" ({missing} without a value: never measured or last measurement failed)" if missing else "")
        )
