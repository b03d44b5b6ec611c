"""import_legacy: the original's metrics.yaml baselines and historical/YYYY-MM-DD.yaml snapshots."""
import datetime as dt
import io
import json
import textwrap

import pytest
from django.core.management import CommandError, call_command

from adce_site.legacy import LegacyError, LegacyValue, parse_metrics_document, type_value
from approvals.models import ApprovalRequest
from metrics.models import Measurement, MetricDefinition, Snapshot, VerificationRun
from metrics.services import baseline_apply, metric_import
from metrics.snapshots import snapshot_take

pytestmark = pytest.mark.django_db

CONFIG = """
metrics:
  s3_storage:
    total_objects: {kind: s3_object_count, location: "file:///nonexistent/lake/"}
    total_size_gb: {kind: s3_total_bytes, location: "file:///nonexistent/lake/", unit: GB, parse_type: float}
    total_bytes: {kind: s3_total_bytes, location: "file:///nonexistent/lake/", parse_type: integer}
  code_base:
    python_files: {kind: file_count, path: src, glob: "**/*.py"}
  sync_status:
    local_s3_sync_status: {kind: sql_scalar, query: "SELECT 'accessible'", parse_type: string}
"""

# The original's metrics.yaml shape (metadata, value + last_verified, informational blocks), including
# the values it re-typed as strings.
METRICS_YAML = """
metadata:
  version: 1.0.0
  last_updated: '2025-10-25T17:31:35.407323Z'
  system: DIMS v1.0.0
s3_storage:
  total_objects:
    value: 172726
    last_verified: '2025-10-21T14:00:00Z'
    verification_method: aws_cli
    cached: false
    cache_expires: null
  total_size_gb:
    value: "118.26 GB"
    last_verified: 2025-10-21T14:00:00Z
  total_bytes: "1 KB"
prediction_system:
  total_lines:
    value: 2103
  scripts:
    fetch_upcoming_games: {lines: 303, path: scripts/ml/fetch_upcoming_games.py}
code_base:
  python_files:
    value: "1,667"
sync_status:
  local_s3_sync_status:
    value: accessible
"""


def historical(total_objects, python_files, stamp):
    return f"""
metadata:
  last_updated: '{stamp}'
s3_storage:
  total_objects: {{value: {total_objects}, last_verified: '2025-10-21T14:00:00Z'}}
code_base:
  python_files: {{value: {python_files}}}
"""


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


@pytest.fixture
def lake(tmp_path, monkeypatch):
    """Metric definitions imported, and the original's inventory/ files under tmp_path."""
    monkeypatch.chdir(tmp_path)
    metric_import(write(tmp_path / "config.yaml", CONFIG))
    inv = tmp_path / "inventory"
    write(inv / "metrics.yaml", METRICS_YAML)
    write(inv / "historical" / "2025-10-21.yaml", historical(170000, 1252, "2025-10-21T19:21:02.202228Z"))
    write(inv / "historical" / "2025-10-22.yaml", historical(171523, 1268, "2025-10-21T23:00:00Z"))
    write(inv / "historical" / "README.md", "not a snapshot")
    return inv


def run_json(*args):
    out = io.StringIO()
    call_command("import_legacy", *args, "--json", stdout=out, stderr=io.StringIO())
    return json.loads(out.getvalue())


def state():
    return (
        sorted(MetricDefinition.objects.values_list("category", "name", "baseline_value", "baseline_set_at",
                                                    "baseline_set_by")),
        sorted(Measurement.objects.values_list("metric__name", "measured_at", "value", "status")),
        sorted(VerificationRun.objects.values_list("trigger", "started_at", "options")),
        sorted(Snapshot.objects.values_list("date", "values")),
        sorted(ApprovalRequest.objects.values_list("pk", "status")),
    )


def metric(dotted):
    cat, name = dotted.split(".")
    return MetricDefinition.objects.get(category=cat, name=name)


# --------------------------------------------------------------------------- parsing

