"""Issue 15 items 4 and 6: hostile YAML is refused before parsing, by both importers, with exit 2 and
one line, and nothing changes. The files come from bench/yaml_refusals.py (which times them)."""
import importlib.util
import io
import pathlib

import pytest
import yaml
from django.core.management import CommandError, call_command

from adce_site.yaml_limits import MAX_ALIAS_NODES, MAX_BYTES, MAX_DEPTH, yaml_limits_problem

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("yaml_refusals", ROOT / "bench" / "yaml_refusals.py")
hostile = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hostile)

REFERENCE = pathlib.Path("/work/shared/reference")


def _state():
    from metrics.models import MetricDefinition, MetricsSettings
    from reconciliation.models import DataType, ReconciliationSettings, Source

    return [list(m.objects.order_by("pk").values()) for m in
            (MetricDefinition, MetricsSettings, Source, DataType, ReconciliationSettings)]


CASES = [
    ("big-1.8MB", lambda: hostile.big(1.8), "file too large: 1,800,0"),
    ("big-18MB", lambda: hostile.big(18), "file too large: 18,000,0"),
    ("deep-flow-5000", lambda: hostile.deep_flow(5000), "nested too deeply"),
    ("deep-flow-3000", lambda: hostile.deep_flow(3000), "nested too deeply"),
    ("deep-flow-500", lambda: hostile.deep_flow(500), "nested too deeply: more than 64 levels at line 1"),
    ("deep-block-1000", lambda: hostile.deep_block(1000), "nested too deeply: more than 64 levels at line 65"),
    ("deep-dashes-5000", lambda: hostile.deep_dashes(5000), "nested too deeply"),
    ("alias-bomb", hostile.alias_bomb, "aliases expand to more than 100,000 nodes"),
]


@pytest.mark.django_db
@pytest.mark.parametrize("importer", ["import_metrics", "import_coverage"])
@pytest.mark.parametrize("name, make, message", CASES, ids=[c[0] for c in CASES])
def test_hostile_yaml_exits_2_with_one_line_and_changes_nothing(tmp_path, importer, name, make, message):
    path = tmp_path / f"{name}.yaml"
    path.write_text(make())
    before = _state()
    with pytest.raises(CommandError) as exc:
        call_command(importer, str(path), stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.returncode == 2
    text = str(exc.value)
    assert "\n" not in text and text.startswith(f"{path}: refused before parsing: ") and message in text
    assert _state() == before


def test_reference_files_are_within_the_bounds():
    for name in ("config.example.yaml", "config.legacy-shell.example.yaml", "data_inventory.example.yaml"):
        assert yaml_limits_problem((REFERENCE / name).read_text()) is None


def test_the_bounds_are_inclusive():
    assert yaml_limits_problem("a: " + "x" * (MAX_BYTES - 3)) is None
    assert yaml_limits_problem("a: " + "x" * (MAX_BYTES - 2)).startswith("file too large")
    # Multi-byte characters count as their UTF-8 bytes.
    assert yaml_limits_problem("a: " + "é" * (MAX_BYTES // 2)).startswith("file too large")
    assert yaml_limits_problem("[" * MAX_DEPTH + "]" * MAX_DEPTH) is None
    assert yaml_limits_problem("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).startswith("nested too deeply")


def test_ordinary_aliases_pass_and_expansion_is_counted_through_anchors():
    assert yaml_limits_problem("d: &d {a: 1, b: 2}\nx:\n  <<: *d\n  c: 3\ny: *d\n") is None
    # 100 aliases of a 1,000-node list: 100,000 nodes added, the bound itself.
    base = "l: &l [" + ",".join(["1"] * 999) + "]\n"
    assert yaml_limits_problem(base + "m: [" + ",".join(["*l"] * 100) + "]\n") is None
    assert yaml_limits_problem(base + "m: [" + ",".join(["*l"] * 101) + "]\n").startswith("aliases expand")
    assert MAX_ALIAS_NODES == 100_000


def test_invalid_yaml_is_left_to_the_loader():
    assert yaml_limits_problem("a: [1, 2\nb: }") is None


def test_the_loader_refuses_a_key_written_twice_but_lets_a_merge_be_overridden():
    from adce_site.yaml_limits import UniqueKeyLoader

    with pytest.raises(yaml.YAMLError, match=r"duplicate key 'a' \(line 3, first on line 2\)"):
        yaml.load("x:\n  a: 1\n  a: 2\n", Loader=UniqueKeyLoader)
    with pytest.raises(yaml.YAMLError, match="unhashable key at line 1"):
        yaml.load("? [1, 2]\n: x\n", Loader=UniqueKeyLoader)
    doc = yaml.load("d: &d {a: 1, b: 2}\nx:\n  <<: *d\n  a: 3\n", Loader=UniqueKeyLoader)
    assert doc["x"] == {"a": 3, "b": 2}
