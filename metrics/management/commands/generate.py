"""manage.py generate --format md|json|html|ipynb [--output DIR] — write a metrics report."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, parse_int_option
from metrics.reports import DEFAULT_DAYS, FORMATS, ReportError, report_write

DEFAULT_OUTPUT = "inventory/outputs"

MAX_DAYS = 36600  # a century; far beyond any retention, and no datetime overflow


class Command(BaseCommand):
    help = (
        "Write metrics_report.<format> into DIR: md and json summaries, html with an SVG trend chart "
        "per numeric metric, or a Jupyter notebook whose first cell sets up Django to query the models."
    )

    def add_arguments(self, parser):
        # Validated in handle (not argparse `choices`) so a bad value is a one-line exit 2 both
        # from the shell and from call_command.
        parser.add_argument("--format", metavar="FORMAT", help="|".join(FORMATS) + " (required)")
        parser.add_argument("--output", metavar="DIR", default=DEFAULT_OUTPUT,
                            help=f"directory, created if missing (default {DEFAULT_OUTPUT}, relative to the current directory)")
        parser.add_argument("--days", metavar="N", default=str(DEFAULT_DAYS), help=f"history window in days (default {DEFAULT_DAYS})")

    def handle(self, *args, **options):
        fmt = options["format"]
        if not fmt:
            raise bad_input(f"--format: required, one of {', '.join(FORMATS)}")
        if fmt not in FORMATS:
            raise bad_input(f"--format: unknown format {fmt!r} (expected one of {', '.join(FORMATS)})")
        days = parse_int_option(options["days"], "--days", minimum=1, maximum=MAX_DAYS)
        try:
            path = report_write(fmt, options["output"], days=days)
        except ReportError as exc:
            raise bad_input(f"--output: {exc}") from None
        self.stdout.write(str(path))
