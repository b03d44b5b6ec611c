#!/usr/bin/env python
"""The peer of `reconcile --use-cache` (issue 23 item 5): DuckDB reads a generated S3 Inventory report (CSV,
gzip) and finds its gaps with SQL, as a data engineer would write it without ADCE.

    .venv/bin/python bench/duckdb_gaps.py /work/bench-data/1000000      # → JSON: gaps by kind, priority, cells

Input: the folder of bench/make_inventory_report.py (coverage.yaml, catalog_<source>.csv, the manifest named
by expected.json; only its input fields are read). The steps, all in one in-memory DuckDB database:
1. read the report's data files (read_csv over the CSV.gz parts: key, size, last_modified);
2. the coverage's path patterns turned into anchored regexes ({game_id} → [^/]+, {date} → YYYYMMDD,
   {season_end} → YYYY) under each source's location, extract (data type, partition) from each key;
   overlapping locations: the longest location prefix wins (nba_api_comprehensive/ before the bucket root);
   a game-level key that names a season_end unlike the catalog's season of its game is misfiled (not present);
3. the newest object per partition (latest last_modified, then the larger);
4. the expected partitions from the catalogs (games played by as_of; their dates; seasons begun by as_of),
   anti-joined with the newest objects: missing, empty (< min_size_bytes), stale (the current season's
   season-level file older than freshness_days);
5. each cell's completeness and each gap's priority (SPEC §6).
Prints {"total", "by_kind", "by_priority", "cells": [[source, data_type, season, expected, present]], "seconds"}.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import sys
import time
import urllib.parse
from pathlib import Path

import duckdb
import yaml

CRITICAL_DAYS_DEFAULT = 7


def season_name(end: int) -> str:
    return f"{end - 1}-{end % 100:02d}"


def seasons_of(values) -> list[str]:
    """Coverage seasons: 2018 (its end year), "2017-18", "2018-2025" (a range of end years)."""
    out = []
    for v in values:
        s = str(v)
        if re.fullmatch(r"\d{4}", s):
            out.append(season_name(int(s)))
        elif re.fullmatch(r"\d{4}-\d{4}", s):
            a, b = map(int, s.split("-"))
            out.extend(season_name(e) for e in range(a, b + 1))
        else:
            out.append(s)
    return out


def current_season(day: dt.date) -> str:
    return season_name(day.year + 1 if day.month >= 10 else day.year)


PLACEHOLDER = {"game_id": r"([^/]+)", "date": r"(\d{8})", "season_end": r"(\d{4})", "year": r"(\d{4})"}


def pattern_regex(prefix: str, pattern: str) -> tuple[str, list[str], str]:
    """(anchored regex, placeholder names in group order, level) of one path pattern under a prefix."""
    names, out, pos = [], ["^", re.escape(prefix)], 0
    for m in re.finditer(r"\{(\w+)\}", pattern):
        out.append(re.escape(pattern[pos:m.start()]))
        out.append(PLACEHOLDER[m.group(1)])
        names.append("season_end" if m.group(1) == "year" else m.group(1))
        pos = m.end()
    out.append(re.escape(pattern[pos:]) + "$")
    level = "game" if "game_id" in names else "date" if "date" in names else "season" if "season_end" in names else "fixed"
    return "".join(out), names, level


def main(folder: str) -> dict:
    t0 = time.perf_counter()
    folder = Path(folder)
    inputs = json.loads((folder / "expected.json").read_text())
    cov = yaml.safe_load(Path(inputs["coverage"]).read_text())
    as_of = dt.date.fromisoformat(inputs["as_of"])
    conf = cov.get("reconciliation", {})
    critical_days = conf.get("critical_days", CRITICAL_DAYS_DEFAULT)
    manifest = urllib.parse.urlparse(inputs["manifest_uri"]).path
    root = manifest.split("/inventory/")[0]
    files = [f"{root}/{f['key']}" for f in json.loads(Path(manifest).read_text())["files"]]

    con = duckdb.connect()
    # 1. the report
    con.execute("CREATE TABLE inv AS SELECT key, size, last_modified FROM read_csv(?, header=false, columns="
                "{'bucket': 'VARCHAR', 'key': 'VARCHAR', 'size': 'BIGINT', 'last_modified': 'TIMESTAMPTZ', "
                "'etag': 'VARCHAR', 'storage_class': 'VARCHAR'})", [files])
    # the catalogs
    con.execute("CREATE TABLE catalog (source VARCHAR, game_id VARCHAR, season VARCHAR, game_date DATE)")
    for source, path in inputs["catalogs"].items():
        con.execute("INSERT INTO catalog SELECT ?, game_id, season, game_date FROM read_csv(?, header=true, "
                    "columns={'game_id': 'VARCHAR', 'season': 'VARCHAR', 'game_date': 'DATE', 'season_type': 'VARCHAR'})",
                    [source, path])

    # 2. (data type, partition) of each key, per pattern; a key goes to the longest location that matches it
    types, selects = [], []
    for source, s in cov["expected_coverage"].items():
        bucket_prefix = s["location"].split("://", 1)[1]
        prefix = bucket_prefix.split("/", 1)[1] if "/" in bucket_prefix else ""
        for name, d in s["data_types"].items():
            level = None
            for pattern in d["path_patterns"]:
                regex, names, level = pattern_regex(prefix, pattern)
                part = {"game": "game_id", "date": "date", "season": "season_end"}.get(level)
                part_sql = f"regexp_extract(key, '{regex}', {names.index(part) + 1})" if part else "''"
                end_sql = (f"regexp_extract(key, '{regex}', {names.index('season_end') + 1})"
                           if level == "game" and "season_end" in names else "NULL")
                selects.append(f"SELECT '{source}' AS source, '{name}' AS data_type, {len(prefix)} AS depth, key, "
                               f"{part_sql} AS part, {end_sql} AS season_end, size, last_modified "
                               f"FROM inv WHERE starts_with(key, '{prefix + pattern.split('{')[0]}') "
                               f"AND regexp_full_match(key, '{regex}')")
            types.append((source, name, level, d, seasons_of(d.get("seasons") or s["seasons"])))
    con.execute("CREATE TABLE matched AS SELECT * FROM (" + " UNION ALL ".join(selects) + ") "
                "QUALIFY depth = max(depth) OVER (PARTITION BY key)")
    # a game filed under another season than the catalog's is misfiled: not present
    con.execute("""DELETE FROM matched m USING catalog c
                   WHERE m.season_end IS NOT NULL AND c.source = m.source AND c.game_id = m.part
                     AND c.season <> (CAST(m.season_end AS INTEGER) - 1)::VARCHAR || '-' || right(m.season_end, 2)""")
    # 3. the newest object per partition
    con.execute("CREATE TABLE newest AS SELECT source, data_type, part, max({'lm': last_modified, 'size': size}) AS o "
                "FROM matched GROUP BY ALL")

    # 4. expected partitions, anti-joined; 5. completeness and priority
    current = current_season(as_of)
    previous = season_name(int(current[:4]))
    con.execute("CREATE TABLE expected (source VARCHAR, data_type VARCHAR, season VARCHAR, day DATE, part VARCHAR)")
    for source, name, level, d, seasons in types:
        args = [source, name, source, seasons, as_of]
        if level == "game":
            con.execute("INSERT INTO expected SELECT ?, ?, season, game_date, game_id FROM catalog "
                        "WHERE source = ? AND list_contains(?, season) AND game_date <= ?", args)
        elif level == "date":
            con.execute("INSERT INTO expected SELECT ?, ?, min(season), game_date, strftime(game_date, '%Y%m%d') "
                        "FROM catalog WHERE source = ? AND list_contains(?, season) AND game_date <= ? "
                        "GROUP BY game_date", args)
        elif level == "season":  # begun by as_of (its first game, or 1 October); keyed by its end year
            con.execute("INSERT INTO expected SELECT ?, ?, s, NULL, CAST(CAST(left(s, 4) AS INTEGER) + 1 AS VARCHAR) FROM unnest(?) t(s) "
                        "LEFT JOIN (SELECT season, min(game_date) AS first FROM catalog WHERE source = ? GROUP BY season) c "
                        "ON c.season = s WHERE coalesce(c.first, make_date(CAST(left(s, 4) AS INTEGER), 10, 1)) <= ?",
                        [source, name, seasons, source, as_of])
    con.execute("CREATE TABLE rules (source VARCHAR, data_type VARCHAR, level VARCHAR, required BOOLEAN, "
                "freshness_days INTEGER, threshold DOUBLE, min_size BIGINT)")
    con.executemany("INSERT INTO rules VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [(src, name, level, bool(d.get("required", True)), d.get("freshness_days", 7),
                      d.get("completeness_threshold", 0.95), d.get("min_size_bytes", 1)) for src, name, level, d, _ in types])
    con.execute("""
        CREATE TABLE judged AS
        SELECT e.source, e.data_type, e.season, e.day, r.level, r.required, r.threshold,
               CASE WHEN n.o IS NULL THEN 'missing'
                    WHEN n.o.size < r.min_size THEN 'empty'
                    WHEN r.level = 'season' AND e.season = $current
                         AND n.o.lm < CAST($as_of AS DATE) - r.freshness_days * INTERVAL 1 DAY THEN 'stale' END AS kind
        FROM expected e JOIN rules r USING (source, data_type)
        LEFT JOIN newest n ON n.source = e.source AND n.data_type = e.data_type AND n.part = e.part""",
                {"current": current, "as_of": as_of})
    cells = con.execute("""SELECT source, data_type, season, count(*), count(*) - count(kind) FROM judged
                           GROUP BY ALL""").fetchall()
    gaps = con.execute("""
        WITH c AS (SELECT source, data_type, season, (count(*) - count(kind)) / count(*) AS completeness
                   FROM judged GROUP BY ALL)
        SELECT kind, CASE WHEN NOT required THEN 'LOW'
                          WHEN kind = 'stale' THEN 'CRITICAL'
                          WHEN day > CAST($as_of AS DATE) - $critical AND day <= $as_of THEN 'CRITICAL'
                          WHEN season = $current AND completeness < threshold THEN 'HIGH'
                          WHEN season IN ($current, $previous) THEN 'MEDIUM'
                          ELSE 'LOW' END AS priority, count(*)
        FROM judged JOIN c USING (source, data_type, season) WHERE kind IS NOT NULL GROUP BY ALL""",
                       {"as_of": as_of, "critical": critical_days, "current": current, "previous": previous}).fetchall()
    # every covered season is a cell, also one with nothing expected yet
    seen = {(s, n, season) for s, n, season, *_ in cells}
    cells += [(src, name, season, 0, 0) for src, name, _level, _d, seasons in types for season in seasons
              if (src, name, season) not in seen]
    by_kind, by_priority = {}, {}
    for kind, priority, n in gaps:
        by_kind[kind] = by_kind.get(kind, 0) + n
        by_priority[priority] = by_priority.get(priority, 0) + n
    return {"total": sum(by_kind.values()), "by_kind": dict(sorted(by_kind.items())),
            "by_priority": dict(sorted(by_priority.items())), "cells": sorted(cells),
            "objects": con.execute("SELECT count(*) FROM inv").fetchone()[0],
            "seconds": round(time.perf_counter() - t0, 2)}


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1])))
