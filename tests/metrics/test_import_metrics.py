"""import_metrics: all-or-nothing, exit 2 with "FILE: key.path: problem", re-import semantics."""
import io
import textwrap

import pytest
from django.core.management import CommandError, call_command

from approvals.models import ApprovalRequest
from metrics.models import CacheEntry, Measurement, MetricDefinition, MetricsSettings
from metrics.services import baseline_apply, metric_import

pytestmark = pytest.mark.django_db

REFERENCE = "/work/shared/reference/config.example.yaml"
LEGACY = "/work/shared/reference/config.legacy-shell.example.yaml"

GOOD = """
verification:
  thresholds: {minor_drift_pct: 2, moderate_drift_pct: 10, major_drift_pct: 20}
approval:
  require_approval_threshold: 12
  critical_metrics: ["files.*"]
cache: {default_ttl_hours: 6}
events:
  cooldown_seconds: 30
  hooks:
    - {name: git_post_commit, trigger: post-commit, metrics: ["files.*"]}
metrics:
  files:
    count: {kind: file_count, path: data, volatility: volatile}
    size: {kind: dir_size, path: data, unit: KB}
  db:
    users: {kind: sql_scalar, query: "SELECT COUNT(*) FROM auth_user"}
"""


def write(tmp_path, text, name="m.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def db_state():
    return (
        sorted(MetricDefinition.objects.values_list("category", "name", "kind", "params", "enabled", "critical",
                                                    "baseline_value")),
        list(MetricsSettings.objects.values_list("minor_drift_pct", "default_ttl_hours", "events_config",
                                                 "critical_patterns")),
    )


def test_reference_config_imports(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    call_command("import_metrics", REFERENCE, stdout=out)
    assert "14 new" in out.getvalue()
    assert MetricDefinition.objects.count() == 14
    s = MetricsSettings.load()
    assert s.events_config["hooks"][0]["name"] == "git_post_commit"
    assert s.critical_patterns == ["s3_storage.total_objects", "s3_storage.total_size_gb", "data_gaps.*"]
    m = MetricDefinition.objects.get(category="code_base", name="python_files")
    assert m.params["path"] == str(tmp_path)  # relative path resolved against the CWD at import time
    assert MetricDefinition.objects.get(category="data_gaps", name="critical_gaps").critical


def test_import_settings_and_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    call_command("import_metrics", str(write(tmp_path, GOOD)), stdout=io.StringIO())
    s = MetricsSettings.load()
    assert (s.minor_drift_pct, s.moderate_drift_pct, s.major_drift_pct) == (2, 10, 20)
    assert s.require_approval_threshold == 12 and s.default_ttl_hours == 6
    assert s.events_config == {"cooldown_seconds": 30, "hooks": [
        {"name": "git_post_commit", "trigger": "post-commit", "metrics": ["files.*"]}]}
    count = MetricDefinition.objects.get(category="files", name="count")
    assert (count.parse_type, count.volatility, count.precision, count.critical) == ("integer", "volatile", 2, True)
    size = MetricDefinition.objects.get(category="files", name="size")
    assert size.parse_type == "float" and size.volatility == "stable"
    assert not MetricDefinition.objects.get(category="db", name="users").critical


def test_reimport_keeps_baselines_history_and_disables_removed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = write(tmp_path, GOOD)
    metric_import(path)
    users = MetricDefinition.objects.get(category="db", name="users")
    size = MetricDefinition.objects.get(category="files", name="size")
    baseline_apply(users, 3, by="t")
    baseline_apply(size, 1.5, by="t")
    Measurement.objects.create(metric=users, value=3, status="ok", severity="none")
    CacheEntry.objects.create(metric=users, value=3, measured_at="2026-01-01T00:00:00Z", expires_at="2099-01-01T00:00:00Z")
    CacheEntry.objects.create(metric=size, value=1.5, measured_at="2026-01-01T00:00:00Z", expires_at="2099-01-01T00:00:00Z")
    ApprovalRequest.objects.create(metric=size, proposed_value=9.0, baseline_value=1.5, severity="high")

    changed = GOOD.replace('"SELECT COUNT(*) FROM auth_user"', '"SELECT COUNT(*) FROM auth_user WHERE is_staff"')
    changed = changed.replace("    size: {kind: dir_size, path: data, unit: KB}\n", "")
    result = metric_import(write(tmp_path, changed, "m2.yaml"))
    assert result.disabled == ["files.size"] and result.updated == ["db.users"] and result.unchanged == ["files.count"]
    users.refresh_from_db()
    size.refresh_from_db()
    assert users.baseline_value == 3 and users.enabled and "is_staff" in users.params["query"]
    assert Measurement.objects.filter(metric=users).count() == 1
    assert not CacheEntry.objects.filter(metric=users).exists()  # its query changed: cached value is void
    assert not size.enabled and size.baseline_value == 1.5       # disabled, not deleted
    assert ApprovalRequest.objects.get(metric=size).status == "superseded"

    metric_import(path)  # back in the file: enabled again
    size.refresh_from_db()
    assert size.enabled


def test_dry_run_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    call_command("import_metrics", str(write(tmp_path, GOOD)), "--dry-run", stdout=out)
    assert "dry run" in out.getvalue() and "3 metric" in out.getvalue()
    assert not MetricDefinition.objects.exists()
    assert not MetricsSettings.objects.filter(source_file__endswith="m.yaml").exists()


def test_legacy_shell_refused_then_allowed(tmp_path, monkeypatch, settings):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandError) as exc:
        call_command("import_metrics", LEGACY)
    assert exc.value.returncode == 2 and "legacy.markdown_files" in str(exc.value)
    assert not MetricDefinition.objects.exists()
    settings.ADCE_ALLOW_SHELL_PROBES = True
    call_command("import_metrics", LEGACY, stdout=io.StringIO())
    m = MetricDefinition.objects.get()
    assert m.kind == "shell" and m.volatility == "volatile" and m.params["cwd"] == str(tmp_path)


BAD_FILES = [
    ("metrics:\n  c:\n    x: {kind: file_count, path: .\n", "line "),
    ("metrics:\n  c:\n    x: {kind: bogus}\n", "metrics.c.x.kind: unknown kind"),
    ("metrics:\n  c:\n    x: {kind: s3_object_count}\n", "metrics.c.x.location: required parameter is missing"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: ., parse_type: number}\n", "metrics.c.x.parse_type"),
    ("metrics:\n  c:\n    x: {kind: file_count, path: ., volatility: high}\n", "metrics.c.x.volatility"),
    ("metrics:\n  c:\n    x: {kind: dir_size, path: ., unit: XB}\n", "metrics.c.x.unit"),
    ("metrics:\n  c:\n    x: {kind: expression, expression: 'c.nope * 2'}\n", "unknown metric 'c.nope'"),
    ("metrics:\n  c:\n    x: {kind: expression, expression: 'c.y'}\n    y: {kind: expression, expression: 'c.x'}\n", "dependency cycle"),
    ("metrics:\n  c:\n    x: {kind: sql_scalar, query: 'DROP TABLE auth_user'}\n", "metrics.c.x.query"),
    ("metrics:\n  c:\n    x: {command: 'ls | wc -l'}\n", "ADCE_ALLOW_SHELL_PROBES"),
    # one good metric before a bad one: nothing of the file may land
    ("metrics:\n  a:\n    ok: {kind: file_count, path: .}\n  c:\n    x: {kind: file_count, path: ., enabled: maybe}\n", "metrics.c.x.enabled"),
]


@pytest.mark.parametrize("text,expected", BAD_FILES)
def test_bad_input_exits_2_and_changes_nothing(text, expected, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    metric_import(write(tmp_path, GOOD, "good.yaml"))
    before = db_state()
    path = write(tmp_path, text)
    with pytest.raises(CommandError) as exc:
        call_command("import_metrics", str(path))
    assert exc.value.returncode == 2
    message = str(exc.value)
    assert message.startswith(f"{path}: ") and expected in message and "\n" not in message
    assert db_state() == before


def test_missing_file_exits_2(tmp_path):
    with pytest.raises(CommandError) as exc:
        call_command("import_metrics", str(tmp_path / "absent.yaml"))
    assert exc.value.returncode == 2 and "absent.yaml: cannot read" in str(exc.value)


def test_fixture_metrics_import_and_verify(monkeypatch):
    """fixtures/metrics.yaml works from the repository root with no S3."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(root)
    call_command("import_metrics", "fixtures/metrics.yaml", stdout=io.StringIO())
    assert MetricDefinition.objects.filter(critical=True).exists()
    from metrics.services import verification_run

    run = verification_run()
    errors = {r.metric: r.error for r in run.results if r.status == "error"}
    if not (root / ".git").exists():
        errors.pop("git.commits", None)  # an exported tree has no history: an error, not 0
    assert errors == {}
    kinds = set(MetricDefinition.objects.values_list("kind", flat=True))
    assert {"file_count", "line_count", "dir_size", "git_commit_count", "sql_scalar", "s3_object_count",
            "s3_total_bytes", "s3_small_object_count", "s3_newest_age_hours", "sync_diff", "expression"} <= kinds


def test_json_document(tmp_path):
    import json

    out = io.StringIO()
    call_command("import_metrics", str(write(tmp_path, GOOD)), "--dry-run", "--json", stdout=out, stderr=io.StringIO())
    doc = json.loads(out.getvalue())
    assert doc["dry_run"] is True and sorted(doc["created"]) == ["db.users", "files.count", "files.size"]
    assert not MetricDefinition.objects.exists()


def test_translate_shell_imports_the_legacy_example_without_shell_probes(tmp_path, monkeypatch):
    """The reference legacy example is refused as shell, and imports with --translate-shell."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CommandError):
        call_command("import_metrics", LEGACY, stdout=io.StringIO(), stderr=io.StringIO())
    out = io.StringIO()
    call_command("import_metrics", LEGACY, "--translate-shell", stdout=out, stderr=io.StringIO())
    assert "1 of 1 shell command(s) translated to typed kinds, 0 kept as shell" in out.getvalue()
    metric = MetricDefinition.objects.get()
    assert (metric.kind, metric.params, metric.volatility) == (
        "file_count", {"path": str(tmp_path / "docs"), "glob": "**/*.md"}, "volatile")
