#!/usr/bin/env python
"""Generate a deterministic S3 Inventory report (manifest.json + gzipped CSV parts) of ~N objects over
4 sources x 8 seasons with KNOWN gaps, plus the matching coverage YAML, per-source catalog CSVs and a
JSON of the expected gaps (counts by kind, priority and cell) computed by the SPEC §5–§6 rules.

    python bench/make_inventory_report.py OUT_DIR [--objects 1000000] [--seed 42] [--as-of 2025-01-15] [--verify]
                                          [--format csv|csv-versioned|parquet|orc] [--dimensions | --dimension-heavy]

--format csv-versioned writes a versioned bucket's report (VersionId, IsLatest, IsDeleteMarker, every field
quoted as AWS does) with the same objects plus rows that are not objects: a delete marker (latest, empty
Size) for every 9th object's `deleted/` twin and for every missing game's key (with its older, non-current
version), and a non-current older version of every 20th object — about 10 % of the rows are delete
markers. A reader that took any of them for an object would change the expected unmatched count or gaps.
parquet / orc write the same rows as csv-versioned in those formats (keys not URL-encoded).

OUT_DIR gets:
    dest/inventory/nba-sim-raw-data-lake/daily/<as-of>T00-00Z/manifest.json   (+ dest/.../data/*.csv.gz)
    coverage.yaml, catalog_<source>.csv, expected.json  (expected.json names the manifest URI)
Key layouts are those of shared/reference/data_inventory.example.yaml (old and new layouts).
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import random
import sys
import time
import zlib
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.inventory_writer import write_columnar_inventory_report, write_csv_inventory_report  # noqa: E402

UTC = dt.timezone.utc
BUCKET = "nba-sim-raw-data-lake"
SEASON_ENDS = list(range(2018, 2026))  # 2017-18 … 2024-25
CRITICAL_DAYS = 7

# (source, location prefix, data type, required, freshness_days, threshold, min_size, level, patterns)
TYPES = [
    ("espn", "", "play_by_play", True, 7, 0.95, 100, "game",
     ["espn_play_by_play/{game_id}.json", "pbp/{game_id}.json"]),
    ("espn", "", "box_scores", True, 7, 0.95, 100, "game",
     ["espn_box_scores/{game_id}.json", "box_scores/{game_id}.json"]),
    ("espn", "", "team_stats", False, 30, 0.80, 1, "game",
     ["espn_team_stats/{game_id}.json", "team_stats/{game_id}.json"]),
    ("espn", "", "schedule", True, 7, 0.99, 1, "date", ["espn_schedules/{date}.json", "schedule/{date}.json"]),
    ("nba_api", "nba_api_comprehensive/", "boxscores_advanced", True, 14, 0.95, 1, "game",
     ["boxscores_advanced/advanced_{game_id}.json"]),
    ("hoopr", "hoopr_parquet/", "play_by_play", True, 7, 1.0, 1, "season",
     ["play_by_play/nba_data_{season_end}.parquet"]),
    ("basketball_reference", "basketball_reference/", "box_scores", False, 30, 0.80, 1, "game",
     ["box_scores/{season_end}/{game_id}.json"]),
]
SOURCES = {"espn": ("espn_async_scraper", ""), "nba_api": ("nba_api_async_scraper", "nba_api_comprehensive/"),
           "hoopr": ("hoopr_incremental_scraper", "hoopr_parquet/"),
           "basketball_reference": ("basketball_reference_async_scraper", "basketball_reference/")}
GAME_TYPES_PER_GAME = sum(1 for t in TYPES if t[7] == "game")
# --dimensions (SPEC §10): a closed dimension at game level (two objects per game) and an open season-level
# data type judged by its expected_per_season (a `short` gap per season).
DIMENSION_TYPES = [
    ("espn", "", "team_box", True, 7, 0.95, 1, "game", ["espn_team_box/{game_id}/{side}.json"]),
    ("nba_api", "nba_api_comprehensive/", "player_tracking", True, 7, 0.95, 1, "open",
     ["player_tracking/{season}/{player_id}.json"]),
]
SIDES = ("home", "away")
# --dimension-heavy (issue 23, reconcile of §10 types in the database): also a closed dimension of ten values
# per game, so that two thirds of the objects lie in dimension data types
HEAVY_TYPES = [
    ("espn", "", "player_box", False, 7, 0.9, 1, "game", ["espn_player_box/{game_id}/{slot}.json"]),
]
SLOTS = tuple(f"p{n:02d}" for n in range(1, 11))
DIMENSION_VALUES = {"team_box": ("side", SIDES), "player_box": ("slot", SLOTS)}  # data type -> (name, values)
PLAYERS_EXPECTED = 500  # expected_per_season of player_tracking; 450 stored a season, 480 in the current one


def season_label(end: int) -> str:
    return f"{end - 1}-{end % 100:02d}"


def render(pattern: str, *, game_id=None, date=None, season_end=None) -> str:
    return pattern.format(game_id=game_id, date=date.strftime("%Y%m%d") if date else None,
                          season=season_label(season_end) if season_end else None,
                          season_start=season_end - 1 if season_end else None, season_end=season_end)


def versioned(rows, deleted_keys):
    """The rows of a versioned bucket's report (see the module docstring): (key, size, lm, etag, is_latest,
    is_delete_marker, version_id). `deleted_keys` collects keys whose objects were deleted meanwhile."""
    for i, (key, size, when, etag) in enumerate(rows):
        while deleted_keys:  # a missing game: its delete marker, then the version it hides
            gone = deleted_keys.pop()
            yield (gone, 0, when, "", True, True, "dm")
            yield (gone, 1234, when - dt.timedelta(days=3), "old", False, False, "v0")
        if i % 20 == 0:
            yield (key, size, when, etag, True, False, "v2")
            yield (key, max(0, size - 7), when - dt.timedelta(days=1), "prev", False, False, "v1")
        else:
            yield (key, size, when, etag, True, False, "v1")
        if i % 9 == 0:
            yield ("deleted/" + key, 0, when, "", True, True, "dm")


def build(out: str, n_objects: int, seed: int, as_of: dt.date, fmt: str = "csv", dimensions: bool = False,
          heavy: bool = False) -> dict:
    rng = random.Random(seed)
    types = TYPES + (DIMENSION_TYPES if dimensions or heavy else []) + (HEAVY_TYPES if heavy else [])
    per_game = GAME_TYPES_PER_GAME + sum(len(DIMENSION_VALUES[t[2]][1]) for t in types if t[2] in DIMENSION_VALUES)
    current_end = as_of.year + 1 if as_of.month >= 7 else as_of.year
    # Games after as_of store nothing: size the seasons so that ~n_objects are actually stored.
    cur_start, cur_stop = dt.date(current_end - 1, 10, 22), dt.date(current_end, 4, 13)
    played = min(1.0, max(0.0, (as_of - cur_start).days / (cur_stop - cur_start).days))
    seasons_played = sum(1 for e in SEASON_ENDS if e < current_end) + (played if current_end in SEASON_ENDS else 0)
    games_per_season = max(20, round(n_objects / (seasons_played * per_game)))
    as_of_midnight = dt.datetime(as_of.year, as_of.month, as_of.day, tzinfo=UTC)

    # --- catalog: the same games for every source (game ids unique over seasons)
    games: dict[int, list[tuple[int, dt.date]]] = {}
    for s_idx, end in enumerate(SEASON_ENDS):
        start = dt.date(end - 1, 10, 22)
        days = (dt.date(end, 4, 13) - start).days
        games[end] = [(4_000_000_000 + s_idx * 1_000_000 + i, start + dt.timedelta(days=i * days // games_per_season))
                      for i in range(games_per_season)]

    cells = {}  # (source, type, season) -> {"expected", "gaps": [(kind, date|None)]}
    for t in types:
        for end in SEASON_ENDS:
            cells[(t[0], t[2], season_label(end))] = {"expected": 0, "gaps": []}
    unmatched = 0
    object_count = 0

    def obj(key, size, when):
        nonlocal object_count
        object_count += 1
        return (key, size, when, f"{zlib.crc32(key.encode()):08x}{size:08x}")

    deleted_keys: list[str] = []

    def rows():
        nonlocal unmatched
        for end in SEASON_ENDS:
            label = season_label(end)
            for source, loc, name, required, fresh, thr, min_size, level, patterns in types:
                cell = cells[(source, name, label)]
                if level == "open":  # found, never listed: short by what is not stored
                    stored = 480 if end == current_end else 450
                    cell["expected"], cell["present"] = PLAYERS_EXPECTED, stored
                    cell["gaps"].append(("short", None))
                    for player in range(stored):
                        yield obj(loc + f"player_tracking/{label}/{1_000 + player}.json", 4096,
                                  dt.datetime(end - 1, 12, 1, tzinfo=UTC))
                    continue
                if level == "season":
                    cell["expected"] += 1  # every season has started by as_of (first game before it)
                    key = loc + render(patterns[0], season_end=end)
                    if end == 2020:  # 2019-20 file never written
                        cell["gaps"].append(("missing", None))
                        continue
                    if end == current_end - 1:  # previous season's file is empty
                        cell["gaps"].append(("empty", None))
                        yield obj(key, 0, dt.datetime(end, 7, 1, tzinfo=UTC))
                        continue
                    if end == current_end:  # current season's file was last written 20 days ago: stale
                        when = as_of_midnight - dt.timedelta(days=20)
                        cell["gaps"].append(("stale", None))
                        yield obj(key, 5_000_000, when)
                        continue
                    yield obj(key, 5_000_000 + end, dt.datetime(end, 7, 1, tzinfo=UTC))
                    continue
                if level == "date":
                    dates = sorted({d for _g, d in games[end] if d <= as_of})
                    for d in dates:
                        cell["expected"] += 1
                        r = rng.random()
                        if r < 0.01:
                            cell["gaps"].append(("missing", d))
                            continue
                        when = dt.datetime(d.year, d.month, d.day, 6, tzinfo=UTC)
                        pattern = patterns[1] if r < 0.2 else patterns[0]  # some still in the old layout
                        yield obj(loc + render(pattern, date=d), 2048, when)
                    continue
                # game level
                p_missing = 0.10 if (name == "boxscores_advanced" and end == current_end) else 0.004
                for game_id, d in games[end]:
                    if d > as_of:
                        continue  # future games: not expected, nothing stored
                    cell["expected"] += 1
                    when = dt.datetime(d.year, d.month, d.day, tzinfo=UTC) + dt.timedelta(
                        days=1, seconds=rng.randrange(86_400))
                    if name in DIMENSION_VALUES:  # one object per value (partition); the last one missing at times
                        values = DIMENSION_VALUES[name][1]
                        cell["expected"] += len(values) - 1
                        folder = patterns[0].split("/", 1)[0]
                        for value in values[:-1]:
                            yield obj(loc + f"{folder}/{game_id}/{value}.json", 2048, when)
                        if rng.random() < 0.004:
                            cell["gaps"].append(("missing", d))
                        else:
                            yield obj(loc + f"{folder}/{game_id}/{values[-1]}.json", 2048, when)
                        continue
                    new_key = loc + render(patterns[0], game_id=game_id, season_end=end)
                    r = rng.random()
                    recent = as_of - dt.timedelta(days=CRITICAL_DAYS) < d
                    if r < p_missing or (recent and r < 0.05):
                        cell["gaps"].append(("missing", d))
                        deleted_keys.append(new_key)  # versioned formats: a delete marker hides it
                        continue
                    r2 = rng.random()
                    if r2 < 0.002:  # empty (below min_size_bytes)
                        cell["gaps"].append(("empty", d))
                        yield obj(new_key, min_size - 1, when)
                        continue
                    size = min_size + 1000 + rng.randrange(50_000)
                    if len(patterns) > 1 and r2 < 0.012:
                        old_key = loc + render(patterns[1], game_id=game_id, season_end=end)
                        if r2 < 0.004:
                            # both layouts; the OLD one is newer and empty: newest decides -> empty gap
                            cell["gaps"].append(("empty", d))
                            yield obj(new_key, size, when)
                            yield obj(old_key, max(0, min_size - 1), when + dt.timedelta(hours=1))
                        elif r2 < 0.008:
                            # both layouts; the old one is older and empty: no gap
                            yield obj(old_key, 0, when - dt.timedelta(days=30))
                            yield obj(new_key, size, when)
                        else:
                            yield obj(old_key, size, when)  # only the old layout: present
                        continue
                    yield obj(new_key, size, when)
                    if name == "play_by_play" and (r2 > 0.999 or game_id % 1_000_000 == 0):  # layout drift
                        unmatched += 2
                        yield obj(new_key + ".bak", size, when)
                        yield obj("tmp/" + new_key.rsplit("/", 1)[-1] + ".part", size, when)

    dest = os.path.join(out, "dest")
    stamp = f"{as_of.isoformat()}T00-00Z"
    if fmt == "csv":
        manifest_uri = write_csv_inventory_report(dest, source_bucket=BUCKET, rows=rows(), stamp=stamp,
                                                  rows_per_file=250_000)
    elif fmt == "csv-versioned":
        manifest_uri = write_csv_inventory_report(dest, source_bucket=BUCKET, rows=versioned(rows(), deleted_keys),
                                                  stamp=stamp, rows_per_file=250_000, with_version_columns=True,
                                                  quote_all=True)
    else:
        manifest_uri = write_columnar_inventory_report(dest, source_bucket=BUCKET, rows=versioned(rows(), deleted_keys),
                                                       fmt={"parquet": "Parquet", "orc": "ORC"}[fmt], stamp=stamp,
                                                       rows_per_file=250_000, with_version_columns=True)

    # --- expected gaps (SPEC §5-§6)
    by_kind, by_priority, by_cell = Counter(), Counter(), []
    spec = {(t[0], t[2]): t for t in types}
    for (source, name, label), cell in sorted(cells.items()):
        t = spec[(source, name)]
        required, thr = t[3], t[5]
        end = int(label[:4]) + 1
        expected, n_gaps = cell["expected"], len(cell["gaps"])
        present = cell.get("present", expected - n_gaps)  # an open type: what is stored, not what is missing
        completeness = 1.0 if expected == 0 else present / expected
        kinds = Counter(k for k, _d in cell["gaps"])
        prios = Counter()
        for kind, d in cell["gaps"]:
            if required and ((d is not None and as_of - dt.timedelta(days=CRITICAL_DAYS) < d <= as_of)
                             or kind == "stale"):
                p = "CRITICAL"
            elif required and end == current_end and completeness < thr:
                p = "HIGH"
            elif required and end in (current_end, current_end - 1):
                p = "MEDIUM"
            else:
                p = "LOW"
            prios[p] += 1
        by_kind.update(kinds)
        by_priority.update(prios)
        by_cell.append({"source": source, "data_type": name, "season": label, "expected": expected,
                        "present": present, "completeness": round(completeness, 6),
                        "gaps": dict(kinds), "priorities": dict(prios)})

    # --- coverage YAML and catalogs
    with open(os.path.join(out, "coverage.yaml"), "w") as fh:
        fh.write("# generated by bench/make_inventory_report.py\nexpected_coverage:\n")
        seasons_field = {
            "espn": json.dumps([season_label(e) for e in SEASON_ENDS]),
            "nba_api": json.dumps([season_label(e) for e in SEASON_ENDS]),
            "hoopr": f'["{SEASON_ENDS[0]}-{SEASON_ENDS[-1]}"]',
            "basketball_reference": json.dumps(SEASON_ENDS),
        }
        for source, (scraper, loc) in SOURCES.items():
            fh.write(f"  {source}:\n    scraper: {scraper}\n    location: s3://{BUCKET}/{loc}\n"
                     f"    seasons: {seasons_field[source]}\n    data_types:\n")
            for t in types:
                if t[0] != source:
                    continue
                fh.write(f"      {t[2]}:\n        required: {'true' if t[3] else 'false'}\n"
                         f"        freshness_days: {t[4]}\n        completeness_threshold: {t[5]}\n"
                         f"        min_size_bytes: {t[6]}\n        path_patterns: {json.dumps(t[8])}\n")
                if t[2] in DIMENSION_VALUES:
                    dim, values = DIMENSION_VALUES[t[2]]
                    fh.write(f"        dimensions: {{{dim}: {json.dumps(list(values))}}}\n")
                if t[7] == "open":
                    fh.write(f"        expected_per_season: {PLAYERS_EXPECTED}\n")
        fh.write(f"reconciliation:\n  critical_days: {CRITICAL_DAYS}\n  max_items_per_task: 100\n")
    for source in SOURCES:
        with open(os.path.join(out, f"catalog_{source}.csv"), "w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["game_id", "season", "game_date", "season_type"])
            for end in SEASON_ENDS:
                for game_id, d in games[end]:
                    w.writerow([game_id, season_label(end), d.isoformat(), "regular"])

    expected = {
        "manifest_uri": manifest_uri,
        "coverage": os.path.join(os.path.abspath(out), "coverage.yaml"),
        "catalogs": {s: os.path.join(os.path.abspath(out), f"catalog_{s}.csv") for s in SOURCES},
        "as_of": as_of.isoformat(), "seed": seed, "objects": object_count, "unmatched": unmatched,
        "games_per_season": games_per_season,
        "gaps": {"total": sum(by_kind.values()), "by_kind": dict(sorted(by_kind.items())),
                 "by_priority": dict(sorted(by_priority.items()))},
        "cells": by_cell,
    }
    with open(os.path.join(out, "expected.json"), "w") as fh:
        json.dump(expected, fh, indent=1)
    return expected


def verify(out: str) -> dict:
    """Recompute the gaps from the written files alone (report read back through
    reconciliation.storage, coverage YAML, catalogs), independently of build(): a self-check of the
    generator, the writer and the reader. Returns the comparison; "match" must be true."""
    import re

    import yaml

    from reconciliation.storage import read_inventory_report

    exp = json.load(open(os.path.join(out, "expected.json")))
    cov = yaml.safe_load(open(exp["coverage"]))
    as_of = dt.date.fromisoformat(exp["as_of"])
    crit = cov["reconciliation"]["critical_days"]
    cur_end = as_of.year + 1 if as_of.month >= 7 else as_of.year

    def seasons(values):
        res = []
        for v in values:
            if isinstance(v, int):
                res.append(v)
            elif re.fullmatch(r"\d{4}-\d{4}", v):
                a, b = map(int, v.split("-"))
                res += range(a, b + 1)
            else:
                res.append(int(v[:4]) + 1)
        return res

    specs = []
    for src, sd in cov["expected_coverage"].items():
        prefix = sd["location"].split("/", 3)[3]
        for name, t in sd["data_types"].items():
            regs = []
            for p in t["path_patterns"]:
                rx = re.escape(prefix + p)
                for ph, r in (("game_id", r"(?P<part>[^/]+)"), ("date", r"(?P<part>\d{8})"),
                              ("season_end", r"(?P<season_end>\d{4})")):
                    rx = rx.replace(re.escape("{" + ph + "}"), r)
                regs.append(re.compile(rx + r"\Z"))
            first = t["path_patterns"][0]
            level = "game" if "{game_id}" in first else "date" if "{date}" in first else "season"
            specs.append((src, name, t, regs, level, seasons(sd["seasons"])))
    # pure read throughput of the three row interfaces (no matching)
    report = read_inventory_report(exp["manifest_uri"])
    timings = {}
    for label, fn in (("iter_batches", lambda: sum(len(b) for b in report.iter_batches())),
                      ("iter_rows", lambda: sum(1 for _ in report.iter_rows())),
                      ("objects", lambda: sum(1 for _ in report.objects))):
        t0 = time.perf_counter()
        n = fn()
        took = time.perf_counter() - t0
        timings[label] = {"s": round(took, 2), "rows_per_s": int(n / took) if took else None}
    have, unmatched = {}, 0
    t0 = time.perf_counter()
    rows = 0
    for key, size, lm, _etag in read_inventory_report(exp["manifest_uri"]).iter_rows():
        rows += 1
        hit = False
        for i, (_src, _name, _t, regs, level, _s) in enumerate(specs):
            for rg in regs:
                m = rg.match(key)
                if m:
                    hit = True
                    part = m.group("season_end" if level == "season" else "part")
                    old = have.get((i, part))
                    if old is None or (lm, size) > (old[1], old[0]):
                        have[(i, part)] = (size, lm)
        unmatched += not hit
    read_s = time.perf_counter() - t0
    catalog = defaultdict(list)
    for src in cov["expected_coverage"]:
        with open(exp["catalogs"][src], newline="") as fh:
            for r in csv.DictReader(fh):
                catalog[src].append((r["game_id"], int(r["season"][:4]) + 1, dt.date.fromisoformat(r["game_date"])))
    kinds, prios = Counter(), Counter()
    for i, (src, _name, t, _regs, level, seas) in enumerate(specs):
        for end in seas:
            games = [(g, d) for g, e, d in catalog[src] if e == end and d <= as_of]
            if level == "game":
                parts = games
            elif level == "date":
                parts = [(d.strftime("%Y%m%d"), d) for d in sorted({d for _g, d in games})]
            else:
                parts = [(str(end), None)]
            gaps = []
            for p, d in parts:
                o = have.get((i, p))
                if o is None:
                    gaps.append(("missing", d))
                elif o[0] < t.get("min_size_bytes", 1):
                    gaps.append(("empty", d))
                elif level == "season" and end == cur_end and o[1] < dt.datetime.combine(
                        as_of - dt.timedelta(days=t["freshness_days"]), dt.time(), UTC):
                    gaps.append(("stale", d))
            comp = 1.0 if not parts else (len(parts) - len(gaps)) / len(parts)
            req = t.get("required", True)
            for kind, d in gaps:
                if req and ((d and as_of - dt.timedelta(days=crit) < d <= as_of) or kind == "stale"):
                    p = "CRITICAL"
                elif req and end == cur_end and comp < t["completeness_threshold"]:
                    p = "HIGH"
                elif req and end in (cur_end, cur_end - 1):
                    p = "MEDIUM"
                else:
                    p = "LOW"
                kinds[kind] += 1
                prios[p] += 1
    got = {"objects": rows, "unmatched": unmatched, "by_kind": dict(sorted(kinds.items())),
           "by_priority": dict(sorted(prios.items()))}
    want = {"objects": exp["objects"], "unmatched": exp["unmatched"], "by_kind": exp["gaps"]["by_kind"],
            "by_priority": exp["gaps"]["by_priority"]}
    return {"match": got == want, "recomputed": got, "expected": want, "read_and_match_s": round(read_s, 2),
            "read_only": timings}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out", help="output folder (created)")
    ap.add_argument("--objects", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--as-of", default="2025-01-15", type=dt.date.fromisoformat)
    ap.add_argument("--format", default="csv", choices=["csv", "csv-versioned", "parquet", "orc"],
                    help="report format (csv-versioned/parquet/orc: a versioned bucket's report, ~10%% delete markers)")
    ap.add_argument("--dimensions", action="store_true",
                    help="add SPEC §10 data types: espn.team_box ({game_id}/{side}, closed) and "
                         "nba_api.player_tracking ({season}/{player_id}, open, expected_per_season)")
    ap.add_argument("--dimension-heavy", action="store_true",
                    help="--dimensions and espn.player_box ({game_id}/{slot}, ten closed values): two thirds of "
                         "the objects in dimension data types")
    ap.add_argument("--verify", action="store_true",
                    help="then re-read the report and recompute the gaps independently (exit 1 on mismatch)")
    args = ap.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.perf_counter()
    if args.verify and (args.dimensions or args.dimension_heavy):
        ap.error("--verify re-reads §5 placeholders only: not with --dimensions")
    exp = build(args.out, args.objects, args.seed, args.as_of, args.format, args.dimensions, args.dimension_heavy)
    print(json.dumps({k: exp[k] for k in ("manifest_uri", "objects", "unmatched", "gaps")}, indent=1))
    print(f"generated in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    if args.verify:
        check = verify(args.out)
        print(json.dumps(check, indent=1))
        return 0 if check["match"] else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
