"""`import_legacy`: the original's config.yaml as metric definitions (its shell commands translated to
typed kinds, SPEC §11), its metrics.yaml values as baselines, its historical/YYYY-MM-DD.yaml copies as
Snapshots plus Measurement history. Decisions (docs/migration.md):

* config.yaml goes through `import_metrics` with `legacy_shell.translate_document`: recognised commands
  become typed kinds; the others stay `shell`, imported disabled unless ADCE_ALLOW_SHELL_PROBES is on.

* Metrics are matched by dotted `category.name` against definitions already imported with
  `import_metrics`; names with no definition are skipped and reported (`unknown_metrics`).
* All-or-nothing: every file is parsed and every value typed before the first write; the writes run
  in one transaction. Any problem raises LegacyError "FILE: key.path: problem".
* A baseline is only set where the metric has none yet, or where the current one came from an earlier
  legacy import: a baseline ADCE itself set (verify --update, an approval) is newer and is kept.
* Each historical file becomes one VerificationRun (trigger "legacy", options.legacy_date) with one
  Measurement per known metric. The original's snapshots were copies of its accepted values, so each
  row is recorded as `ok` against itself. Re-importing a date replaces that run's rows (idempotent).
  A Snapshot ADCE took itself for that date is kept, never overwritten.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from django.db import transaction
from django.utils import timezone

from django.conf import settings

from adce_site.cli import no_progress
from adce_site.legacy import (LegacyError, LegacyFile, historical_files, parse_historical,
                              parse_metrics_document, type_value)
from adce_site.choices import RunStatus
from metrics.choices import DriftStatus, Severity
from metrics.models import Measurement, MetricDefinition, Snapshot, VerificationRun

TRIGGER = "legacy"
BASELINE_BY_PREFIX = "legacy import"
NUMERIC = ("integer", "float")
SIZED_KINDS = ("s3_total_bytes", "s3_average_bytes", "dir_size")  # kinds with a `unit` parameter (default bytes)


@dataclass
class TranslatedImport:
    """import_metrics with the original's shell commands translated."""
    result: object                      # metrics.services.ImportResult
    translations: list[dict]            # one entry per metric, in file order

    @property
    def shell(self) -> list[dict]:
        return [t for t in self.translations if t["status"] == "shell"]

    def as_json(self) -> dict:
        r = self.result
        counts = {status: sum(1 for t in self.translations if t["status"] == status)
                  for status in ("translated", "shell", "typed")}
        return {"file": r.path, "dry_run": r.dry_run, "created": r.created, "updated": r.updated,
                "unchanged": r.unchanged, "disabled": r.disabled, "warnings": r.warnings,
                "translation": counts, "metrics": self.translations}


def translated_metric_import(config_file, *, dry_run: bool = False, base_dir=None) -> TranslatedImport:
    """`import_metrics --translate-shell FILE` (and the config step of import_legacy). Raises
    metrics.config.ConfigError for a bad file, like import_metrics."""
    from adce_site.legacy_shell import translate_document
    from metrics.services import metric_import

    allow_shell = settings.ADCE_ALLOW_SHELL_PROBES
    report: list[dict] = []
    base = Path(base_dir) if base_dir is not None else Path.cwd()

    def transform(doc):
        report.clear()
        return translate_document(doc, base_dir=base, allow_shell=allow_shell, report=report)

    # Untranslated commands are disabled when shell probes are off, so the file is accepted either way.
    result = metric_import(config_file, dry_run=dry_run, base_dir=base, allow_shell=True, transform=transform)
    return TranslatedImport(result, report)


def write_translations(command, imported: TranslatedImport, prefix: str) -> None:
    """The text report of a translated config import (import_legacy, import_metrics --translate-shell):
    counts, then every metric that stays shell by name with the reason."""
    r = imported.result
    for warning in r.warnings:
        command.stderr.write(f"warning: {warning}")
    translated = sum(1 for t in imported.translations if t["status"] == "translated")
    commands = sum(1 for t in imported.translations if t["command"] is not None)
    command.stdout.write(
        f"{prefix} {r.total} metric(s) from {r.path}: {len(r.created)} new, {len(r.updated)} updated, "
        f"{len(r.unchanged)} unchanged, {len(r.disabled)} disabled; {translated} of {commands} shell "
        f"command(s) translated to typed kinds, {len(imported.shell)} kept as shell")
    for entry in imported.shell:
        state = "enabled" if entry["enabled"] else "disabled"
        command.stdout.write(f"  shell ({state}) {entry['metric']}: {entry['reason']}")
    for name in r.disabled:
        command.stdout.write(f"  disabled (no longer in the file): {name}")


