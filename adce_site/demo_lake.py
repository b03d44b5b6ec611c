"""A synthetic NBA data lake in a local folder, for the demo and for tests.

It uses the real key layouts of the reference coverage file (ESPN with its old and new layouts, NBA
API, hoopR season files, Basketball Reference) and plants the defects an operator must see:
missing and empty files, a stale current-season file, games after today in the catalog, recent games
not scraped yet, and keys that match no pattern (layout drift). Everything is derived from a seed and
`today`, so two builds with the same inputs are identical (mtimes included).
"""
from __future__ import annotations

import csv
import datetime as dt
import json
import os
import random
from dataclasses import dataclass, field
from pathlib import Path

SEASON_START_MONTH_DAY = (10, 21)  # opening night, roughly
GAMES_PER_SEASON = 1230
GAMES_PER_DAY = 7


@dataclass
class DemoGame:
    espn_id: str
    nba_id: str
    bref_id: str
    season: str
    season_end: int
    game_date: dt.date


@dataclass
class DemoLakeSummary:
    root: Path
    lake: Path
    objects: int = 0
    bytes: int = 0
    seasons: list[str] = field(default_factory=list)
    current_season: str = ""
    games: int = 0
    future_games: int = 0
    planted: dict[str, int] = field(default_factory=dict)
    coverage_file: Path | None = None
    metrics_file: Path | None = None
    catalog_files: dict[str, Path] = field(default_factory=dict)


def season_label(end_year: int) -> str:
    return f"{end_year - 1}-{end_year % 100:02d}"


def current_season_end(today: dt.date) -> int:
    return today.year + 1 if today >= dt.date(today.year, 7, 1) else today.year


def _schedule(end_year: int, rng: random.Random) -> list[dt.date]:
    """GAMES_PER_SEASON game dates from opening night, GAMES_PER_DAY a day (a few rest days)."""
    day = dt.date(end_year - 1, *SEASON_START_MONTH_DAY)
    dates: list[dt.date] = []
    while len(dates) < GAMES_PER_SEASON:
        if day.month == 12 and day.day == 24 or rng.random() < 0.04:  # no games on some days
            day += dt.timedelta(days=1)
            continue
        dates.extend([day] * min(GAMES_PER_DAY, GAMES_PER_SEASON - len(dates)))
        day += dt.timedelta(days=1)
    return dates


TEAMS = ["ATL", "BOS", "BRK", "CHI", "CLE", "DAL", "DEN", "DET", "GSW", "HOU", "LAL", "MIA", "MIL", "NYK", "PHI"]


def build_games(today: dt.date, seasons: int, rng: random.Random) -> list[DemoGame]:
    end = current_season_end(today)
    games: list[DemoGame] = []
    for end_year in range(end - seasons + 1, end + 1):
        for n, game_date in enumerate(_schedule(end_year, rng), start=1):
            games.append(
                DemoGame(
                    espn_id=f"40{end_year % 100:02d}{n:05d}",
                    nba_id=f"002{(end_year - 1) % 100:02d}{n:05d}",
                    bref_id=f"{game_date:%Y%m%d}0{TEAMS[n % len(TEAMS)]}",
                    season=season_label(end_year),
                    season_end=end_year,
                    game_date=game_date,
                )
            )
    return games


def _epoch(day: dt.date, hour: int = 6) -> float:
    return dt.datetime(day.year, day.month, day.day, hour, tzinfo=dt.timezone.utc).timestamp()


class _Writer:
    def __init__(self, lake: Path, summary: DemoLakeSummary):
        self.lake = lake
        self.summary = summary
        self._made: set[Path] = set()

    def put(self, key: str, body: bytes, mtime: float) -> None:
        path = self.lake / key
        if path.parent not in self._made:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._made.add(path.parent)
        path.write_bytes(body)
        os.utime(path, (mtime, mtime))
        self.summary.objects += 1
        self.summary.bytes += len(body)


def _body(kind: str, ident: str, rng: random.Random) -> bytes:
    events = [{"seq": i, "clock": f"{11 - i % 12}:{i % 60:02d}", "pts": i % 3} for i in range(rng.randint(4, 30))]
    return json.dumps({"kind": kind, "id": ident, "events": events}, separators=(",", ":")).encode()


