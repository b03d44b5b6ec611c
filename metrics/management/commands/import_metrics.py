from django.core.management.base import BaseCommand

from adce_site.cli import bad_input
from metrics.config import ConfigError
from metrics.services import metric_import


class Command(BaseCommand):
    help = ("Load or refresh metric definitions and settings from a YAML file (SPEC §3, also the original "
            "config.yaml shape). All-or-nothing: any problem exits 2 naming FILE: key.path: problem and "
            "changes nothing. Relative path/repo/files resolve against the current directory. Metrics no "
            "longer in the file are disabled (baselines and history are kept).")

    def add_arguments(self, parser):
        parser.add_argument("file", help="metrics YAML file")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")

    def handle(self, *args, file, dry_run, **options):
        try:
            result = metric_import(file, dry_run=dry_run)
        except ConfigError as exc:
            raise bad_input(str(exc)) from None
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        prefix = "dry run (nothing written): would import" if dry_run else "imported"
        self.stdout.write(
            f"{prefix} {result.total} metric(s) from {file}: {len(result.created)} new, "
            f"{len(result.updated)} updated, {len(result.unchanged)} unchanged, {len(result.disabled)} disabled")
        for name in result.disabled:
            self.stdout.write(f"  disabled (no longer in the file): {name}")
