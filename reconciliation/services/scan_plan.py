"""The scan's plan: what a scan will list, validated before anything is listed or written (SPEC §2, §6, §7).

    scan_plan(sources=None, location=None, manifest_uri=None, sample_rate=None, seed=None) -> ScanPlan

Apart from the scan service (reconciliation.services.scan) and its object stream
(reconciliation.services.scan_stream) because both take a plan: a bad argument is refused here,
as ScanInputError naming it, before a run is recorded.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciliation.choices import ScanMode
from reconciliation.engine.inventory_sql import Region
from reconciliation.models import ScanRun, Source
from reconciliation.storage import Location, LocationError, parse_location


class ScanInputError(ValueError):
    """Bad input found before anything was listed or written (unknown source, bad URI, bad rate)."""


class ScanFailed(Exception):
    """The listing failed or was interrupted; `run` is the recorded failed ScanRun (None in dry runs)."""

    def __init__(self, message: str, run: ScanRun | None = None):
        super().__init__(message)
        self.run = run


@dataclass
class Target:
    """One region to inventory. Keys listed under `location` are judged by the matcher as
    `match_store` + `match_prefix` + (key relative to `location`) — the same key unless overridden."""

    location: Location
    match_store: str
    match_prefix: str
    sources: list[str]

    @property
    def region(self) -> Region:
        return Region(self.location.store, self.location.prefix)

    @property
    def rerooted(self) -> bool:
        return (self.match_store, self.match_prefix) != (self.location.store, self.location.prefix)


@dataclass
class ScanPlan:
    sources: list[Source]
    targets: list[Target]
    mode: str
    location_override: str = ""
    manifest_uri: str = ""
    sample_rate: float | None = None
    seed: int | None = None
    allow_empty_report: bool = False  # an inventory report listing no data file may empty the inventory

    @property
    def source_names(self) -> list[str]:
        return [s.name for s in self.sources]


@dataclass
class TargetStats:
    uri: str
    objects: int = 0
    bytes: int = 0
    matched: int = 0
    unmatched: int = 0
    seconds: float = 0.0

    def as_dict(self, rate: float | None = None) -> dict:
        d = {"uri": self.uri, "objects": self.objects, "bytes": self.bytes, "matched": self.matched,
             "unmatched": self.unmatched, "seconds": round(self.seconds, 3)}
        if rate:
            d["estimated_objects"] = round(self.objects / rate)
            d["estimated_bytes"] = round(self.bytes / rate)
        return d


@dataclass
class ScanTotals:
    targets: list[TargetStats]
    unmatched_examples: list[str] = field(default_factory=list)
    outside: int = 0  # inventory-report keys outside every selected location (not taken)
    list_seconds: float = 0.0

    def total(self, attr: str) -> int:
        return sum(getattr(t, attr) for t in self.targets)


def minimal_locations(locations: Sequence[Location]) -> list[Location]:
    """Drop every location contained in another one of the list (same store, prefix extends)."""
    kept: list[Location] = []
    for loc in sorted(set(locations), key=lambda l: (l.store, len(l.prefix), l.prefix)):
        if not any(k.store == loc.store and loc.prefix.startswith(k.prefix) for k in kept):
            kept.append(loc)
    return kept


def scan_plan(*, sources: Sequence[str] | None = None, location: str | None = None,
              manifest_uri: str | None = None, sample_rate: float | None = None,
              seed: int | None = None, allow_empty_report: bool = False) -> ScanPlan:
    """Validate the scan's arguments against the coverage; ScanInputError names what is wrong."""
    if sample_rate is not None:
        if not (0 < float(sample_rate) <= 1):
            raise ScanInputError(f"--sample-rate: {sample_rate} is not in (0, 1]")
        seed = 0 if seed is None else int(seed)
    elif seed is not None:
        raise ScanInputError("--seed needs --sample-rate")
    if location and (not sources or len(sources) != 1):
        raise ScanInputError("--location needs exactly one --source (the source whose location it replaces)")

    if sources:
        by_name = {s.name: s for s in Source.objects.filter(name__in=list(sources))}
        for name in sources:
            if name not in by_name:
                raise ScanInputError(f"--source: unknown source {name!r}")
            if not by_name[name].active:
                raise ScanInputError(f"--source: source {name!r} is not active (it left the coverage file)")
        selected = [by_name[n] for n in dict.fromkeys(sources)]
    else:
        selected = list(Source.objects.filter(active=True).order_by("name"))
        if not selected:
            raise ScanInputError("no active source to scan: import a coverage file first (import_coverage)")

    configured: dict[str, Location] = {}
    for src in selected:
        try:
            configured[src.name] = parse_location(src.location)
        except LocationError as exc:
            raise ScanInputError(f"source {src.name!r}: location: {exc}") from None

    override = None
    if location:
        try:
            override = parse_location(location)
        except LocationError as exc:
            raise ScanInputError(f"--location: {exc}") from None

    mode = ScanMode.SAMPLE if sample_rate is not None else (ScanMode.INVENTORY_REPORT if manifest_uri else ScanMode.LIST)
    if override is not None:
        src = selected[0]
        home = configured[src.name]
        targets = [Target(override, home.store, home.prefix, [src.name])]
    else:
        targets = []
        for loc in sorted(minimal_locations(configured.values()), key=lambda l: (l.store, l.prefix)):
            names = [n for n, l in configured.items() if l.store == loc.store and l.prefix.startswith(loc.prefix)]
            targets.append(Target(loc, loc.store, loc.prefix, names))
    if manifest_uri:
        try:
            parse_location(manifest_uri)
        except LocationError as exc:
            raise ScanInputError(f"--inventory-manifest: {exc}") from None
        # Which targets lie in the report's bucket is only known once the manifest is read; targets
        # on other stores are dropped then (see scan_stream.report_targets).
        if any(t.location.scheme != "s3" for t in targets) and override is not None:
            raise ScanInputError("--location: an inventory report lists an S3 bucket; the location must be s3://")
    return ScanPlan(
        sources=selected, targets=targets, mode=str(mode), location_override=override.uri if override else "",
        manifest_uri=manifest_uri or "", sample_rate=float(sample_rate) if sample_rate is not None else None,
        seed=seed, allow_empty_report=allow_empty_report,
    )