@dataclass
class LegacyImportResult:
    metrics_file: str | None
    historical_dir: str | None
    dry_run: bool = False
    config: TranslatedImport | None = None
    baselines_set: list[str] = field(default_factory=list)
    baselines_unchanged: list[str] = field(default_factory=list)
    baselines_kept: list[dict] = field(default_factory=list)   # {"metric", "reason"}
    snapshots: list[dict] = field(default_factory=list)        # {"date", "file", "action", "metrics", "snapshot"}
    measurements: int = 0
    unknown_metrics: dict[str, list[str]] = field(default_factory=dict)  # name -> files
    skipped: list[str] = field(default_factory=list)           # "file: key" informational entries
    warnings: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return {
            "config": self.config.as_json() if self.config is not None else None,
            "metrics_file": self.metrics_file, "historical_dir": self.historical_dir, "dry_run": self.dry_run,
            "baselines": {"set": self.baselines_set, "unchanged": self.baselines_unchanged,
                          "kept": self.baselines_kept},
            "snapshots": self.snapshots, "measurements": self.measurements,
            "unknown_metrics": [{"metric": k, "files": v} for k, v in sorted(self.unknown_metrics.items())],
            "skipped": self.skipped, "warnings": self.warnings,
        }


def _typed(parsed: LegacyFile, metrics: dict[str, MetricDefinition], result: LegacyImportResult) -> dict:
    """{name: typed value} of the known metrics of one file; unknown names are noted."""
    typed = {}
    for name, value in parsed.values.items():
        metric = metrics.get(name)
        if metric is None:
            result.unknown_metrics.setdefault(name, []).append(Path(parsed.path).name)
            continue
        typed[name] = type_value(value, parse_type=metric.parse_type, precision=metric.precision,
                                 unit=_unit(metric), path=parsed.path)
    result.skipped.extend(f"{parsed.path}: {key}" for key in parsed.skipped)
    return typed


def _unit(metric: MetricDefinition) -> str | None:
    """The size unit a metric's values are in (None: the kind has no size unit)."""
    if metric.kind in SIZED_KINDS:
        return (metric.params or {}).get("unit", "bytes")
    return None


def _measured_at(parsed: LegacyFile) -> dt.datetime:
    """When the original took that snapshot: metadata.last_updated if it falls on the file's date,
    else the start of that UTC day."""
    if parsed.last_updated is not None and parsed.last_updated.date() == parsed.date:
        return parsed.last_updated
    return dt.datetime.combine(parsed.date, dt.time.min, tzinfo=dt.timezone.utc)


def legacy_import(*, metrics_file: str | Path | None = None, historical_dir: str | Path | None = None,
                  config_file: str | Path | None = None, dry_run: bool = False, now: dt.datetime | None = None,
                  progress=no_progress) -> LegacyImportResult:
    if metrics_file is None and historical_dir is None and config_file is None:
        raise LegacyError("nothing to import: give --config, --metrics-file and/or --historical-dir")
    if config_file is not None and not Path(config_file).is_file():
        raise LegacyError(f"{config_file}: no such file")
    now = now or timezone.now()
    today = now.astimezone(dt.timezone.utc).date()
    result = LegacyImportResult(str(metrics_file) if metrics_file else None,
                                str(historical_dir) if historical_dir else None, dry_run)

    # 1. Parse everything (no database).
    current = None
    if metrics_file is not None:
        if not Path(metrics_file).is_file():
            raise LegacyError(f"{metrics_file}: no such file")
        current = parse_metrics_document(metrics_file)
    history: list[LegacyFile] = []
    if historical_dir is not None:
        dated, ignored = historical_files(historical_dir)
        if not dated:
            raise LegacyError(f"{historical_dir}: contains no YYYY-MM-DD.yaml snapshot")
        for name in ignored:
            result.warnings.append(f"{historical_dir}: {name}: not a YYYY-MM-DD.yaml snapshot, ignored")
        for date, path in dated:
            if date > today:
                raise LegacyError(f"{path}: {date.isoformat()} is in the future (today is {today.isoformat()} UTC)")
            history.append(parse_historical(date, path))
    progress("parsed " + ", ".join(([str(metrics_file)] if current is not None else [])
                                    + ([f"{len(history)} historical file(s)"] if history else [])))

    # 2. Write, all in one transaction: the definitions first (a bad config.yaml raises before any
    # write of its own), then every value is matched and typed before the first baseline is written.
    with transaction.atomic():
        if config_file is not None:
            result.config = _config_import(config_file)
            progress(f"{config_file}: {result.config.result.total} definition(s), "
                     f"{len(result.config.shell)} kept as shell")
        metrics = {m.full_name: m for m in MetricDefinition.objects.all()}
        if not metrics:
            raise LegacyError("no metric definitions yet: give --config inventory/config.yaml "
                              "(or run `import_metrics` first)")
        current_typed = _typed(current, metrics, result) if current is not None else {}
        history_typed = [(parsed, _typed(parsed, metrics, result)) for parsed in history]
        for name, files in result.unknown_metrics.items():
            result.warnings.append(f"{name}: no such metric definition, skipped (in {', '.join(files)})")

        if current is not None:
            _baselines_apply(current, current_typed, metrics, result, now)
        for parsed, typed in history_typed:
            _snapshot_import(parsed, typed, metrics, result)
            progress(f"{parsed.date.isoformat()}: {len(typed)} metric value(s)")
        if dry_run:
            transaction.set_rollback(True)
    return result


