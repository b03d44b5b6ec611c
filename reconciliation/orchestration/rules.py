"""Pure rules of the orchestrator (SPEC §13): rate limits, backoff, the circuit breaker, the keys a
task is expected to write, and the reason a run leaves behind. No database, no clock: callers pass
`now` (the database's clock, see services.db_now) so every host judges with the same time.
"""
from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from reconciliation.choices import PatternLevel
from reconciliation.domain import patterns

WINDOWS = {"second": 1, "minute": 60, "hour": 3600}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*(second|minute|hour)\s*$")


class RuleError(ValueError):
    """A value a rule cannot use; the message says why (the caller adds the key path)."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `count` starts in any `window_seconds`-long interval (a sliding window)."""

    count: int
    window_seconds: int

    @property
    def text(self) -> str:
        unit = {v: k for k, v in WINDOWS.items()}[self.window_seconds]
        return f"{self.count}/{unit}"


def parse_rate_limit(value) -> RateLimit:
    """"N/second|minute|hour" with N ≥ 1 → RateLimit; RuleError otherwise."""
    if not isinstance(value, str):
        raise RuleError(f"must be a string like \"30/minute\", got {value!r}")
    m = _RATE.match(value)
    if not m:
        raise RuleError(f"{value!r} is not N/second, N/minute or N/hour")
    count = int(m.group(1))
    if count < 1:
        raise RuleError(f"{value!r}: N must be at least 1")
    return RateLimit(count, WINDOWS[m.group(2)])


def window_start(now: dt.datetime, limit: RateLimit) -> dt.datetime:
    """Starts strictly after this moment count against the limit at `now`."""
    return now - dt.timedelta(seconds=limit.window_seconds)


def rate_allows(starts_in_window: int, limit: RateLimit | None) -> bool:
    """Sliding log: a start at `now` is allowed while fewer than N starts lie in (now − W, now].
    Then no interval of length W ever holds more than N starts (the (N+1)th would have seen N)."""
    return limit is None or starts_in_window < limit.count


def concurrency_allows(running: int, limit: int | None) -> bool:
    return limit is None or running < limit


def backoff_minutes(schedule: list | tuple, attempts_made: int) -> float:
    """Minutes to wait before attempt `attempts_made + 1`: schedule[0] before attempt 2, schedule[1]
    before attempt 3, …; the last value repeats; an empty schedule means no wait."""
    if attempts_made < 1 or not schedule:
        return 0.0
    return float(schedule[min(attempts_made - 1, len(schedule) - 1)])


def retry_at(last_finished: dt.datetime | None, schedule, attempts_made: int) -> dt.datetime | None:
    """When the task may start again; None when nothing holds it back."""
    wait = backoff_minutes(schedule, attempts_made)
    if last_finished is None or wait <= 0:
        return None
    return last_finished + dt.timedelta(minutes=wait)


# --- the circuit breaker ---------------------------------------------------------------------------


def breaker_counts_failure(*, task_done: bool, partitions_resolved: int) -> bool:
    """A run counts against its scraper's breaker when it neither finished its task nor healed any
    partition: partial progress means the source answers, so it is not a reason to pause."""
    return not task_done and partitions_resolved == 0


def breaker_trips(consecutive_failures: int, pause_after_failures: int) -> bool:
    """0 disables the breaker. Half-open after a pause: the count is not reset when the pause ends,
    so the first failure after it pauses the scraper again; a success (or an operator's resume)
    resets it."""
    return pause_after_failures > 0 and consecutive_failures >= pause_after_failures


def is_paused(paused_until: dt.datetime | None, now: dt.datetime) -> bool:
    return paused_until is not None and paused_until > now


# --- the task document ------------------------------------------------------------------------------

_PLACEHOLDER = re.compile(r"\{[^{}]*\}")


def expected_key(pattern: str, *, level: str, partition: str, season: str | None,
                 game_date: dt.date | None) -> str | None:
    """The key (relative to the source location) of one partition under `pattern`, or None when a
    placeholder has no value (e.g. a game without a catalog date under a {date} pattern). The inverse of
    matching is reconciliation.domain.patterns.expected_key (dimension values included, §10)."""
    if level == PatternLevel.SEASON and not season:
        season = partition[:7]
    key = patterns.expected_key(pattern, partition=partition, season=season, day=game_date)
    return None if _PLACEHOLDER.search(key) else key


def run_reason(*, exit_status: int | None, error: str, stderr_tail: str, missing: int, total: int) -> str:
    """Why a run did not finish its task: the run's own failure first, else what is still missing."""
    if error:
        return error
    if exit_status not in (None, 0):
        last = stderr_tail.strip().splitlines()[-3:]
        return f"exit status {exit_status}" + (": " + " | ".join(last) if last else "")
    return f"{missing} of {total} partitions still missing"


def tail(text: str, *, lines: int = 20, chars: int = 4000) -> str:
    """The last `lines` lines of `text`, at most `chars` characters."""
    kept = "\n".join(text.rstrip().splitlines()[-lines:])
    return kept[-chars:]
