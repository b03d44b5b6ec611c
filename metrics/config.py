"""Parse and validate a metrics YAML file (SPEC §3, plus the original config.yaml shape) into plain
dataclasses. Pure: reads the file, touches no database. Every problem is reported as one line
"FILE: key.path: problem" (ConfigError); the first problem wins, the count of the others is added.
"""
from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from adce_site.storable import first_unstorable
from adce_site.yaml_limits import UniqueKeyLoader, read_yaml_text, yaml_limits_problem

from .drift import PARSE_TYPES, VOLATILITIES, Thresholds
from .probes import REGISTRY
from .probes.base import COMMON_KEYS, ParamError

NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_PRECISION = 10
TOP_LEVEL = ("verification", "approval", "cache", "events", "metrics")


class ConfigError(ValueError):
    """One line: "FILE: key.path: problem"."""


@dataclass(frozen=True)
class MetricSpec:
    category: str
    name: str
    kind: str
    params: dict
    parse_type: str
    precision: int = 2
    volatility: str = "stable"
    critical: bool = False  # effective: declared or matched by approval.critical_metrics
    ttl_hours: float | None = None
    description: str = ""
    enabled: bool = True

    @property
    def full_name(self) -> str:
        return f"{self.category}.{self.name}"


@dataclass
class MetricsConfig:
    path: str
    thresholds: Thresholds = field(default_factory=Thresholds)
    approval_enabled: bool = True
    require_approval_threshold: float = 15.0
    critical_patterns: list[str] = field(default_factory=list)
    default_ttl_hours: float = 24.0
    events: dict = field(default_factory=dict)
    metrics: list[MetricSpec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


class _Errors:
    def __init__(self, path: str):
        self.path = path
        self.items: list[str] = []

    def add(self, key: str, problem: str) -> None:
        self.items.append(f"{self.path}: {key}: {problem}" if key else f"{self.path}: {problem}")

    def raise_if_any(self) -> None:
        if self.items:
            more = len(self.items) - 1
            raise ConfigError(self.items[0] + (f" (and {more} more problem{'s' * (more > 1)})" if more else ""))


def load_config(path: str | Path, *, base_dir: str | Path | None = None, allow_shell: bool = False,
                transform=None) -> MetricsConfig:
    """Read and validate FILE. Relative paths of the metrics resolve against `base_dir` (default: CWD).
    `transform(doc) -> doc` rewrites the loaded document before validation (import_legacy's translation
    of the original's shell commands)."""
    path = str(path)
    try:
        text = read_yaml_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{path}: refused before parsing: {exc}") from None
    return parse_config(text, path=path, base_dir=base_dir, allow_shell=allow_shell, transform=transform)


def parse_config(text: str, *, path: str = "<string>", base_dir=None, allow_shell: bool = False,
                 transform=None) -> MetricsConfig:
    base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
    problem = yaml_limits_problem(text)
    if problem:
        raise ConfigError(f"{path}: refused before parsing: {problem}")
    try:
        doc = yaml.load(text, Loader=UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: {where}invalid YAML: {' '.join(str(problem).split())}") from None
    errors = _Errors(path)
    if doc is None:
        doc = {}
    bad = first_unstorable(doc)
    if bad is not None:
        raise ConfigError(f"{path}: {bad[0]!s:.200}: {bad[1]}")
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the document must be a mapping (with a `metrics:` section)")
    if transform is not None:
        doc = transform(doc)
    cfg = MetricsConfig(path=path)
    for key in doc:
        if key not in TOP_LEVEL:
            cfg.warnings.append(f"{path}: {key}: unknown section ignored")

    _parse_verification(doc.get("verification"), cfg, errors)
    _parse_approval(doc.get("approval"), cfg, errors)
    _parse_cache(doc.get("cache"), cfg, errors)
    events = doc.get("events")
    if events is not None and not isinstance(events, dict):
        errors.add("events", "must be a mapping")
    cfg.events = _jsonable(events or {})

    metrics = doc.get("metrics")
    if metrics is None:
        errors.add("metrics", "missing section (nothing to import)")
        metrics = {}
    elif not isinstance(metrics, dict):
        errors.add("metrics", "must be a mapping of category -> name -> definition")
        metrics = {}
    elif not metrics:
        # An empty section would disable every metric: surely not what the operator meant.
        errors.add("metrics", "no metrics defined")
    for category, entries in metrics.items():
        ckey = f"metrics.{category}"
        if not isinstance(category, str) or not NAME_RE.match(category) or len(category) > 100:
            errors.add(ckey, "category must be an identifier (letters, digits, _), at most 100 characters")
            continue
        if not isinstance(entries, dict) or not entries:
            errors.add(ckey, "must be a non-empty mapping of metric name -> definition")
            continue
        for name, body in entries.items():
            spec = _parse_metric(category, name, body, cfg, errors, base_dir)
            if spec is not None:
                cfg.metrics.append(spec)

    shell = [m.full_name for m in cfg.metrics if m.kind == "shell"]
    if shell and not allow_shell:
        errors.add("metrics", "shell metrics are refused unless ADCE_ALLOW_SHELL_PROBES is on: " + ", ".join(shell))
    _check_expressions(cfg, errors)
    for pattern in cfg.critical_patterns:
        if not any(fnmatch.fnmatchcase(m.full_name, pattern) for m in cfg.metrics):
            cfg.warnings.append(f"{path}: approval.critical_metrics: {pattern!r} matches no metric")
    errors.raise_if_any()
    return cfg


def _number(value, key, errors, *, minimum=0.0) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors.add(key, f"must be a number, got {value!r}")
        return None
    if value < minimum:
        errors.add(key, f"must be >= {minimum:g}, got {value!r}")
        return None
    return float(value)


def _mapping(value, key, errors) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        errors.add(key, "must be a mapping")
        return {}
    return value


def _parse_verification(section, cfg, errors):
    section = _mapping(section, "verification", errors)
    th = _mapping(section.get("thresholds"), "verification.thresholds", errors)
    values = {}
    for key, default in (("minor_drift_pct", 5.0), ("moderate_drift_pct", 15.0), ("major_drift_pct", 25.0)):
        if key in th:
            values[key] = _number(th[key], f"verification.thresholds.{key}", errors)
        else:
            values[key] = default
    for key in th:
        if key not in values:
            errors.add(f"verification.thresholds.{key}", "unknown threshold (minor_drift_pct, moderate_drift_pct, major_drift_pct)")
    if None not in values.values():
        minor, moderate, major = values["minor_drift_pct"], values["moderate_drift_pct"], values["major_drift_pct"]
        if not (0 < minor <= moderate <= major):
            errors.add("verification.thresholds", f"need 0 < minor ≤ moderate ≤ major, got {minor:g}, {moderate:g}, {major:g}")
        cfg.thresholds = Thresholds(minor, moderate, major)


def _parse_approval(section, cfg, errors):
    section = _mapping(section, "approval", errors)
    if "enabled" in section:
        if isinstance(section["enabled"], bool):
            cfg.approval_enabled = section["enabled"]
        else:
            errors.add("approval.enabled", f"must be true or false, got {section['enabled']!r}")
    if "require_approval_threshold" in section:
        value = _number(section["require_approval_threshold"], "approval.require_approval_threshold", errors)
        if value is not None:
            cfg.require_approval_threshold = value
    patterns = section.get("critical_metrics", [])
    if patterns is None:
        patterns = []
    if not isinstance(patterns, list) or not all(isinstance(p, str) and p.strip() for p in patterns):
        errors.add("approval.critical_metrics", "must be a list of metric names or wildcard patterns")
    else:
        cfg.critical_patterns = [p.strip() for p in patterns]


def _parse_cache(section, cfg, errors):
    section = _mapping(section, "cache", errors)
    if "default_ttl_hours" in section:
        value = _number(section["default_ttl_hours"], "cache.default_ttl_hours", errors)
        if value is not None:
            cfg.default_ttl_hours = value


def _parse_metric(category, name, body, cfg, errors, base_dir) -> MetricSpec | None:
    key = f"metrics.{category}.{name}"
    if not isinstance(name, str) or not NAME_RE.match(name) or len(name) > 100:
        errors.add(key, "metric name must be an identifier (letters, digits, _), at most 100 characters")
        return None
    if not isinstance(body, dict):
        errors.add(key, "must be a mapping (kind and parameters)")
        return None
    body = dict(body)
    n_before = len(errors.items)

    kind = body.pop("kind", None)
    if kind is None:
        if "command" in body:
            kind = "shell"  # the original config.yaml shape
        else:
            errors.add(key, "missing `kind` (or `command` for a shell metric)")
            return None
    if kind not in REGISTRY:
        errors.add(f"{key}.kind", f"unknown kind {kind!r} (known: {', '.join(sorted(REGISTRY))})")
        return None
    probe = REGISTRY[kind]

    # `category: volatile|stable` is the original's name for volatility.
    legacy = body.pop("category", None)
    volatility = body.pop("volatility", None)
    if legacy is not None:
        if legacy not in VOLATILITIES:
            errors.add(f"{key}.category", f"must be volatile or stable, got {legacy!r}")
        elif volatility is not None and volatility != legacy:
            errors.add(f"{key}.category", f"contradicts volatility: {volatility!r}")
        volatility = volatility or legacy
    volatility = volatility if volatility is not None else "stable"
    if volatility not in VOLATILITIES:
        errors.add(f"{key}.volatility", f"must be volatile or stable, got {volatility!r}")

    # A probe's default parse type may depend on its parameters (counts vs ages of one kind).
    default_parse_type = probe.parse_type(body) if callable(probe.parse_type) else probe.parse_type
    parse_type = body.pop("parse_type", None) or default_parse_type
    if parse_type not in PARSE_TYPES:
        errors.add(f"{key}.parse_type", f"must be one of {', '.join(PARSE_TYPES)}, got {parse_type!r}")

    precision = body.pop("precision", 2)
    if isinstance(precision, bool) or not isinstance(precision, int) or not 0 <= precision <= MAX_PRECISION:
        errors.add(f"{key}.precision", f"must be an integer from 0 to {MAX_PRECISION}, got {precision!r}")
        precision = 2

    critical = body.pop("critical", False)
    if not isinstance(critical, bool):
        errors.add(f"{key}.critical", f"must be true or false, got {critical!r}")
        critical = False
    enabled = body.pop("enabled", True)
    if not isinstance(enabled, bool):
        errors.add(f"{key}.enabled", f"must be true or false, got {enabled!r}")
        enabled = True
    ttl = body.pop("ttl_hours", None)
    if ttl is not None:
        ttl = _number(ttl, f"{key}.ttl_hours", errors)
    description = body.pop("description", "") or ""
    if not isinstance(description, str):
        errors.add(f"{key}.description", "must be text")
        description = str(description)

    assert not (COMMON_KEYS & body.keys())
    try:
        params = probe.validate(body, base_dir=base_dir)
    except ParamError as exc:
        errors.add(f"{key}.{exc.key}", exc.problem)
        return None
    if len(errors.items) > n_before:
        return None
    full = f"{category}.{name}"
    effective_critical = critical or any(fnmatch.fnmatchcase(full, p) for p in cfg.critical_patterns)
    return MetricSpec(category, name, kind, _jsonable(params), parse_type, precision, volatility,
                      effective_critical, ttl, description.strip(), enabled)


def _check_expressions(cfg: MetricsConfig, errors: _Errors) -> None:
    by_name = {m.full_name: m for m in cfg.metrics}
    graph: dict[str, list[str]] = {}
    for m in cfg.metrics:
        probe = REGISTRY[m.kind]
        if probe.dependencies is None:
            continue
        deps = probe.dependencies(m.params)
        graph[m.full_name] = deps
        for dep in deps:
            if dep not in by_name:
                errors.add(f"metrics.{m.full_name}.expression", f"refers to unknown metric {dep!r}")
            elif REGISTRY[by_name[dep].kind] and by_name[dep].parse_type not in ("integer", "float"):
                errors.add(f"metrics.{m.full_name}.expression", f"{dep!r} is not numeric (parse_type {by_name[dep].parse_type})")
    cycle = find_cycle(graph)
    if cycle:
        errors.add(f"metrics.{cycle[0]}.expression", "dependency cycle: " + " -> ".join(cycle))


def find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """A cycle in the dependency graph (as a closed path) or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for dep in graph.get(node, []):
            if state.get(dep) == 1:
                return stack[stack.index(dep):] + [dep]
            if state.get(dep) is None:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if state.get(node) is None:
            found = visit(node)
            if found:
                return found
    return None


def _jsonable(value: Any):
    """YAML may yield dates/datetimes; store them as ISO strings so JSONField keeps them."""
    import datetime as dt

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    return value
