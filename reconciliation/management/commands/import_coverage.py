"""manage.py import_coverage FILE [--dry-run] [--location URI] — SPEC §5 and §10."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input
from reconciliation.services.coverage import CoverageError, coverage_import


class Command(BaseCommand):
    help = (
        "Load or refresh the expected coverage (sources, data types, seasons, key patterns) and the "
        "reconciliation settings from a YAML file. All-or-nothing: any error names the file and key "
        "path, exits 2 and changes nothing. Sources and data types no longer in the file become "
        "inactive (their gap and task history is kept)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="coverage YAML (SPEC §5)")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--location", help="location (s3://BUCKET/prefix/ or file:///path/) of every source "
                                                "that gives none (the original kept one bucket for everything)")

    def handle(self, *args, **options):
        try:
            result = coverage_import(options["file"], dry_run=options["dry_run"], location=options["location"])
        except CoverageError as exc:
            raise bad_input(str(exc)) from None
        for warning in result.warnings:
            self.stderr.write(warning)
        self.stdout.write(result.summary())
        for label, names in (
            ("new sources", result.sources_created),
            ("deactivated sources", result.sources_deactivated),
            ("new data types", result.data_types_created),
            ("deactivated data types", result.data_types_deactivated),
        ):
            if names:
                self.stdout.write(f"  {label}: {', '.join(names)}")