def test_parse_original_shape(tmp_path):
    parsed = parse_metrics_document(write(tmp_path / "m.yaml", METRICS_YAML))
    assert parsed.last_updated == dt.datetime(2025, 10, 25, 17, 31, 35, 407323, tzinfo=dt.timezone.utc)
    assert parsed.values["s3_storage.total_objects"].raw == 172726
    assert parsed.values["s3_storage.total_objects"].last_verified == dt.datetime(2025, 10, 21, 14, tzinfo=dt.timezone.utc)
    # an unquoted timestamp (YAML makes it a datetime) is read the same way
    assert parsed.values["s3_storage.total_size_gb"].last_verified == dt.datetime(2025, 10, 21, 14, tzinfo=dt.timezone.utc)
    assert parsed.values["s3_storage.total_bytes"].raw == "1 KB"     # bare scalar shape
    assert parsed.values["s3_storage.total_bytes"].key == "s3_storage.total_bytes"
    assert parsed.values["code_base.python_files"].key == "code_base.python_files.value"
    assert parsed.skipped == ["prediction_system.scripts"]
    assert "metadata.version" not in parsed.values


def test_parse_null_value_is_skipped(tmp_path):
    parsed = parse_metrics_document(write(tmp_path / "m.yaml", "a:\n  b: {value: null}\n  c: 3\n"))
    assert list(parsed.values) == ["a.c"]
    assert parsed.skipped == ["a.b"]


@pytest.mark.parametrize("raw, parse_type, unit, expected", [
    (172726, "integer", None, 172726),
    ("172,726", "integer", None, 172726),
    ("172,726 objects", "integer", None, 172726),
    ("1,667", "integer", None, 1667),
    (96.0, "integer", None, 96),
    ("118.26 GB", "float", "GB", 118.26),
    ("118.26 GB", "float", None, 118.26),        # no declared unit: read as written
    ("1 GB", "float", "MB", 1024.0),              # converted to the metric's unit
    ("118.26 GB", "integer", "bytes", round(118.26 * 1024 ** 3)),
    ("1.5 KB", "integer", "bytes", 1536),
    (118.256, "float", None, 118.26),             # rounded to the metric's precision
    ("12.5%", "float", None, 12.5),
    ("$31.07", "float", None, 31.07),
    ("accessible", "string", None, "accessible"),
    (843, "string", None, "843"),
    ("true", "boolean", None, True),
])
def test_type_value(raw, parse_type, unit, expected):
    value = type_value(LegacyValue("a.b", raw, "a.b.value"), parse_type=parse_type, precision=2, unit=unit,
                       path="m.yaml")
    assert value == expected and type(value) is type(expected)


@pytest.mark.parametrize("raw, parse_type, problem", [
    ("abc", "integer", "is not a number"),
    ("12 parsecs", "integer", "unknown unit 'parsecs'"),
    ("1,66,7", "integer", "misplaced thousands separator"),
    (118.26, "integer", "not a whole number"),
    (True, "integer", "is not a number"),
    ("maybe", "boolean", "is not a boolean"),
])
def test_type_value_refuses(raw, parse_type, problem):
    with pytest.raises(LegacyError) as info:
        type_value(LegacyValue("a.b", raw, "a.b.value"), parse_type=parse_type, precision=2, unit=None,
                   path="m.yaml")
    assert str(info.value).startswith("m.yaml: a.b.value: cannot read as ")
    assert problem in str(info.value)


# --------------------------------------------------------------------------- importing