def _config_import(config_file) -> TranslatedImport:
    from metrics.config import ConfigError

    try:
        return translated_metric_import(config_file)
    except ConfigError as exc:
        raise LegacyError(str(exc)) from None


def _baselines_apply(parsed: LegacyFile, typed: dict, metrics: dict, result: LegacyImportResult, now) -> None:
    from approvals.services import approval_requests_supersede

    by = f"{BASELINE_BY_PREFIX}: {Path(parsed.path).name}"[:150]
    locked = {m.full_name: m for m in MetricDefinition.objects.select_for_update().filter(
        pk__in=[metrics[name].pk for name in typed])}
    for name, value in typed.items():
        metric = locked[name]
        if metric.has_baseline and not metric.baseline_set_by.startswith(BASELINE_BY_PREFIX):
            result.baselines_kept.append({
                "metric": name, "reason": f"baseline {metric.baseline_value!r} already set by "
                                          f"{metric.baseline_set_by or 'someone'} at {metric.baseline_set_at.isoformat()}"})
            continue
        if metric.has_baseline and metric.baseline_value == value and type(metric.baseline_value) is type(value):
            result.baselines_unchanged.append(name)
            continue
        legacy = parsed.values[name]
        metric.baseline_value = value
        metric.baseline_set_at = legacy.last_verified or parsed.last_updated or now
        metric.baseline_set_by = by
        metric.save(update_fields=["baseline_value", "baseline_set_at", "baseline_set_by", "updated_at"])
        approval_requests_supersede(metric, reason=f"superseded: baseline set to {value!r} by {by}")
        result.baselines_set.append(name)


def _snapshot_import(parsed: LegacyFile, typed: dict, metrics: dict, result: LegacyImportResult) -> None:
    date = parsed.date.isoformat()
    at = _measured_at(parsed)
    summary = {"total": len(typed), "ok": len(typed), "minor": 0, "moderate": 0, "major": 0, "critical": 0,
               "new": 0, "changed": 0, "error": 0, "applied": 0, "pending_approval": 0, "from_cache": 0,
               "unresolved": 0, "listings": 0, "s3_list_calls": 0}
    options = {"legacy_date": date, "legacy_file": str(Path(parsed.path).resolve())}
    run = VerificationRun.objects.filter(trigger=TRIGGER, options__legacy_date=date).order_by("pk").first()
    snapshot = Snapshot.objects.filter(date=parsed.date).first()
    # The Snapshot of that date: ours (from an earlier legacy import) is replaced; one ADCE took is kept.
    ours = snapshot is None or (run is not None and run.options.get("legacy_snapshot", False))
    options["legacy_snapshot"] = ours
    if run is not None:
        Measurement.objects.filter(run=run).delete()
        for field_name, value in (("options", options), ("started_at", at), ("finished_at", at),
                                  ("summary", summary), ("status", RunStatus.COMPLETED)):
            setattr(run, field_name, value)
        run.save()
        action = "replaced"
    else:
        run = VerificationRun.objects.create(trigger=TRIGGER, status=RunStatus.COMPLETED, update=False, options=options,
                                             started_at=at, finished_at=at, duration_ms=0, summary=summary)
        action = "created"
    Measurement.objects.bulk_create([
        Measurement(metric=metrics[name], run=run, measured_at=at, value=value, baseline_value=value,
                    status=DriftStatus.OK, severity=Severity.NONE, drift_pct=0.0 if metrics[name].parse_type in NUMERIC else None)
        for name, value in sorted(typed.items())
    ])
    result.measurements += len(typed)

    if ours:
        Snapshot.objects.update_or_create(date=parsed.date, defaults={"values": dict(sorted(typed.items())),
                                                                      "taken_at": at})
        snapshot_action = "imported"
    else:
        snapshot_action = "kept"
        result.warnings.append(f"{parsed.path}: a snapshot of {date} taken by ADCE already exists, kept "
                               "(history rows imported)")
    result.snapshots.append({"date": date, "file": parsed.path, "action": action, "metrics": len(typed),
                             "snapshot": snapshot_action})
