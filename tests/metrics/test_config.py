"""metrics.config: parsing, defaults, legacy shape, and one clear line per bad input."""
import textwrap

import pytest

from metrics.config import ConfigError, find_cycle, load_config, parse_config

REFERENCE = "/work/shared/reference/config.example.yaml"
LEGACY = "/work/shared/reference/config.legacy-shell.example.yaml"


def parse(text, tmp_path, **kw):
    return parse_config(textwrap.dedent(text), path="m.yaml", base_dir=tmp_path, **kw)


def by_name(cfg):
    return {m.full_name: m for m in cfg.metrics}


def test_reference_config_parses(tmp_path):
    cfg = load_config(REFERENCE, base_dir=tmp_path)
    metrics = by_name(cfg)
    assert len(metrics) == 14
    assert cfg.thresholds.minor == 5 and cfg.thresholds.major == 25
    assert cfg.require_approval_threshold == 15 and cfg.default_ttl_hours == 24
    assert metrics["s3_storage.total_objects"].critical        # listed by name
    assert metrics["data_gaps.stale_gaps"].critical            # matched by the data_gaps.* wildcard
    assert not metrics["espn_data.pbp_files"].critical
    assert metrics["code_base.python_files"].params["path"] == str(tmp_path)  # resolved at import
    assert metrics["git.book_recommendation_commits"].params["since"] == "2025-10-01"
    assert cfg.events["cooldown_seconds"] == 60 and len(cfg.events["hooks"]) == 5


def test_defaults_per_kind(tmp_path):
    cfg = parse("""
        metrics:
          c:
            count: {kind: file_count, path: .}
            size: {kind: dir_size, path: .}
            age: {kind: s3_newest_age_hours, location: "file:///tmp/"}
            expr: {kind: expression, expression: "c.count * 2"}
    """, tmp_path)
    m = by_name(cfg)
    assert m["c.count"].parse_type == "integer"
    assert m["c.size"].parse_type == "float" and m["c.age"].parse_type == "float" and m["c.expr"].parse_type == "float"
    assert all(x.volatility == "stable" and x.precision == 2 and x.enabled and not x.critical for x in m.values())


def test_legacy_shell_refused_naming_metric(tmp_path):
    with pytest.raises(ConfigError) as exc:
        load_config(LEGACY, base_dir=tmp_path)
    assert "legacy.markdown_files" in str(exc.value) and "ADCE_ALLOW_SHELL_PROBES" in str(exc.value)
    assert str(exc.value).startswith(LEGACY + ": ")


def test_legacy_shape_when_shell_allowed(tmp_path):
    cfg = load_config(LEGACY, base_dir=tmp_path, allow_shell=True)
    (m,) = cfg.metrics
    assert m.kind == "shell" and m.volatility == "volatile" and m.parse_type == "integer"
    assert m.params["command"].startswith("find docs") and m.params["cwd"] == str(tmp_path)


def test_relative_file_location_resolves_against_import_dir(tmp_path):
    cfg = parse("""
        metrics:
          c:
            n: {kind: s3_object_count, location: "file://data/"}
    """, tmp_path)
    assert cfg.metrics[0].params["location"] == f"file://{tmp_path}/data/"


def test_critical_wildcards(tmp_path):
    cfg = parse("""
        approval: {critical_metrics: ["a.*", "b.one"]}
        metrics:
          a: {x: {kind: file_count, path: .}, y: {kind: file_count, path: .}}
          b: {one: {kind: file_count, path: .}, two: {kind: file_count, path: ., critical: true}, three: {kind: file_count, path: .}}
    """, tmp_path)
    assert {n for n, m in by_name(cfg).items() if m.critical} == {"a.x", "a.y", "b.one", "b.two"}


