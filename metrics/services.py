"""Writes of the metrics engine: import definitions, run verifications, move baselines.

`verification_run` is the heart: select metrics, reuse unexpired cached values, list every storage
location once (concurrently), measure in dependency order, judge drift (metrics.drift), record one
Measurement per metric and — with `update` — apply drift as new baselines, except that a critical
metric drifting by ≥ require_approval_threshold opens/updates an approval request instead (SPEC §4).
"""
from __future__ import annotations

import fnmatch
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from adce_site.cli import no_progress
from adce_site.redact import redact
from adce_site.runs import run_record
from approvals.choices import ApprovalStatus

from . import cache as metric_cache
from .choices import DriftStatus
from .config import MetricsConfig, load_config
from .drift import CoercionError, Thresholds, classify, coerce
from .models import Measurement, MetricDefinition, MetricsSettings, VerificationRun
from .probes import REGISTRY, ProbeContext, ProbeError

log = logging.getLogger("adce.metrics")

DRIFTED = (DriftStatus.MINOR, DriftStatus.MODERATE, DriftStatus.MAJOR, DriftStatus.CRITICAL, DriftStatus.CHANGED)
STATUSES = tuple(s.value for s in DriftStatus)  # the summary's keys, in this order
LOCATION_PARAMS = ("location", "denominator_location", "left", "right")


class MetricSelectionError(ValueError):
    """Unknown/disabled category or metric named by the caller (commands exit 2)."""


# --------------------------------------------------------------------------- import

@dataclass
class ImportResult:
    path: str
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    disabled: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.created) + len(self.updated) + len(self.unchanged)


_DEFINITION_FIELDS = ("kind", "params", "parse_type", "precision", "volatility", "critical", "ttl_hours",
                      "description", "enabled")


def metric_import(path, *, dry_run: bool = False, base_dir=None, allow_shell: bool | None = None,
                  transform=None) -> ImportResult:
    """Load FILE (all-or-nothing). Raises metrics.config.ConfigError with "FILE: key.path: problem".

    Re-importing updates definitions and keeps baselines and history; a metric no longer in the file
    is disabled, not deleted. Changing a metric's kind or parameters drops its cached value.
    """
    if allow_shell is None:
        allow_shell = django_settings.ADCE_ALLOW_SHELL_PROBES
    source = str(Path(path).resolve())
    cfg = load_config(path, base_dir=base_dir, allow_shell=allow_shell, transform=transform)
    result = ImportResult(path=str(path), dry_run=dry_run, warnings=list(cfg.warnings))
    with transaction.atomic():
        _settings_apply(cfg, source)
        existing = {m.full_name: m for m in MetricDefinition.objects.select_for_update()}
        seen = set()
        for spec in cfg.metrics:
            seen.add(spec.full_name)
            values = {f: getattr(spec, f) for f in _DEFINITION_FIELDS}
            metric = existing.get(spec.full_name)
            if metric is None:
                MetricDefinition.objects.create(category=spec.category, name=spec.name, source_file=source, **values)
                result.created.append(spec.full_name)
                continue
            changed = [f for f in _DEFINITION_FIELDS if getattr(metric, f) != values[f]]
            if (metric.kind, metric.params, metric.parse_type, metric.precision) != (
                    spec.kind, spec.params, spec.parse_type, spec.precision):
                metric_cache.cache_invalidate(metric)  # the cached value measured something else
            if changed or metric.source_file != source:
                for f in _DEFINITION_FIELDS:
                    setattr(metric, f, values[f])
                metric.source_file = source
                metric.save()
            (result.updated if changed else result.unchanged).append(spec.full_name)
        for name, metric in existing.items():
            if name not in seen and metric.enabled:
                metric.enabled = False
                metric.save(update_fields=["enabled", "updated_at"])
                _supersede_pending(metric, "its metric was removed from the configuration")
                result.disabled.append(name)
        if dry_run:
            transaction.set_rollback(True)
    return result


def _settings_apply(cfg: MetricsConfig, source: str) -> None:
    s = MetricsSettings.load()
    s.minor_drift_pct = cfg.thresholds.minor
    s.moderate_drift_pct = cfg.thresholds.moderate
    s.major_drift_pct = cfg.thresholds.major
    s.approval_enabled = cfg.approval_enabled
    s.require_approval_threshold = cfg.require_approval_threshold
    s.critical_patterns = cfg.critical_patterns
    s.default_ttl_hours = cfg.default_ttl_hours
    s.events_config = cfg.events
    s.source_file = source
    s.imported_at = timezone.now()
    s.save()


