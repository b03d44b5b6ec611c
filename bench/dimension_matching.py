#!/usr/bin/env python
"""Matching keys of §10 dimension data types a column at a time (issue 17): ColumnMatcher against bare
pyarrow doing only the extraction (its floor), and against the reference PartitionMatcher (a key at a time).

    .venv/bin/python bench/dimension_matching.py [--keys 300000] [--repeat 5]

Keys: `espn_team_box/{game_id}/{side}.json` (game level + a closed dimension), `h2h/{player1}_{player2}.json`
(two dimensions in one segment) and plain `pbp/{game_id}.json`, a third each. Every timing is the best of
--repeat; the ratios are of the same run. The answers are checked equal first (exit 1 otherwise).
"""
from __future__ import annotations

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402

from reconciliation.domain.patterns import MatcherSpec, PartitionMatcher  # noqa: E402
from reconciliation.engine.columnar import ColumnMatcher  # noqa: E402

S3 = "s3://lake"
SPECS = [MatcherSpec(1, S3, "", ("espn_team_box/{game_id}/{side}.json",)),
         MatcherSpec(2, S3, "", ("h2h/{player1}_{player2}.json",)),
         MatcherSpec(3, S3, "", ("pbp/{game_id}.json",))]


def keys(n: int) -> list[str]:
    third = n // 3
    return ([f"espn_team_box/{401_000_000 + i // 2}/{('home', 'away')[i % 2]}.json" for i in range(third)]
            + [f"h2h/player{i}_rival_{i % 97}.json" for i in range(third)]
            + [f"pbp/{401_000_000 + i}.json" for i in range(n - 2 * third)])


def bare(column: pa.Array) -> pa.Array:
    """The floor: one extract_regex per pattern and a join, no dispatch, no order, no validation."""
    out = []
    for regex in (r"^espn_team_box/(?P<g>[^/]+)/(?P<d0>[^/]+)\.json\z", r"^h2h/(?P<d0>[^/]+?)_(?P<d1>[^/]+?)\.json\z"):
        parts = pc.extract_regex(column.filter(pc.match_substring_regex(column, regex)), regex)
        fields = [pc.struct_field(parts, i) for i in range(parts.type.num_fields)]
        out.append(pc.binary_join_element_wise(*fields, "/"))
    return pa.concat_arrays(out)


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keys", type=int, default=300_000)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    texts = keys(args.keys)
    column = pa.array(texts, pa.string())
    matcher = PartitionMatcher(SPECS)
    columns = ColumnMatcher(matcher)
    ids, parts = columns.match(S3, column)
    reference = [matcher.match(S3, k) for k in texts]
    if ids.to_pylist() != [m.data_type_id for m in reference] or parts.to_pylist() != [m.partition for m in reference]:
        print("ColumnMatcher and PartitionMatcher disagree", file=sys.stderr)
        return 1
    column_s = best(lambda: columns.match(S3, column), args.repeat)
    bare_s = best(lambda: bare(column), args.repeat)
    python_s = best(lambda: [matcher.match(S3, k) for k in texts], max(1, args.repeat // 2))
    print(f"{args.keys:,} keys (2/3 of them with dimensions), best of {args.repeat}, cpus {os.cpu_count()}, "
          f"load {os.getloadavg()[0]:.2f}")
    print(f"ColumnMatcher.match        {column_s:.3f} s  {args.keys / column_s:,.0f} keys/s")
    print(f"bare pyarrow (floor)       {bare_s:.3f} s  {args.keys / bare_s:,.0f} keys/s   ColumnMatcher / bare = {column_s / bare_s:.2f}")
    print(f"PartitionMatcher.match     {python_s:.3f} s  {args.keys / python_s:,.0f} keys/s   PartitionMatcher / ColumnMatcher = {python_s / column_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
