"""manage.py import_catalog --source S [--dimension NAME] FILE — SPEC §5 and §10."""
from django.core.management.base import BaseCommand

from adce_site.cli import bad_input
from reconciliation.services.catalog import CatalogError, catalog_import
from reconciliation.services.dimensions import dimension_catalog_import


class Command(BaseCommand):
    help = (
        "Replace one source's game catalog with a CSV file (header game_id,season,game_date"
        "[,season_type]; ISO dates; seasons YYYY-YY or an end year), or with --dimension NAME the values "
        "of one of its dimensions (header value[,season]; a blank season = every season; a value holds "
        "no '/'). Atomic: malformed rows are reported with their line numbers, exit 2, and nothing is "
        "imported."
    )

    def add_arguments(self, parser):
        parser.add_argument("--source", required=True, help="source name from the coverage file")
        parser.add_argument("--dimension", help="a dimension placeholder's name ({team} → team): import its values")
        parser.add_argument("file", help="catalog CSV")

    def handle(self, *args, **options):
        try:
            if options["dimension"] is not None:
                result = dimension_catalog_import(options["source"], options["dimension"], options["file"])
            else:
                result = catalog_import(options["source"], options["file"])
        except CatalogError as exc:
            raise bad_input(str(exc)) from None
        self.stdout.write(result.summary())