def _supersede_pending(metric, reason: str) -> None:
    from approvals.services import approval_requests_supersede

    approval_requests_supersede(metric, reason=reason)


# --------------------------------------------------------------------------- baselines

def baseline_apply(metric: MetricDefinition, value, *, by: str, measurement: Measurement | None = None) -> MetricDefinition:
    """Make `value` (typed per the metric's parse_type) the accepted baseline; record who and when.

    A pending approval request whose proposal no longer applies is superseded (accepting one marks it
    approved *before* calling this, so the request being accepted is never touched).
    """
    try:
        typed = coerce(value, metric.parse_type, metric.precision)
    except CoercionError as exc:
        raise ValueError(f"{metric.full_name}: cannot apply {value!r} as {metric.parse_type}: {exc}") from None
    with transaction.atomic():
        metric.baseline_value = typed
        metric.baseline_set_at = timezone.now()
        metric.baseline_set_by = (by or "system")[:150]
        metric.save(update_fields=["baseline_value", "baseline_set_at", "baseline_set_by", "updated_at"])
        if measurement is not None:
            Measurement.objects.filter(pk=measurement.pk).update(applied=True)
            measurement.applied = True
        _supersede_pending(metric, f"superseded: baseline set to {typed!r} by {metric.baseline_set_by}")
    return metric


# --------------------------------------------------------------------------- selection

def metrics_select(*, category: str | None = None, metric: str | None = None,
                   patterns: list[str] | None = None) -> list[MetricDefinition]:
    """The enabled metrics to verify. Unknown names raise MetricSelectionError."""
    qs = MetricDefinition.objects.all()
    if category is not None and not qs.filter(category=category).exists():
        known = ", ".join(sorted(set(qs.values_list("category", flat=True)))) or "none imported"
        raise MetricSelectionError(f"--category: unknown category {category!r} (known: {known})")
    if metric is not None:
        found = metric_lookup(metric, category=category)
        if not found.enabled:
            raise MetricSelectionError(f"--metric: {found.full_name} is disabled")
        return [found]
    qs = qs.filter(enabled=True)
    if category is not None:
        qs = qs.filter(category=category)
    selected = list(qs.order_by("category", "name"))
    if patterns:
        selected = [m for m in selected if any(fnmatch.fnmatchcase(m.full_name, p) for p in patterns)]
    return selected


def metric_lookup(name: str, *, category: str | None = None) -> MetricDefinition:
    if "." in name:
        cat, _, short = name.partition(".")
        if category is not None and cat != category:
            raise MetricSelectionError(f"--metric: {name} is not in category {category!r}")
        found = MetricDefinition.objects.filter(category=cat, name=short).first()
    else:
        qs = MetricDefinition.objects.filter(name=name)
        if category is not None:
            qs = qs.filter(category=category)
        matches = list(qs)
        if len(matches) > 1:
            raise MetricSelectionError(
                f"--metric: {name!r} is ambiguous ({', '.join(m.full_name for m in matches)}); use category.name")
        found = matches[0] if matches else None
    if found is None:
        raise MetricSelectionError(f"--metric: unknown metric {name!r}")
    return found


# --------------------------------------------------------------------------- verification

@dataclass
class MetricResult:
    """One line of a run's report (what `verify --json` prints per metric)."""

    metric: str
    status: str
    severity: str
    baseline: Any
    actual: Any
    drift_pct: float | None
    approval_id: int | None
    error: str | None
    from_cache: bool = False
    applied: bool = False
    unresolved: bool = False

    def as_json(self) -> dict:
        return {"metric": self.metric, "status": self.status, "severity": self.severity,
                "baseline": self.baseline, "actual": self.actual, "drift_pct": self.drift_pct,
                "approval_id": self.approval_id, "error": self.error}


