"""Event hooks from the metrics YAML `events:` section (kept verbatim in MetricsSettings.events_config).

    events:
      enabled: true                 # false: events are still recorded and their bookkeeping runs,
                                    #        but no hook fires
      cooldown_seconds: 60          # per (event type, source), held in the database
      hooks:
        - {name: git_post_commit, trigger: post-commit, metrics: ["code_base.*", "git.*"]}
        - {name: scraper_complete, trigger: scraper_complete, metrics: ["data_gaps.*"], reconcile: true}
        - {name: daily_sync_check, trigger: "cron:0 9 * * *", metrics: ["s3_storage.*"]}
        - {name: monthly_audit, trigger: cron, schedule: "0 0 1 * *"}   # the original's form, same thing

An event of type T fires every hook whose `name` or `trigger` equals T (or matches it, when the
name/trigger holds shell wildcards `*?[`). `cron:<expr>` hooks are run by their schedule
(`setup_schedules`), which emits an event whose type is the hook's name.
Optional per hook: `reconcile: true` (run a reconcile after verifying), `update: true` (verify
with --update semantics; critical metrics still go through approval).

Pure functions: parsing and matching take plain data, the DB lookups live in `load_config`
and `enabled_metric_names`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase

DEFAULT_COOLDOWN_SECONDS = 60
CRON_PREFIX = "cron:"
_WILDCARDS = set("*?[")


class HookConfigError(ValueError):
    """The `events:` section is malformed; the message names the key path."""


@dataclass(frozen=True)
class Hook:
    name: str
    trigger: str = ""
    metrics: tuple[str, ...] = ()
    reconcile: bool = False
    update: bool = False

    @property
    def cron(self) -> str | None:
        """The cron expression of a `cron:<expr>` trigger, else None."""
        if self.trigger.startswith(CRON_PREFIX):
            return self.trigger[len(CRON_PREFIX):].strip()
        return None

    def matches(self, event_type: str) -> bool:
        for candidate in (self.name, self.trigger):
            if not candidate or candidate.startswith(CRON_PREFIX):
                continue
            if candidate == event_type:
                return True
            if _WILDCARDS & set(candidate) and fnmatchcase(event_type, candidate):
                return True
        return False

    def as_dict(self) -> dict:
        return {"name": self.name, "trigger": self.trigger, "metrics": list(self.metrics),
                "reconcile": self.reconcile, "update": self.update}


@dataclass(frozen=True)
class EventsConfig:
    enabled: bool = True
    cooldown_seconds: int = DEFAULT_COOLDOWN_SECONDS
    hooks: tuple[Hook, ...] = field(default_factory=tuple)

    def matching(self, event_type: str) -> list[Hook]:
        return [h for h in self.hooks if h.matches(event_type)]

    def hook(self, name: str) -> Hook | None:
        return next((h for h in self.hooks if h.name == name), None)

    def cron_hooks(self) -> list[Hook]:
        return [h for h in self.hooks if h.cron is not None]


def _bool(value, where: str) -> bool:
    if not isinstance(value, bool):
        raise HookConfigError(f"{where}: expected true or false, got {value!r}")
    return value


def parse_events_config(raw) -> EventsConfig:
    """Validate the raw `events:` mapping. Raises HookConfigError naming the offending key."""
    if raw in (None, {}):
        return EventsConfig()
    if not isinstance(raw, dict):
        raise HookConfigError(f"events: expected a mapping, got {type(raw).__name__}")
    enabled = _bool(raw.get("enabled", True), "events.enabled")
    cooldown = raw.get("cooldown_seconds", DEFAULT_COOLDOWN_SECONDS)
    if isinstance(cooldown, bool) or not isinstance(cooldown, (int, float)) or cooldown < 0:
        raise HookConfigError(f"events.cooldown_seconds: expected a number >= 0, got {cooldown!r}")
    raw_hooks = raw.get("hooks") or []
    if not isinstance(raw_hooks, list):
        raise HookConfigError("events.hooks: expected a list")
    hooks: list[Hook] = []
    seen: set[str] = set()
    for i, item in enumerate(raw_hooks):
        where = f"events.hooks[{i}]"
        if isinstance(item, str):  # the original's bare list of hook names
            item = {"name": item}
        if not isinstance(item, dict):
            raise HookConfigError(f"{where}: expected a mapping with name/trigger/metrics")
        unknown = set(item) - {"name", "trigger", "metrics", "reconcile", "update", "description", "schedule"}
        if unknown:
            raise HookConfigError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise HookConfigError(f"{where}.name: required, a non-empty string")
        name = name.strip()
        if name in seen:
            raise HookConfigError(f"{where}.name: duplicate hook name {name!r}")
        seen.add(name)
        trigger = item.get("trigger", "")
        if trigger is None:
            trigger = ""
        if not isinstance(trigger, str):
            raise HookConfigError(f"{where}.trigger: expected a string")
        trigger = trigger.strip()
        schedule = item.get("schedule")
        if schedule is not None:
            # The original's form: `trigger: cron` with the expression in `schedule:`.
            if trigger not in ("cron", "") or not isinstance(schedule, str):
                raise HookConfigError(f"{where}.schedule: only with `trigger: cron`, a cron expression string")
            trigger = CRON_PREFIX + schedule.strip()
        elif trigger == "cron":
            raise HookConfigError(f"{where}.trigger: `cron` needs `schedule:` (or write `cron:<expr>`)")
        metrics = item.get("metrics", [])
        if isinstance(metrics, str):
            metrics = [metrics]
        if not isinstance(metrics, list) or not all(isinstance(m, str) and m.strip() for m in metrics):
            raise HookConfigError(f"{where}.metrics: expected a list of metric name patterns")
        hook = Hook(
            name=name,
            trigger=trigger,
            metrics=tuple(m.strip() for m in metrics),
            reconcile=_bool(item.get("reconcile", False), f"{where}.reconcile"),
            update=_bool(item.get("update", False), f"{where}.update"),
        )
        if hook.cron is not None:
            from croniter import croniter

            if not hook.cron or not croniter.is_valid(hook.cron):
                raise HookConfigError(f"{where}.trigger: invalid cron expression {hook.cron!r}")
        hooks.append(hook)
    return EventsConfig(enabled=enabled, cooldown_seconds=int(cooldown), hooks=tuple(hooks))


def load_config() -> EventsConfig:
    """The hooks currently imported (MetricsSettings.events_config). HookConfigError if malformed."""
    from metrics.models import MetricsSettings

    row = MetricsSettings.objects.filter(pk=1).only("events_config").first()
    return parse_events_config(row.events_config if row else {})


def match_metrics(patterns, metric_names) -> list[str]:
    """Metric names (category.name) matched by any pattern, in the order of `metric_names`."""
    patterns = list(patterns)
    return [n for n in metric_names if any(fnmatchcase(n, p) for p in patterns)]


def enabled_metric_names() -> list[str]:
    from metrics.models import MetricDefinition

    return [f"{c}.{n}" for c, n in MetricDefinition.objects.filter(enabled=True).values_list("category", "name")]


@dataclass(frozen=True)
class Plan:
    """What an event of a type would do: the hooks it fires and what they run."""

    event_type: str
    hooks: list[Hook]
    patterns: list[str]
    metrics: list[str]
    reconcile: bool
    update: bool

    def as_dict(self) -> dict:
        return {"event_type": self.event_type, "hooks": [h.as_dict() for h in self.hooks],
                "patterns": self.patterns, "metrics": self.metrics,
                "reconcile": self.reconcile, "update": self.update}


def plan_for(config: EventsConfig, event_type: str, metric_names) -> Plan:
    hooks = config.matching(event_type) if config.enabled else []
    patterns: list[str] = []
    for h in hooks:
        patterns.extend(p for p in h.metrics if p not in patterns)
    return Plan(
        event_type=event_type,
        hooks=hooks,
        patterns=patterns,
        metrics=match_metrics(patterns, metric_names),
        reconcile=any(h.reconcile for h in hooks),
        update=any(h.update for h in hooks),
    )
