"""Metrics from reconciliation (SPEC §3 `gap_count`, and `reconciliation_stat`).

Counts are only numbers once a reconcile has completed: before that they are unknown, so the probes
raise ProbeError with the reason instead of reporting 0 — the same for ages when nothing has run,
and for a source or data type name that does not exist (a typo must not read as "0 gaps").
"""
from __future__ import annotations

from django.utils import timezone

from reconciliation.choices import GapKind, GapStatus, Priority

from .base import ParamError, ProbeError, check_keys, register, want_str

ANY_STATUS = "any"
STATS = ("last_reconcile_age_hours", "last_scan_age_hours", "open_gaps", "critical_gaps", "queue_size",
         "unmatched_objects",
         # the autonomous loop's health (SPEC §13; reconciliation.orchestration.selectors)
         "gaps_healed_24h", "median_time_to_heal_hours", "oldest_critical_gap_age_hours", "tasks_failed_for_good",
         "scrapers_paused")


def _choice(params: dict, key: str, choices: tuple, *, upper: bool = False) -> None:
    if key not in params:
        return
    value = want_str(params, key).strip()
    value = value.upper() if upper else value.lower()
    if value not in choices:
        raise ParamError(key, f"must be one of {', '.join(choices)}, got {params[key]!r}")
    params[key] = value


def validate_gap_count(params, *, base_dir):
    check_keys(params, optional=("source", "data_type", "priority", "gap_kind", "status"))
    params = dict(params)
    for key in ("source", "data_type"):
        if key in params:
            params[key] = want_str(params, key).strip()
    _choice(params, "priority", tuple(Priority), upper=True)
    _choice(params, "gap_kind", tuple(GapKind))
    _choice(params, "status", (*GapStatus, ANY_STATUS))
    params.setdefault("status", GapStatus.OPEN.value)
    return params


def _require_reconcile():
    from reconciliation.selectors import last_completed_reconcile

    run = last_completed_reconcile()
    if run is None:
        raise ProbeError("no reconcile has completed yet: gap and task counts are unknown")
    return run


@register("gap_count", validate=validate_gap_count, parse_type="integer")
def gap_count(params, ctx):
    from reconciliation.models import DataType, Gap, Source

    _require_reconcile()
    qs = Gap.objects.all()
    source, data_type = params.get("source"), params.get("data_type")
    if source:
        if not Source.objects.filter(name=source).exists():
            raise ProbeError(f"source: unknown source {source!r}")
        qs = qs.filter(source__name=source)
    if data_type:
        # "type", "source.type", or "type" within the given source
        src, _, name = data_type.rpartition(".")
        src = src or source
        types = DataType.objects.filter(name=name)
        if src:
            types = types.filter(source__name=src)
        if not types.exists():
            raise ProbeError(f"data_type: unknown data type {data_type!r}" + (f" of source {src!r}" if src else ""))
        qs = qs.filter(data_type__in=types)
    if params.get("priority"):
        qs = qs.filter(priority=params["priority"])
    if params.get("gap_kind"):
        qs = qs.filter(kind=params["gap_kind"])
    status = params.get("status", GapStatus.OPEN)
    if status != ANY_STATUS:
        qs = qs.filter(status=status)
    return qs.count()


def validate_stat(params, *, base_dir):
    check_keys(params, required=("stat",))
    params = dict(params)
    _choice(params, "stat", STATS)
    return params


def _age_hours(moment) -> float:
    return max(0.0, (timezone.now() - moment).total_seconds() / 3600)


def _stat_parse_type(params) -> str:
    # Ages are hours (float); every other statistic is a count.
    return "float" if str(params.get("stat", "")).lower().endswith("_hours") else "integer"


@register("reconciliation_stat", validate=validate_stat, parse_type=_stat_parse_type)
def reconciliation_stat(params, ctx):
    from reconciliation.choices import OPEN_TASK_STATUSES
    from reconciliation.models import Gap, Task
    from reconciliation.selectors import last_completed_scan

    stat = params.get("stat")
    if stat == "last_reconcile_age_hours":
        return _age_hours(_require_reconcile().finished_at)
    if stat in ("last_scan_age_hours", "unmatched_objects"):
        scan = last_completed_scan()
        if scan is None:
            raise ProbeError("no complete scan has finished yet")
        return _age_hours(scan.finished_at) if stat == "last_scan_age_hours" else scan.unmatched_count
    if stat in ("open_gaps", "critical_gaps", "queue_size"):
        _require_reconcile()
        if stat == "queue_size":
            return Task.objects.filter(status__in=OPEN_TASK_STATUSES).count()
        qs = Gap.objects.filter(status=GapStatus.OPEN)
        return (qs.filter(priority=Priority.CRITICAL) if stat == "critical_gaps" else qs).count()
    from reconciliation.orchestration.selectors import HEALTH_STATS, HealthUnknown, loop_health_stat

    if stat in HEALTH_STATS:
        if stat != "scrapers_paused":
            _require_reconcile()  # before any reconcile, gap and task figures are unknown, not 0
        try:
            return loop_health_stat(stat)
        except HealthUnknown as exc:
            raise ProbeError(str(exc)) from None
    raise ProbeError(f"stat: unknown statistic {stat!r} (one of {', '.join(STATS)})")