def _order_with_dependencies(targets: list[MetricDefinition]) -> tuple[list[MetricDefinition], set[str]]:
    """Targets plus the metrics their expressions need, dependencies first. Returns (order, missing)."""
    by_name = {m.full_name: m for m in MetricDefinition.objects.all()}
    order: list[MetricDefinition] = []
    done: set[str] = set()
    visiting: set[str] = set()
    missing: set[str] = set()

    def visit(metric):
        name = metric.full_name
        if name in done or name in visiting:
            return  # a cycle cannot be imported; guard anyway
        visiting.add(name)
        probe = REGISTRY.get(metric.kind)
        if probe is not None and probe.dependencies is not None:
            try:
                deps = probe.dependencies(metric.params)
            except ValueError:
                deps = []
            for dep in deps:
                if dep in by_name:
                    visit(by_name[dep])
                else:
                    missing.add(dep)
        visiting.discard(name)
        done.add(name)
        order.append(metric)

    for metric in targets:
        visit(by_name.get(metric.full_name, metric))
    return order, missing


def _measure(metric: MetricDefinition, ctx: ProbeContext) -> tuple[Any, str | None]:
    """(typed value, None) or (None, reason). Never a made-up value."""
    probe = REGISTRY.get(metric.kind)
    if probe is None:
        return None, f"unknown metric kind {metric.kind!r}"
    # Whatever a probe reports is recorded and shown: secrets (a command echoing a key…) are redacted.
    try:
        raw = probe.func(metric.params, ctx)
    except ProbeError as exc:
        return None, redact(exc.reason or "probe failed")
    except Exception as exc:  # a bug or an unforeseen failure is still an error, never a number
        reason = f"{type(exc).__name__}: {exc}"
        # The traceback repeats the message: keep it only when the message holds no secret.
        log.error("probe %s crashed: %s", metric.full_name, redact(reason), exc_info=redact(reason) == reason)
        return None, redact(reason)
    try:
        return coerce(redact(raw), metric.parse_type, metric.precision), None
    except CoercionError as exc:
        return None, redact(f"cannot read the value as {metric.parse_type}: {exc}")


def verification_run(*, trigger: str = "manual", category: str | None = None, metric: str | None = None,
                     patterns: list[str] | None = None, update: bool = False, use_cache: bool = True,
                     progress=no_progress, context: ProbeContext | None = None) -> VerificationRun:
    """Measure the selected metrics, judge drift, record history; with `update`, move baselines.

    The returned run carries `.results` (list[MetricResult], in metric order) for the caller's report.
    Raises MetricSelectionError (before recording anything) for an unknown category/metric.
    """
    targets = metrics_select(category=category, metric=metric, patterns=patterns)
    cfg = MetricsSettings.load()
    thresholds = Thresholds(cfg.minor_drift_pct, cfg.moderate_drift_pct, cfg.major_drift_pct)
    with run_record(VerificationRun, trigger=(trigger or "manual")[:40], update=update,
                    options={"category": category, "metric": metric, "patterns": patterns,
                             "use_cache": use_cache}) as run:
        run.results = []
        ctx = None
        try:
            ctx = context or ProbeContext()
            _measure_all(run, targets, ctx, cfg, thresholds, update, use_cache, progress)
        finally:  # a failed run keeps the counts of what it measured
            run.summary = _summary(run.results, ctx)
    return run


def _measure_all(run, targets, ctx, cfg, thresholds, update, use_cache, progress) -> None:
    ctx.now = timezone.now()
    order, missing = _order_with_dependencies(targets)
    for name in missing:
        ctx.errors[name] = "no such metric"
    target_names = {m.full_name for m in targets}

    cached: dict[str, Any] = {}
    if use_cache:
        cache_settings = MetricsSettings.load()
        for m in order:
            entry = metric_cache.cache_read(m, now=ctx.now, ttl=metric_cache.ttl_hours(m, cache_settings))
            if entry is not None:
                cached[m.full_name] = entry.value
    # One listing per distinct root location, all roots concurrently, before measuring.
    uris = [m.params[k] for m in order if m.full_name not in cached
            for k in LOCATION_PARAMS if isinstance(m.params.get(k), str) and "://" in m.params[k]]
    if uris:
        roots = ctx.plan_locations(uris)
        progress(f"listing {len(roots)} location(s): {', '.join(r.uri for r in roots)}")
        ctx.prefetch()

    for m in order:
        name = m.full_name
        t0 = time.monotonic()
        from_cache = name in cached
        if from_cache:
            value, error = cached[name], None
        else:
            value, error = _measure(m, ctx)
            if error is None:
                metric_cache.cache_write(m, value, ttl=metric_cache.ttl_hours(m, cfg))
        if error is None:
            ctx.values[name] = value
        else:
            ctx.errors[name] = error
        if name not in target_names:
            continue  # measured only because an expression needs it
        duration_ms = int((time.monotonic() - t0) * 1000)
        result = _record(run, m, value, error, from_cache, duration_ms, cfg, thresholds, update)
        run.results.append(result)
        progress(f"[{len(run.results)}/{len(targets)}] {name}: {result.status}"
                 + (f" ({result.error})" if result.error else ""))
    position = {m.full_name: i for i, m in enumerate(targets)}
    run.results.sort(key=lambda r: position[r.metric])


