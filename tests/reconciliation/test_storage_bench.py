"""The storage benchmarks' generators stay correct (small sizes; the real runs are in bench/)."""
import datetime as dt
import importlib.util
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _load(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_report_has_exactly_the_announced_gaps(tmp_path):
    gen = _load("make_inventory_report")
    expected = gen.build(str(tmp_path), 6000, 7, dt.date(2025, 1, 15))
    check = gen.verify(str(tmp_path))
    assert check["match"], check
    assert expected["gaps"]["by_kind"].keys() == {"missing", "empty", "stale"}
    assert set(expected["gaps"]["by_priority"]) == {"CRITICAL", "HIGH", "MEDIUM", "LOW"}
    assert expected["unmatched"] > 0
    for name in ("coverage.yaml", "catalog_espn.csv", "catalog_hoopr.csv", "expected.json"):
        assert (tmp_path / name).exists()
    # deterministic: same seed, same report
    again = gen.build(str(tmp_path / "again"), 6000, 7, dt.date(2025, 1, 15))
    assert again["gaps"] == expected["gaps"] and again["objects"] == expected["objects"]


def test_scan_listing_bench_smoke(capsys):
    bench = _load("scan_listing")
    assert bench.main(["--objects", "300", "--reps", "1"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["objects"] == 300
    assert result["list_calls"]["bare_paginator"] == 1
    assert result["list_calls"]["list_objects"] == 1 + 7  # delimiter call + one per top-level prefix