def test_import_baselines_and_history(lake):
    doc = run_json("--metrics-file", str(lake / "metrics.yaml"), "--historical-dir", str(lake / "historical"))

    assert sorted(doc["baselines"]["set"]) == ["code_base.python_files", "s3_storage.total_bytes",
                                               "s3_storage.total_objects", "s3_storage.total_size_gb",
                                               "sync_status.local_s3_sync_status"]
    objects = metric("s3_storage.total_objects")
    assert objects.baseline_value == 172726
    assert objects.baseline_set_at == dt.datetime(2025, 10, 21, 14, tzinfo=dt.timezone.utc)
    assert objects.baseline_set_by == "legacy import: metrics.yaml"
    assert metric("s3_storage.total_size_gb").baseline_value == 118.26
    assert metric("s3_storage.total_bytes").baseline_value == 1024
    python_files = metric("code_base.python_files")
    assert python_files.baseline_value == 1667 and isinstance(python_files.baseline_value, int)
    # no last_verified: the file's metadata.last_updated
    assert python_files.baseline_set_at == dt.datetime(2025, 10, 25, 17, 31, 35, 407323, tzinfo=dt.timezone.utc)
    assert metric("sync_status.local_s3_sync_status").baseline_value == "accessible"

    # unknown names are skipped and listed with the files that carry them
    assert doc["unknown_metrics"] == [{"metric": "prediction_system.total_lines", "files": ["metrics.yaml"]}]
    assert any("prediction_system.scripts" in s for s in doc["skipped"])
    assert any("README.md" in w for w in doc["warnings"])

    # one run per historical file, one measurement per known metric, one snapshot per date
    runs = list(VerificationRun.objects.filter(trigger="legacy").order_by("started_at"))
    assert [r.options["legacy_date"] for r in runs] == ["2025-10-21", "2025-10-22"]
    assert runs[0].started_at == dt.datetime(2025, 10, 21, 19, 21, 2, 202228, tzinfo=dt.timezone.utc)
    # metadata.last_updated of another day: the start of the file's own day
    assert runs[1].started_at == dt.datetime(2025, 10, 22, tzinfo=dt.timezone.utc)
    history = list(Measurement.objects.filter(metric=objects).order_by("measured_at").values_list("value", "status", "run"))
    assert history == [(170000, "ok", runs[0].pk), (171523, "ok", runs[1].pk)]
    assert doc["measurements"] == 4
    assert Snapshot.objects.get(date=dt.date(2025, 10, 22)).values == {
        "code_base.python_files": 1268, "s3_storage.total_objects": 171523}
    assert [s["action"] for s in doc["snapshots"]] == ["created", "created"]


def test_history_and_diff_commands_see_imported_history(lake):
    run_json("--historical-dir", str(lake / "historical"))
    out = io.StringIO()
    call_command("history", "s3_storage.total_objects", "--days", "36600", "--json", stdout=out)
    values = [p["value"] for p in json.loads(out.getvalue())["points"]]
    assert values == [170000, 171523]
    out = io.StringIO()
    call_command("diff", "--since", "2025-10-21", "--json", stdout=out)
    then = {m["metric"]: (m["then"], m["now"]) for m in json.loads(out.getvalue())["metrics"]}
    assert then["s3_storage.total_objects"] == (170000, 171523)  # now = the newest history row


def test_reimport_is_idempotent(lake):
    args = ("--metrics-file", str(lake / "metrics.yaml"), "--historical-dir", str(lake / "historical"))
    run_json(*args)
    before = state()
    doc = run_json(*args)
    assert state() == before
    assert doc["baselines"]["set"] == [] and len(doc["baselines"]["unchanged"]) == 5
    assert [s["action"] for s in doc["snapshots"]] == ["replaced", "replaced"]


def test_reimport_of_a_corrected_file_replaces_that_date(lake):
    run_json("--historical-dir", str(lake / "historical"))
    write(lake / "historical" / "2025-10-22.yaml", historical(999, 1268, "2025-10-22T10:00:00Z"))
    run_json("--historical-dir", str(lake / "historical"))
    objects = metric("s3_storage.total_objects")
    assert sorted(Measurement.objects.filter(metric=objects).values_list("value", flat=True)) == [999, 170000]
    assert Snapshot.objects.get(date=dt.date(2025, 10, 22)).values["s3_storage.total_objects"] == 999
    assert VerificationRun.objects.filter(trigger="legacy").count() == 2