def build_demo_lake(root: Path, *, today: dt.date, seasons: int = 12, seed: int = 7, progress=None) -> DemoLakeSummary:
    """Write the lake under root/lake and its catalog, coverage and metrics files under root."""
    rng = random.Random(seed)
    root = Path(root).resolve()
    lake = root / "lake"
    summary = DemoLakeSummary(root=root, lake=lake)
    games = build_games(today, seasons, rng)
    end = current_season_end(today)
    summary.seasons = [season_label(y) for y in range(end - seasons + 1, end + 1)]
    summary.current_season = season_label(end)
    summary.games = len(games)
    played = [g for g in games if g.game_date <= today]
    summary.future_games = len(games) - len(played)
    planted = {"missing": 0, "empty": 0, "stale": 0, "unmatched": 0, "recent_unscraped": 0}
    writer = _Writer(lake, summary)
    # The old ESPN layout ("pbp/", "box_scores/") was used before the rename, three seasons back.
    rename_end_year = end - 3
    recent_cutoff = today - dt.timedelta(days=2)  # the last two days are not scraped yet

    def maybe_put(key: str, kind: str, ident: str, mtime: float, *, recent: bool) -> None:
        if recent:
            planted["recent_unscraped"] += 1
            return
        roll = rng.random()
        if roll < 0.012:
            planted["missing"] += 1
            return
        if roll < 0.016:
            planted["empty"] += 1
            writer.put(key, b"{}", mtime)  # below min_size_bytes: counts as empty
            return
        writer.put(key, _body(kind, ident, rng), mtime)

    for i, g in enumerate(played):
        if progress and i % 2000 == 0:
            progress(f"demo lake: game {i}/{len(played)}")
        mtime = _epoch(g.game_date + dt.timedelta(days=1))
        recent = g.game_date > recent_cutoff
        new_layout = g.season_end > rename_end_year
        pbp = f"espn_play_by_play/{g.espn_id}.json" if new_layout else f"pbp/{g.espn_id}.json"
        box = f"espn_box_scores/{g.espn_id}.json" if new_layout else f"box_scores/{g.espn_id}.json"
        team = f"espn_team_stats/{g.espn_id}.json" if new_layout else f"team_stats/{g.espn_id}.json"
        maybe_put(pbp, "pbp", g.espn_id, mtime, recent=recent)
        maybe_put(box, "box", g.espn_id, mtime, recent=recent)
        maybe_put(team, "team", g.espn_id, mtime, recent=recent)
        if g.season_end >= end - 4:
            # The NBA API scraper fell behind this season: 8 % of its games are missing.
            if g.season_end == end and not recent and rng.random() < 0.08:
                planted["missing"] += 1
            else:
                maybe_put(f"nba_api_comprehensive/boxscores_advanced/advanced_{g.nba_id}.json", "adv", g.nba_id, mtime, recent=recent)
        if g.season_end >= end - 3:
            maybe_put(f"basketball_reference/box_scores/{g.season_end}/{g.bref_id}.json", "bref", g.bref_id, mtime, recent=recent)

    for day in sorted({g.game_date for g in played}):
        season_end = current_season_end(day)
        key = f"espn_schedules/{day:%Y%m%d}.json" if season_end > rename_end_year else f"schedule/{day:%Y%m%d}.json"
        maybe_put(key, "schedule", day.isoformat(), _epoch(day), recent=day > recent_cutoff)

    for season_end in range(end - seasons + 1, end + 1):
        # Season files are rewritten nightly while the season runs; the current one stopped 20 days ago.
        if season_end == end:
            mtime = _epoch(today - dt.timedelta(days=20))
            planted["stale"] += 1
        else:
            mtime = _epoch(dt.date(season_end, 6, 30))
        writer.put(f"hoopr_parquet/play_by_play/nba_data_{season_end}.parquet", b"PAR1" + bytes(rng.randrange(256) for _ in range(4000)), mtime)

    yesterday = _epoch(today - dt.timedelta(days=1))
    for key in [
        f"espn_play_by_play/{played[-1].espn_id}.json.bak",
        f"ESPN_play_by_play/{played[0].espn_id}.json",
        "tmp/scratch_notes.txt",
        "espn_play_by_play/README",
        "nba_api_comprehensive/boxscores_advanced/advanced_0022600001.json.tmp",
    ]:
        writer.put(key, b"layout drift: matches no pattern\n", yesterday)
        planted["unmatched"] += 1
    summary.planted = planted

    summary.catalog_files = _write_catalogs(root, games)
    summary.coverage_file = _render(root, "coverage.yaml", lake, summary)
    summary.metrics_file = _render(root, "metrics.yaml", lake, summary)
    return summary


def _write_catalogs(root: Path, games: list[DemoGame]) -> dict[str, Path]:
    columns = {"espn": "espn_id", "nba_api": "nba_id", "basketball_reference": "bref_id"}
    paths = {}
    for source, attr in columns.items():
        path = root / f"catalog_{source}.csv"
        with path.open("w", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["game_id", "season", "game_date", "season_type"])
            for g in games:
                out.writerow([getattr(g, attr), g.season, g.game_date.isoformat(), "regular"])
        paths[source] = path
    return paths


TEMPLATES = Path(__file__).resolve().parent.parent / "fixtures" / "demo"


def _render(root: Path, name: str, lake: Path, summary: DemoLakeSummary) -> Path:
    """Fill the fixture template: the lake's location and the seasons depend on where and when."""
    text = (TEMPLATES / f"{name}.template").read_text()
    seasons = summary.seasons
    text = (
        text.replace("{{LAKE}}", lake.as_uri())
        .replace("{{SEASONS_ALL}}", json.dumps(seasons))
        .replace("{{SEASONS_LAST5}}", json.dumps(seasons[-5:]))
        .replace("{{SEASONS_LAST4}}", json.dumps(seasons[-4:]))
        .replace("{{SEASONS_RANGE}}", f"{int(seasons[0][:4]) + 1}-{int(seasons[-1][:4]) + 1}")
    )
    path = root / name
    path.write_text(text)
    return path
