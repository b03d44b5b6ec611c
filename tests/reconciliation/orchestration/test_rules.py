import datetime as dt

import pytest

from reconciliation.orchestration.rules import (RateLimit, RuleError, backoff_minutes, breaker_counts_failure,
                                                breaker_trips, expected_key, parse_rate_limit, rate_allows,
                                                retry_at, run_reason, tail)

T0 = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.timezone.utc)


@pytest.mark.parametrize("text,expected", [("120/hour", RateLimit(120, 3600)), ("30/minute", RateLimit(30, 60)),
                                           (" 2 / second ", RateLimit(2, 1))])
def test_parse_rate_limit(text, expected):
    assert parse_rate_limit(text) == expected
    assert parse_rate_limit(expected.text) == expected


@pytest.mark.parametrize("bad", ["0/minute", "10/day", "ten/minute", "10", 10, None, "-1/hour"])
def test_bad_rate_limits_are_refused(bad):
    with pytest.raises(RuleError):
        parse_rate_limit(bad)


def test_sliding_window_allows_n_starts():
    limit = RateLimit(2, 60)
    assert rate_allows(0, limit) and rate_allows(1, limit) and not rate_allows(2, limit)
    assert rate_allows(10_000, None)


def test_backoff_schedule_repeats_its_last_value():
    schedule = [1, 5, 30]
    assert [backoff_minutes(schedule, n) for n in range(0, 6)] == [0, 1, 5, 30, 30, 30]
    assert backoff_minutes([], 3) == 0
    assert retry_at(T0, schedule, 2) == T0 + dt.timedelta(minutes=5)
    assert retry_at(T0, [0], 2) is None and retry_at(None, schedule, 2) is None


def test_breaker():
    assert breaker_counts_failure(task_done=False, partitions_resolved=0)
    assert not breaker_counts_failure(task_done=False, partitions_resolved=1)  # partial progress
    assert not breaker_counts_failure(task_done=True, partitions_resolved=0)
    assert not breaker_trips(4, 5) and breaker_trips(5, 5) and breaker_trips(6, 5)
    assert not breaker_trips(100, 0)  # 0 disables it


def test_expected_keys_fill_every_placeholder():
    d = dt.date(2024, 11, 2)
    assert expected_key("pbp/{game_id}.json", level="game", partition="401", season="2024-25", game_date=d) == "pbp/401.json"
    assert expected_key("s/{season}/{date}/{game_id}.json", level="game", partition="401", season="2024-25",
                        game_date=d) == "s/2024-25/20241102/401.json"
    assert expected_key("sched/{date}.json", level="date", partition="2024-11-02", season=None, game_date=None) \
        == "sched/20241102.json"
    assert expected_key("h/nba_{season_end}.parquet", level="season", partition="2024-25", season=None,
                        game_date=None) == "h/nba_2025.parquet"
    assert expected_key("fixed/teams.json", level="fixed", partition="", season=None, game_date=None) == "fixed/teams.json"
    # a {date} pattern for a game the catalog has no date for cannot be filled in
    assert expected_key("{date}/{game_id}.json", level="game", partition="9", season=None, game_date=None) is None
    # §10: dimension values fill their placeholders; {year} is {season_end}
    assert expected_key("box/{game_id}/{side}.json", level="game", partition="401/home", season="2024-25",
                        game_date=d) == "box/401/home.json"
    assert expected_key("t/{team}/{year}.html", level="season", partition="2024-25/LAL", season=None,
                        game_date=None) == "t/LAL/2025.html"
    assert expected_key("n/{date}/{type}.json", level="date", partition="2024-11-02/speed", season=None,
                        game_date=d) == "n/20241102/speed.json"


def test_run_reason_prefers_the_runs_own_failure():
    assert run_reason(exit_status=0, error="", stderr_tail="", missing=3, total=5) == "3 of 5 partitions still missing"
    assert run_reason(exit_status=1, error="", stderr_tail="a\nb\nc\nd", missing=1, total=2) == "exit status 1: b | c | d"
    assert run_reason(exit_status=None, error="scraper command not found: x", stderr_tail="", missing=2,
                      total=2) == "scraper command not found: x"
    assert tail("\n".join(str(i) for i in range(100)), lines=3) == "97\n98\n99"