def test_baseline_set_by_adce_is_kept(lake):
    baseline_apply(metric("s3_storage.total_objects"), 180000, by="alice")
    doc = run_json("--metrics-file", str(lake / "metrics.yaml"))
    assert metric("s3_storage.total_objects").baseline_value == 180000
    assert [k["metric"] for k in doc["baselines"]["kept"]] == ["s3_storage.total_objects"]
    assert "alice" in doc["baselines"]["kept"][0]["reason"]


def test_snapshot_taken_by_adce_is_kept(lake):
    snapshot_take(date=dt.date(2025, 10, 21))
    ours = Snapshot.objects.get(date=dt.date(2025, 10, 21)).values
    for _ in range(2):  # also on re-import
        doc = run_json("--historical-dir", str(lake / "historical"))
        assert Snapshot.objects.get(date=dt.date(2025, 10, 21)).values == ours
        assert doc["snapshots"][0]["snapshot"] == "kept"
    assert Measurement.objects.filter(run__options__legacy_date="2025-10-21").count() == 2


def test_dry_run_writes_nothing(lake):
    before = state()
    doc = run_json("--metrics-file", str(lake / "metrics.yaml"), "--historical-dir", str(lake / "historical"),
                   "--dry-run")
    assert doc["dry_run"] is True and len(doc["baselines"]["set"]) == 5
    assert state() == before


def test_defaults_read_inventory_under_cwd(lake):
    out = io.StringIO()
    call_command("import_legacy", stdout=out, stderr=io.StringIO())
    assert "5 set" in out.getvalue() and "2 snapshot(s)" in out.getvalue()
    assert "skipped 1 unknown metric(s): prediction_system.total_lines" in out.getvalue()


# --------------------------------------------------------------------------- bad input: exit 2, nothing changed