BAD = [
    ("metrics:\n  c:\n    x: {kind: file_count, path: .\n", "line "),                      # YAML syntax
    ("metrics:\n  c:\n    x: {kind: nope}\n", "metrics.c.x.kind: unknown kind 'nope'"),
    ("metrics:\n  c:\n    x: {path: .}\n", "metrics.c.x: missing `kind`"),
    ("metrics:\n  c:\n    x: {kind: file_count}\n", "metrics.c.x.path: required parameter is missing"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: ., glob2: '*'}\n", "metrics.c.x.glob2: unknown parameter"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: ., parse_type: decimal}\n", "metrics.c.x.parse_type: must be one of"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: ., volatility: wild}\n", "metrics.c.x.volatility"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: ., category: wild}\n", "metrics.c.x.category"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: ., precision: -1}\n", "metrics.c.x.precision"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: ., ttl_hours: -2}\n", "metrics.c.x.ttl_hours"),
    ("metrics:\n  c:\n    x: {kind: dir_size, path: ., unit: PB}\n", "metrics.c.x.unit: must be one of"),
    ("metrics:\n  c:\n    x: {kind: s3_total_bytes, location: 's3://b/', unit: kb}\n", "metrics.c.x.unit"),
    ("metrics:\n  c:\n    x: {kind: s3_object_count, location: 'ftp://b/'}\n", "metrics.c.x.location: "),
    ("metrics:\n  c:\n    x: {kind: s3_object_count}\n", "metrics.c.x.location: required"),
    ("metrics:\n  c:\n    x: {kind: s3_small_object_count, location: 's3://b/'}\n", "metrics.c.x.below_bytes: required"),
    ("metrics:\n  c:\n    x: {kind: s3_small_object_count, location: 's3://b/', below_bytes: ten}\n", "metrics.c.x.below_bytes"),
    ("metrics:\n  c:\n    x: {kind: sync_diff, left: 's3://b/'}\n", "metrics.c.x.right: required"),
    ("metrics:\n  c:\n    x: {kind: line_count, path: .}\n", "metrics.c.x.glob: required"),
    ("metrics:\n  c:\n    x: {kind: line_count, files: []}\n", "metrics.c.x.files"),
    ("metrics:\n  c:\n    x: {kind: git_commit_count, repo: ., since: yesterday}\n", "metrics.c.x.since: invalid date"),
    ("metrics:\n  c:\n    x: {kind: git_commit_count, repo: ., all_branches: maybe}\n", "metrics.c.x.all_branches"),
    ("metrics:\n  c:\n    x: {kind: sql_scalar, query: 'DELETE FROM auth_user'}\n", "metrics.c.x.query: must be a read-only SELECT"),
    ("metrics:\n  c:\n    x: {kind: sql_scalar, query: 'SELECT 1; DROP TABLE t'}\n", "metrics.c.x.query: must be a single statement"),
    ("metrics:\n  c:\n    x: {kind: sql_scalar, query: 'SELECT 1', database: nope}\n", "metrics.c.x.database: unknown database alias"),
    ("metrics:\n  c:\n    x: {kind: expression, expression: 'c.y + 1'}\n", "metrics.c.x.expression: refers to unknown metric 'c.y'"),
    ("metrics:\n  c:\n    x: {kind: expression, expression: '__import__(\"os\")'}\n", "metrics.c.x.expression: "),
    ("metrics:\n  c:\n    x: {kind: expression, expression: 'c.y ** 2'}\n    y: {kind: file_count, path: .}\n", "is not allowed"),
    ("metrics:\n  c:\n    x: {kind: expression, expression: 'c.y + 1'}\n    y: {kind: expression, expression: 'c.x'}\n", "dependency cycle"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: .}\n    x: {kind: file_count, path: .}\n", "duplicate key 'x'"),
    ("metrics:\n  c-d:\n    x: {kind: file_count, path: .}\n", "metrics.c-d: category must be an identifier"),
    ("metrics:\n  c:\n    x.y: {kind: file_count, path: .}\n", "metric name must be an identifier"),
    ("verification: {thresholds: {minor_drift_pct: 30}}\nmetrics:\n  c:\n    x: {kind: file_count, path: .}\n", "verification.thresholds: need"),
    ("verification: {thresholds: {minor_drift_pct: five}}\nmetrics:\n  c:\n    x: {kind: file_count, path: .}\n", "verification.thresholds.minor_drift_pct: must be a number"),
    ("approval: {critical_metrics: s3.*}\nmetrics:\n  c:\n    x: {kind: file_count, path: .}\n", "approval.critical_metrics"),
    ("approval: {enabled: sometimes}\nmetrics:\n  c:\n    x: {kind: file_count, path: .}\n", "approval.enabled"),
    ("cache: {default_ttl_hours: -1}\nmetrics:\n  c:\n    x: {kind: file_count, path: .}\n", "cache.default_ttl_hours"),
    ("events: [1, 2]\nmetrics:\n  c:\n    x: {kind: file_count, path: .}\n", "events: must be a mapping"),
    ("- a\n- b\n", "the document must be a mapping"),
    ("verification: {}\n", "metrics: missing section"),
    ("metrics: {}\n", "metrics: no metrics defined"),
    ("metrics:\n  c:\n    x: {command: 'echo 1'}\n", "shell metrics are refused"),
]


@pytest.mark.parametrize("text,expected", BAD)
def test_bad_inputs_name_file_key_and_problem(text, expected, tmp_path):
    with pytest.raises(ConfigError) as exc:
        parse_config(text, path="m.yaml", base_dir=tmp_path)
    message = str(exc.value)
    assert message.startswith("m.yaml: ")
    assert expected in message
    assert "\n" not in message


def test_yaml_error_reports_line_number(tmp_path):
    with pytest.raises(ConfigError, match=r"m.yaml: line 3, column \d+: invalid YAML: mapping values"):
        parse_config("metrics:\n  c:\n    x: kind: file_count\n", path="m.yaml", base_dir=tmp_path)


def test_several_problems_are_counted(tmp_path):
    with pytest.raises(ConfigError, match=r"\(and 1 more problem\)"):
        parse("""
            metrics:
              c:
                x: {kind: nope}
                y: {kind: file_count}
        """, tmp_path)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.yaml")


def test_find_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["a"]}) == ["a", "b", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]
