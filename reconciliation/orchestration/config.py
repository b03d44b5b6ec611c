"""The scrapers YAML (SPEC §13): parse and validate, pure. Every problem is a ScraperConfigError
"FILE: key.path: what is wrong" (the first one found, in file order); nothing is written here.

Decisions (docs/orchestration.md): unknown keys are errors (a typo must not fall back to a default);
`command` must be a YAML list of strings (argv, never a shell line); exactly one of `command` / `url`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from reconciliation.orchestration.rules import RateLimit, RuleError, parse_rate_limit

TOP_KEYS = {"limits", "scrapers"}
LIMIT_KEYS = {"max_concurrency", "rate_limit"}
SCRAPER_DEFAULTS = {
    "max_concurrency": None,
    "rate_limit": None,
    "timeout_minutes": 30,
    "max_attempts": 3,
    "backoff_minutes": [1, 5, 30],
    "pause_after_failures": 5,
    "pause_minutes": 60,
    "enabled": True,
}
SCRAPER_KEYS = set(SCRAPER_DEFAULTS) | {"command", "url", "description", "notes"}
GLOBAL_DEFAULT_CONCURRENCY = 4
NAME_MAX = 150


class ScraperConfigError(ValueError):
    """Bad scrapers input; one line naming the file and the key path."""


@dataclass(frozen=True, slots=True)
class ScraperSpec:
    name: str
    command: tuple[str, ...]
    url: str
    max_concurrency: int | None
    rate_limit: RateLimit | None
    timeout_minutes: float
    max_attempts: int
    backoff_minutes: tuple[float, ...]
    pause_after_failures: int
    pause_minutes: float
    enabled: bool


@dataclass(frozen=True, slots=True)
class ScrapersConfig:
    max_concurrency: int
    rate_limit: RateLimit | None
    scrapers: tuple[ScraperSpec, ...]


class _Ctx:
    def __init__(self, label: str):
        self.label = label

    def fail(self, path: str, message: str) -> ScraperConfigError:
        return ScraperConfigError(f"{self.label}: {path}: {message}")

    def mapping(self, value, path: str) -> dict:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, got {type(value).__name__}")
        return value

    def keys(self, mapping: dict, allowed: set, path: str) -> None:
        for key in mapping:
            if key not in allowed:
                raise self.fail(f"{path}.{key}" if path else str(key),
                                f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def int_(self, value, path: str, *, minimum: int, allow_none: bool = False) -> int | None:
        if value is None and allow_none:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(path, f"must be an integer, got {value!r}")
        if value < minimum:
            raise self.fail(path, f"must be at least {minimum}, got {value}")
        return value

    def number(self, value, path: str, *, minimum: float, strict: bool = False) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(path, f"must be a number, got {value!r}")
        if value < minimum or (strict and value == minimum):
            raise self.fail(path, f"must be {'greater than' if strict else 'at least'} {minimum:g}, got {value!r}")
        return float(value)

    def rate(self, value, path: str) -> RateLimit | None:
        if value is None:
            return None
        try:
            return parse_rate_limit(value)
        except RuleError as exc:
            raise self.fail(path, f"bad rate limit: {exc}") from None


def parse_scrapers(data, label: str) -> ScrapersConfig:
    ctx = _Ctx(label)
    if data is None:
        raise ctx.fail("(top)", "the file is empty")
    data = ctx.mapping(data, "(top)")
    ctx.keys(data, TOP_KEYS, "")
    limits = ctx.mapping(data.get("limits") or {}, "limits")
    ctx.keys(limits, LIMIT_KEYS, "limits")
    max_concurrency = ctx.int_(limits.get("max_concurrency", GLOBAL_DEFAULT_CONCURRENCY), "limits.max_concurrency",
                               minimum=1)
    rate = ctx.rate(limits.get("rate_limit"), "limits.rate_limit")
    if "scrapers" not in data:
        raise ctx.fail("scrapers", "missing (a mapping of scraper name to its declaration)")
    scrapers = ctx.mapping(data["scrapers"] or {}, "scrapers")
    specs = [_scraper(ctx, name, body) for name, body in scrapers.items()]
    return ScrapersConfig(max_concurrency, rate, tuple(specs))


def _scraper(ctx: _Ctx, name, body) -> ScraperSpec:
    path = f"scrapers.{name}"
    if not isinstance(name, str) or not name.strip() or len(name) > NAME_MAX:
        raise ctx.fail(path, f"a scraper name must be a non-empty string of at most {NAME_MAX} characters")
    body = ctx.mapping(body, path)
    ctx.keys(body, SCRAPER_KEYS, path)
    values = {**SCRAPER_DEFAULTS, **body}
    command, url = body.get("command"), body.get("url")
    if (command is None) == (url is None):
        raise ctx.fail(path, "needs exactly one of `command` (argv list) or `url`")
    argv: tuple[str, ...] = ()
    if command is not None:
        if isinstance(command, str):
            raise ctx.fail(f"{path}.command", "must be a list of arguments (argv), not a string: "
                                              "ADCE never runs a shell")
        if not isinstance(command, list) or not command or not all(isinstance(a, str) and a for a in command):
            raise ctx.fail(f"{path}.command", "must be a non-empty list of non-empty strings (argv)")
        argv = tuple(command)
    if url is not None:
        parsed = urlparse(url) if isinstance(url, str) else None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ctx.fail(f"{path}.url", f"must be an http:// or https:// URL, got {url!r}")
    backoff = values["backoff_minutes"]
    if isinstance(backoff, (int, float)) and not isinstance(backoff, bool):
        backoff = [backoff]
    if not isinstance(backoff, list) or not backoff:
        raise ctx.fail(f"{path}.backoff_minutes", f"must be a non-empty list of minutes, got {values['backoff_minutes']!r}")
    backoff = tuple(ctx.number(b, f"{path}.backoff_minutes[{i}]", minimum=0) for i, b in enumerate(backoff))
    if not isinstance(values["enabled"], bool):
        raise ctx.fail(f"{path}.enabled", f"must be true or false, got {values['enabled']!r}")
    return ScraperSpec(
        name=name.strip(),
        command=argv,
        url=url or "",
        max_concurrency=ctx.int_(values["max_concurrency"], f"{path}.max_concurrency", minimum=1, allow_none=True),
        rate_limit=ctx.rate(values["rate_limit"], f"{path}.rate_limit"),
        timeout_minutes=ctx.number(values["timeout_minutes"], f"{path}.timeout_minutes", minimum=0, strict=True),
        max_attempts=ctx.int_(values["max_attempts"], f"{path}.max_attempts", minimum=1),
        backoff_minutes=backoff,
        pause_after_failures=ctx.int_(values["pause_after_failures"], f"{path}.pause_after_failures", minimum=0),
        pause_minutes=ctx.number(values["pause_minutes"], f"{path}.pause_minutes", minimum=0, strict=True),
        enabled=values["enabled"],
    )


def load_scrapers(path: str | Path) -> ScrapersConfig:
    from reconciliation.services.coverage import CoverageError, load_yaml_file

    label = str(path)
    try:
        data = load_yaml_file(path)
    except CoverageError as exc:
        raise ScraperConfigError(str(exc)) from None
    return parse_scrapers(data, label)