def assert_refused(args, *fragments):
    before = state()
    with pytest.raises(CommandError) as info:
        call_command("import_legacy", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert info.value.returncode == 2
    message = str(info.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    assert state() == before


@pytest.mark.parametrize("text, fragments", [
    ("a: [1, 2\n", ["line 2", "invalid YAML"]),
    ("a:\n  b: {value: 1}\n  b: {value: 2}\n", ["duplicate key 'b'"]),
    ("- 1\n- 2\n", ["must be a mapping"]),
    ("s3_storage: 5\n", ["s3_storage: must be a mapping"]),
    ("s3_storage:\n  total_objects: {value: [1, 2]}\n", ["s3_storage.total_objects.value: must be a single value"]),
    ("s3_storage:\n  total_objects: [1, 2]\n", ["s3_storage.total_objects: must be a mapping"]),
    ("s3_storage:\n  total_objects: {value: 'lots'}\n", ["s3_storage.total_objects.value: cannot read as integer"]),
    ("s3_storage:\n  total_objects: {value: 1.5}\n", ["s3_storage.total_objects.value", "not a whole number"]),
    ("s3_storage:\n  total_objects: {value: 1, last_verified: 'yesterday'}\n",
     ["s3_storage.total_objects.last_verified: invalid timestamp"]),
    ("metadata: {last_updated: 'soon'}\n", ["metadata.last_updated: invalid timestamp"]),
    ("metadata: 3\n", ["metadata: must be a mapping"]),
])
def test_malformed_metrics_file(lake, text, fragments):
    path = write(lake / "bad.yaml", text)
    assert_refused(["--metrics-file", str(path)], str(path), *fragments)


def test_malformed_second_historical_file_imports_nothing(lake):
    bad = write(lake / "historical" / "2025-10-23.yaml", "code_base:\n  python_files: {value: 'many'}\n")
    # the metrics file and the first two snapshots are good: still nothing is imported
    assert_refused(["--metrics-file", str(lake / "metrics.yaml"), "--historical-dir", str(lake / "historical")],
                   str(bad), "code_base.python_files.value")


def test_impossible_date_in_file_name(lake):
    bad = write(lake / "historical" / "2025-13-40.yaml", "a: {b: 1}\n")
    assert_refused(["--historical-dir", str(lake / "historical")], str(bad), "invalid date '2025-13-40'")


def test_future_snapshot(lake):
    tomorrow = (dt.datetime.now(dt.timezone.utc).date() + dt.timedelta(days=2)).isoformat()
    write(lake / "historical" / f"{tomorrow}.yaml", "a: {b: 1}\n")
    assert_refused(["--historical-dir", str(lake / "historical")], f"{tomorrow}.yaml", "is in the future")


def test_two_files_for_one_date(lake):
    write(lake / "historical" / "2025-10-21.yml", "a: {b: 1}\n")
    assert_refused(["--historical-dir", str(lake / "historical")], "two snapshots of 2025-10-21")


def test_missing_inputs(lake, tmp_path):
    assert_refused(["--metrics-file", str(tmp_path / "nope.yaml")], "nope.yaml: no such file")
    assert_refused(["--historical-dir", str(tmp_path / "nope")], "nope: not a folder")
    (tmp_path / "empty").mkdir()
    assert_refused(["--historical-dir", str(tmp_path / "empty")], "contains no YYYY-MM-DD.yaml snapshot")


def test_nothing_to_import_without_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert_refused([], "nothing to import")


def test_no_metric_definitions_yet(tmp_path):
    path = write(tmp_path / "metrics.yaml", METRICS_YAML)
    assert_refused(["--metrics-file", str(path)], "run `import_metrics")


# --------------------------------------------------------------------------- the migration guide's path

ORIGINAL_CONFIG = """
version: "1.0.0"
system_name: "DIMS"
features: {database_backend: true}
cache: {enabled: true, backend: file, default_ttl_hours: 24, ttl_overrides: {s3_objects: 24}}
verification:
  enabled: true
  schedule: "0 9 * * 1"
  thresholds: {minor_drift_pct: 5, moderate_drift_pct: 15, major_drift_pct: 25}
  stable_metrics: [git_commits]
events:
  enabled: true
  hooks_dir: "inventory/events"
  cooldown_seconds: 60
  hooks:
    - {name: git_post_commit, trigger: post-commit, metrics: ["code_base.*"]}
    - {name: monthly_audit, trigger: cron, schedule: "0 0 1 * *", metrics: ["*"]}
approval:
  enabled: true
  critical_metrics: ["s3_storage.total_objects"]
  require_approval_threshold: 15
database: {enabled: true}
metrics:
  s3_storage:
    total_objects:
      command: "echo 172726"
      parse_type: "integer"
      category: "volatile"
  sync_status:
    local_s3_sync_status:
      command: "echo accessible"
      parse_type: "string"
      category: "volatile"
"""


def test_original_config_then_legacy_values(tmp_path, monkeypatch, settings):
    """docs/migration.md: the original config.yaml imports as is (shell allowed), its schedules set up,
    then metrics.yaml gives the baselines and verify finds no drift."""
    from django_q.models import Schedule

    monkeypatch.chdir(tmp_path)
    settings.ADCE_ALLOW_SHELL_PROBES = True
    inv = tmp_path / "inventory"
    call_command("import_metrics", str(write(inv / "config.yaml", ORIGINAL_CONFIG)), stdout=io.StringIO(),
                 stderr=io.StringIO())
    call_command("setup_schedules", stdout=io.StringIO())
    assert Schedule.objects.filter(name="adce:hook:monthly_audit", cron="0 0 1 * *").exists()
    write(inv / "metrics.yaml", "s3_storage:\n  total_objects: {value: '172,726'}\n"
                                "sync_status:\n  local_s3_sync_status: {value: accessible}\n")
    doc = run_json()
    assert sorted(doc["baselines"]["set"]) == ["s3_storage.total_objects", "sync_status.local_s3_sync_status"]
    out = io.StringIO()
    call_command("verify", "--json", stdout=out, stderr=io.StringIO())
    statuses = {m["metric"]: m["status"] for m in json.loads(out.getvalue())["metrics"]}
    assert statuses == {"s3_storage.total_objects": "ok", "sync_status.local_s3_sync_status": "ok"}
