from django.core.management.base import BaseCommand

from adce_site.cli import bad_input, emit_json
from metrics.config import ConfigError
from metrics.services import metric_import


class Command(BaseCommand):
    help = ("Load or refresh metric definitions and settings from a YAML file (SPEC §3, also the original "
            "config.yaml shape). All-or-nothing: any problem exits 2 naming FILE: key.path: problem and "
            "changes nothing. Relative path/repo/files resolve against the current directory. Metrics no "
            "longer in the file are disabled (baselines and history are kept). --translate-shell turns the "
            "original's recognisable shell commands into typed kinds (SPEC §11); the others stay shell, "
            "imported disabled unless ADCE_ALLOW_SHELL_PROBES is on, and are listed with the reason.")

    def add_arguments(self, parser):
        parser.add_argument("file", help="metrics YAML file")
        parser.add_argument("--dry-run", action="store_true", help="validate and report, write nothing")
        parser.add_argument("--translate-shell", action="store_true",
                            help="translate the original's shell `command:` strings into typed kinds")
        parser.add_argument("--json", action="store_true",
                            help="print one JSON document (with --translate-shell: every metric's translation)")

    def handle(self, *args, file, dry_run, translate_shell, json, **options):
        if translate_shell:
            from adce_site.legacy_services import translated_metric_import, write_translations

            try:
                imported = translated_metric_import(file, dry_run=dry_run)
            except ConfigError as exc:
                raise bad_input(str(exc)) from None
            if json:
                emit_json(self.stdout, imported.as_json())
            else:
                write_translations(self, imported, _prefix(dry_run))
            return
        try:
            result = metric_import(file, dry_run=dry_run)
        except ConfigError as exc:
            raise bad_input(str(exc)) from None
        if json:
            emit_json(self.stdout, {"file": result.path, "dry_run": result.dry_run, "created": result.created,
                                    "updated": result.updated, "unchanged": result.unchanged,
                                    "disabled": result.disabled, "warnings": result.warnings})
            return
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stdout.write(
            f"{_prefix(dry_run)} {result.total} metric(s) from {file}: {len(result.created)} new, "
            f"{len(result.updated)} updated, {len(result.unchanged)} unchanged, {len(result.disabled)} disabled")
        for name in result.disabled:
            self.stdout.write(f"  disabled (no longer in the file): {name}")


def _prefix(dry_run: bool) -> str:
    return "dry run (nothing written): would import" if dry_run else "imported"
