"""manage.py import_scrapers FILE [--dry-run] — SPEC §13."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input
from reconciliation.orchestration.config import ScraperConfigError
from reconciliation.orchestration.services import scrapers_import


class Command(BaseCommand):
    requires_system_checks = []
    help = (
        "Load or refresh the scraper declarations and the global limits (SPEC §13) from a YAML file. "
        "All-or-nothing: any error names the file and key path, exits 2 and changes nothing. Scrapers no "
        "longer in the file are never dispatched again (their runs are kept)."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="scrapers YAML (SPEC §13)")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")

    def handle(self, *args, **options):
        try:
            result = scrapers_import(options["file"], dry_run=options["dry_run"])
        except ScraperConfigError as exc:
            raise bad_input(str(exc)) from None
        self.stdout.write(result.summary())
        for label, names in (("new", result.created), ("no longer declared", result.undeclared)):
            if names:
                self.stdout.write(f"  {label}: {', '.join(names)}")