def _record(run, metric, value, error, from_cache, duration_ms, cfg, thresholds, update) -> MetricResult:
    from approvals.models import ApprovalRequest
    from approvals.services import approval_request_open_or_update, approval_requests_supersede, back_within_threshold

    with transaction.atomic():
        # Lock the metric so that a concurrent accept/update sees a consistent baseline.
        metric = MetricDefinition.objects.select_for_update().get(pk=metric.pk)
        judged = classify(actual=value, baseline=metric.baseline_value, has_baseline=metric.has_baseline,
                          parse_type=metric.parse_type, precision=metric.precision,
                          volatility=metric.volatility, thresholds=thresholds, error=error)
        baseline = metric.baseline_value if metric.has_baseline else None
        measurement = Measurement.objects.create(
            metric=metric, run=run, value=None if error else value, baseline_value=baseline,
            status=judged.status, severity=judged.severity, drift_pct=judged.drift_pct, error=error or "",
            from_cache=from_cache, duration_ms=duration_ms)
        approval_id = None
        applied = False
        if error is None:
            # A pending proposal whose drift is over (this measurement is back within the approval
            # threshold) no longer applies: close it, whatever `update` says (docs/approvals.md).
            pending = (ApprovalRequest.objects.select_related("measurement")
                       .filter(metric=metric, status=ApprovalStatus.PENDING).first())
            reason = pending and back_within_threshold(pending, metric, latest=measurement,
                                                       threshold=cfg.require_approval_threshold)
            if reason:
                approval_requests_supersede(metric, reason=reason)
        if update and error is None and judged.status in (*DRIFTED, DriftStatus.NEW):
            needs_approval = (
                judged.status != DriftStatus.NEW  # a first baseline is applied directly, critical or not
                and cfg.approval_enabled and metric.critical
                and (judged.drift_pct is None or judged.drift_pct >= cfg.require_approval_threshold)
            )
            if needs_approval:
                request = approval_request_open_or_update(
                    metric=metric, proposed_value=value, baseline_value=metric.baseline_value,
                    drift_pct=judged.drift_pct, severity=judged.severity, measurement=measurement, run=run)
                approval_id = request.pk
            else:
                baseline_apply(metric, value, by=f"system: run #{run.pk}", measurement=measurement)
                applied = True
        if approval_id is None:
            approval_id = (ApprovalRequest.objects.filter(metric=metric, status=ApprovalStatus.PENDING)
                           .values_list("pk", flat=True).first())
    unresolved = (judged.status == DriftStatus.ERROR or approval_id is not None
                  or (judged.status in DRIFTED and not applied))
    return MetricResult(metric.full_name, judged.status, judged.severity, baseline, None if error else value,
                        judged.drift_pct, approval_id, error, from_cache, applied, unresolved)


def _summary(results: list[MetricResult], ctx: ProbeContext | None) -> dict:
    summary = {"total": len(results)}
    for status in STATUSES:
        summary[status] = sum(1 for r in results if r.status == status)
    summary["applied"] = sum(1 for r in results if r.applied)
    summary["pending_approval"] = sum(1 for r in results if r.approval_id is not None)
    summary["from_cache"] = sum(1 for r in results if r.from_cache)
    summary["unresolved"] = sum(1 for r in results if r.unresolved)
    # How many storage listings the run made, and their ListObjectsV2 calls (one listing per root).
    summary["listings"] = ctx.listings_made if ctx is not None else 0
    summary["s3_list_calls"] = ctx.list_calls if ctx is not None else 0
    return summary


def metric_update(*, category: str | None = None, metric: str | None = None, trigger: str = "manual",
                  progress=no_progress) -> VerificationRun:
    """`update`: measure fresh (never from the cache) and apply as baselines, critical ones via approval."""
    return verification_run(trigger=trigger, category=category, metric=metric, update=True, use_cache=False,
                            progress=progress)
