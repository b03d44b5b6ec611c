from pathlib import Path

from django.core.management.base import BaseCommand

from adce_site.cli import StderrProgress, bad_input, emit_json
from adce_site.legacy import LegacyError
from adce_site.legacy_services import legacy_import, write_translations

DEFAULT_CONFIG = "inventory/config.yaml"
DEFAULT_METRICS = "inventory/metrics.yaml"
DEFAULT_HISTORICAL = "inventory/historical"


class Command(BaseCommand):
    help = ("Import the original DIMS state: config.yaml becomes the metric definitions, each shell command "
            "it recognises translated into a typed kind (SPEC §11; the others stay shell, imported disabled "
            "unless ADCE_ALLOW_SHELL_PROBES is on, and are listed with the reason); metrics.yaml values become "
            "baselines (matched by category.name), and each historical/YYYY-MM-DD.yaml becomes the snapshot of "
            "that date plus history rows (trigger 'legacy'). Idempotent; unknown metric names are skipped and "
            "listed; a malformed file exits 2 and imports nothing. Without options, reads "
            f"{DEFAULT_CONFIG}, {DEFAULT_METRICS} and {DEFAULT_HISTORICAL}/ under the current folder, if present.")

    def add_arguments(self, parser):
        parser.add_argument("--config", dest="config_file",
                            help=f"the original's config.yaml: definitions, shell commands translated (default {DEFAULT_CONFIG})")
        parser.add_argument("--metrics-file", help=f"the original's metrics.yaml (default {DEFAULT_METRICS})")
        parser.add_argument("--historical-dir",
                            help=f"folder of the original's YYYY-MM-DD.yaml snapshots (default {DEFAULT_HISTORICAL})")
        parser.add_argument("--dry-run", action="store_true", help="do everything, then roll back")
        parser.add_argument("--json", action="store_true", help="print one JSON document on stdout")

    def handle(self, *args, config_file, metrics_file, historical_dir, dry_run, json, **options):
        if config_file is None and metrics_file is None and historical_dir is None:
            # Defaults: take whichever of the original's usual files exist.
            config_file = DEFAULT_CONFIG if Path(DEFAULT_CONFIG).is_file() else None
            metrics_file = DEFAULT_METRICS if Path(DEFAULT_METRICS).is_file() else None
            historical_dir = DEFAULT_HISTORICAL if Path(DEFAULT_HISTORICAL).is_dir() else None
            if config_file is None and metrics_file is None and historical_dir is None:
                raise bad_input(f"nothing to import: none of {DEFAULT_CONFIG}, {DEFAULT_METRICS}, {DEFAULT_HISTORICAL}/ "
                                "exists here; give --config, --metrics-file and/or --historical-dir")
        progress = StderrProgress(self.stderr, quiet=json)
        try:
            result = legacy_import(config_file=config_file, metrics_file=metrics_file, historical_dir=historical_dir,
                                   dry_run=dry_run, progress=progress)
        except LegacyError as exc:
            raise bad_input(str(exc)) from None
        if json:
            emit_json(self.stdout, result.as_json())
            return
        prefix = "dry run (nothing written): would import" if dry_run else "imported"
        if result.config is not None:
            write_translations(self, result.config, prefix)
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        if metrics_file is not None:
            self.stdout.write(f"{prefix} baselines from {metrics_file}: {len(result.baselines_set)} set, "
                              f"{len(result.baselines_unchanged)} unchanged, {len(result.baselines_kept)} kept "
                              "(set by ADCE since)")
            for kept in result.baselines_kept:
                self.stdout.write(f"  kept {kept['metric']}: {kept['reason']}")
        if historical_dir is not None:
            created = sum(1 for s in result.snapshots if s["action"] == "created")
            self.stdout.write(f"{prefix} {len(result.snapshots)} snapshot(s) from {historical_dir}: {created} new, "
                              f"{len(result.snapshots) - created} replaced; {result.measurements} history row(s)")
        if result.unknown_metrics:
            self.stdout.write(f"skipped {len(result.unknown_metrics)} unknown metric(s): "
                              + ", ".join(sorted(result.unknown_metrics)))
        if result.skipped:
            self.stdout.write(f"skipped {len(result.skipped)} informational entr{'y' if len(result.skipped) == 1 else 'ies'} "
                              "without a value")
