"""import_legacy / import_metrics --translate-shell on a legacy inventory/ folder (SPEC §11): the translated
metrics measure the same truth the original meant on a lake built here — S3 over moto's HTTP server with
more than 1,000 keys, files, lines, du, git — and a failure is an error, never 0. Bad input exits 2 with
one line and changes nothing."""
import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from django.core.management import CommandError, call_command

from metrics.models import MetricDefinition, Snapshot, VerificationRun
from tests.s3_helpers import S3Bucket

pytestmark = pytest.mark.django_db

INVENTORY = Path(__file__).parent / "legacy_inventory" / "inventory"
BUCKET = "courtside-raw-lake"
KIB, MIB, GIB = 1024, 1024 ** 2, 1024 ** 3
SHELL = {"plus_minus_system.total_lines", "git.recent_commits", "file_inventory.total_files_documented",
         "aws_inventory.rds_database_size_gb", "aws_inventory.rds_allocated_storage_gb",
         "aws_inventory.monthly_cost_estimate_usd", "aws_inventory.lambda_functions",
         "data_gaps.missing_games_count", "data_gaps.games_without_pbp", "sync_status.local_s3_sync_status",
         "sync_status.sync_check"}


def run_command(name, *args):
    """(exit code, stdout, stderr); CommandError is turned into its return code like manage.py does."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(name, *args, stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        code, err = exc.returncode, io.StringIO(str(exc))
    except SystemExit as exc:
        code = exc.code
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def project(tmp_path, monkeypatch):
    """The original's repository root: inventory/ copied unchanged, the current folder, a HOME of its own."""
    root, home = tmp_path / "courtside-sim", tmp_path / "home"
    root.mkdir()
    home.mkdir()
    shutil.copytree(INVENTORY, root / "inventory")
    monkeypatch.chdir(root)
    monkeypatch.setenv("HOME", str(home))
    return root


# --------------------------------------------------------------------------- the lake

def write_lines(path: Path, n: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"line {i}\n" for i in range(n)))


def git(repo, *args, date=None):
    env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@x", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@x",
           "HOME": str(repo), "PATH": os.environ["PATH"]}
    if date:
        env.update(GIT_AUTHOR_DATE=date, GIT_COMMITTER_DATE=date)
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env=env)


def build_files(root: Path, home: Path) -> None:
    for rel, n in (("scripts/ml/fetch_games.py", 10), ("scripts/ml/build_features.py", 20),
                   ("scripts/ml/train_model.py", 25), ("scripts/ml/nightly.sh", 5),
                   ("scripts/lineups/plus_minus_calc.py", 7), ("scripts/lineups/plus_minus_load.py", 8),
                   ("scripts/lineups/lineup_utils.py", 9), ("scripts/top.sh", 3), ("scripts/other.sh", 2),
                   ("sql/plus_minus/a.sql", 11), ("sql/plus_minus/b.sql", 13), ("sql/master_schema.sql", 30),
                   ("sql/snapshots.sql", 12), ("docs/PLUS_MINUS_GUIDE.md", 4), ("docs/PLUS_MINUS_RESULTS.md", 6),
                   ("docs/workflows/w1.md", 1), ("docs/workflows/w2.md", 2), ("docs/workflows/w3.md", 3),
                   ("docs/FILE_INVENTORY.md", 9), ("tests/test_a.py", 1), ("tests/unit/test_b.py", 1),
                   (".venv/lib/site.py", 1)):
        write_lines(root / rel, n)
    (root / "docs" / "big.bin").write_bytes(b"\0" * (5 * MIB))
    stamp = time.time() - (3 * 86400 + 2 * 3600)
    os.utime(root / "docs" / "FILE_INVENTORY.md", (stamp, stamp))
    (home / "courtside-archives").mkdir()
    with open(home / "courtside-archives" / "season.tar", "wb") as fh:
        fh.truncate(3 * GIB)  # sparse: 3 GiB apparent, next to nothing on disk
    (home / "courtside-temp").mkdir()
    for i in range(5):
        (home / "courtside-temp" / f"part{i}").write_bytes(b"t" * MIB)
    git(root, "init", "-q", "-b", "main")
    for message, date in (("rec_ one", "2025-09-15T12:00:00Z"), ("REC_ two", "2025-10-03T12:00:00Z"),
                          ("rec_ three fix", "2025-10-10T12:00:00Z"), ("Fix typo", "2025-10-11T12:00:00Z"),
                          ("other", "2025-10-12T12:00:00Z")):
        git(root, "commit", "--allow-empty", "-q", "-m", message, date=date)
    git(root, "checkout", "-q", "-b", "side")
    git(root, "commit", "--allow-empty", "-q", "-m", "rec_ side", date="2025-10-13T12:00:00Z")
    git(root, "checkout", "-q", "main")


def build_bucket(bucket: S3Bucket) -> dict:
    """Objects of the lake, with the byte totals the truths are computed from."""
    groups = {  # prefix: [(count, size, ending)]
        "espn/pbp/": [(1000, 2048, ".json"), (150, 512, ".json"), (50, 300, ".csv")],
        "espn/box_scores/": [(400, 100, ".json"), (100, 5000, ".json")],
        "espn/schedule/": [(30, 700, ".json")],
        "basketball_reference/": [(7, 4000, ".html")],
    }
    sizes: dict[str, list[int]] = {}
    for prefix, parts in groups.items():
        n = 0
        for count, size, ending in parts:
            bucket.put_many([f"{prefix}{n + i:05d}{ending}" for i in range(count)], b"x" * size)
            sizes.setdefault(prefix, []).extend([size] * count)
            n += count
    for i in range(12):
        bucket.put(f"hoopr_parquet/season_{2013 + i}.parquet", b"p" * (100 * KIB * (i + 1)))
        sizes.setdefault("hoopr_parquet/", []).append(100 * KIB * (i + 1))
    return sizes


@pytest.fixture
def lake(project, moto_server):
    client = boto3.client("s3", region_name="us-east-1")
    client.create_bucket(Bucket=BUCKET)
    sizes = build_bucket(S3Bucket(BUCKET, client))
    build_files(project, Path(os.environ["HOME"]))
    return sizes


def truths(sizes: dict) -> dict:
    """What each translated metric meant, computed from how the lake was built (not by a probe)."""
    everything = [s for group in sizes.values() for s in group]
    pbp, box, hoopr = sizes["espn/pbp/"], sizes["espn/box_scores/"], sizes["hoopr_parquet/"]
    espn = pbp + box + sizes["espn/schedule/"]
    return {
        "s3_storage.total_objects": len(everything),
        "s3_storage.total_size_gb": round(sum(everything) / GIB, 4),
        "s3_storage.total_objects_cli": len(everything),
        "s3_storage.total_size_mb_cli": round(sum(everything) / MIB, 3),
        "s3_storage.hoopr_files": 12,
        "s3_storage.espn_pbp_json_files": 1150,
        "s3_storage.espn_box_json_files": 500,
        "s3_storage.bbref_files": 7,
        "s3_storage.hoopr_bytes": sum(hoopr),
        "s3_quality.espn_pbp_objects": 1200,            # the original's single page said 1000
        "s3_quality.espn_pbp_small_files": 200,
        "s3_quality.espn_box_tiny_files": 400,
        "s3_quality.espn_pbp_avg_kb": round(sum(pbp) / len(pbp) / KIB, 2),
        "s3_quality.hoopr_avg_mb": round(sum(hoopr) / len(hoopr) / MIB, 4),
        "s3_quality.pbp_box_coverage_pct": 240.0,
        "s3_quality.schedule_files_per_box": 0.06,
        "s3_quality.pbp_json_share_pct": round(1150 / 1200 * 100, 2),
        "s3_quality.espn_size_mb": round(sum(espn) / MIB, 3),
        "s3_freshness.espn_newest_age_hours": 0.0,
        "s3_freshness.schedule_age_days": 0,
        "s3_freshness.hoopr_age_days": 0,
        "s3_freshness.bbref_age_hours": 0,
        "prediction_system.total_lines": 60,
        "prediction_system.fetch_games_lines": 10,
        "prediction_system.build_features_lines": 20,
        "prediction_system.train_model_lines": 25,
        "prediction_system.nightly_sh_lines": 5,
        "plus_minus_system.python_lines": 24,
        "plus_minus_system.sql_lines": 24,
        "plus_minus_system.docs_lines": 10,
        "code_base.python_files": 9,
        "code_base.ml_scripts": 3,
        "code_base.test_files": 2,
        "code_base.own_python_files": 8,
        "code_base.top_level_shell_scripts": 2,
        "code_base.sql_files": 4,
        "documentation.markdown_files": 6,
        "documentation.total_size_mb": 5,
        "documentation.workflow_files": 3,
        "git.book_recommendation_commits": 3,
        "git.fix_commits": 2,
        "git.commits_since_october": 4,
        "git.total_commits": 5,
        "sql_schemas.total_lines": 42,
        "local_data.archives_size_gb": 3,
        "local_data.temp_data_size_mb": 5,
        "local_data.scratch_size_kb": 5 * 1024,
        "file_inventory.last_inventory_age_days": 3,
    }


def verify_json(summary: dict | None = None) -> dict:
    code, out, err = run_command("verify", "--json")
    assert code in (0, 1), err
    doc = json.loads(out)
    if summary is not None:
        summary.update(doc["summary"])
    return {row["metric"]: row for row in doc["metrics"]}


# --------------------------------------------------------------------------- the zero-edit import

def test_zero_edit_import_measures_what_the_original_meant(lake, project):
    code, out, err = run_command("import_legacy")  # reads inventory/config.yaml, metrics.yaml, historical/
    assert code == 0, err
    assert "49 of 60 shell command(s) translated to typed kinds, 11 kept as shell" in out
    for name in SHELL:  # listed by name with the reason, imported disabled
        assert f"shell (disabled) {name}: " in out
    metrics = {m.full_name: m for m in MetricDefinition.objects.all()}
    assert len(metrics) == 60
    assert {n for n, m in metrics.items() if m.kind == "shell"} == SHELL
    assert not any(metrics[n].enabled for n in SHELL)

    # Kept from the original: name, category, volatility, precision, critical flag, enabled, baseline.
    size = metrics["s3_storage.total_size_gb"]
    assert (size.kind, size.params, size.parse_type, size.precision, size.volatility, size.critical) == (
        "s3_total_bytes", {"location": f"s3://{BUCKET}/", "unit": "GB"}, "float", 4, "volatile", True)
    assert size.baseline_value == 0.01 and size.baseline_set_by == "legacy import: metrics.yaml"
    assert metrics["s3_quality.espn_pbp_objects"].baseline_value == 1000
    assert metrics["documentation.total_size_mb"].baseline_value == 5
    assert metrics["local_data.espn_size_gb"].enabled is False
    assert metrics["code_base.test_files"].params == {"path": str(project), "glob": "**/*.py",
                                                      "path_match": ["*/test*"]}
    assert metrics["local_data.archives_size_gb"].params["path"] == os.path.join(os.environ["HOME"],
                                                                                 "courtside-archives")
    assert Snapshot.objects.count() == 2 and VerificationRun.objects.filter(trigger="legacy").count() == 2

    summary = {}
    rows = verify_json(summary)
    expected = truths(lake)
    # 22 S3 metrics, ratios' denominators included, cost one listing of the bucket (+ docs/ for the file age).
    assert summary["listings"] == 2
    assert set(rows) == {n for n, m in metrics.items() if m.enabled}
    assert set(expected) == set(rows)  # every translated, enabled metric has a truth
    wrong = {name: (rows[name]["actual"], rows[name]["error"], value) for name, value in expected.items()
             if rows[name]["actual"] != pytest.approx(value, abs=0.05 if "age_hours" in name else 0)}
    assert not wrong
    assert all(rows[name]["status"] != "error" for name in rows)


def test_local_translations_agree_with_the_original_commands(lake, project):
    """find, wc, cat, git: the original command, run as it was, prints what the typed probe measures."""
    code, _, err = run_command("import_legacy", "--config", "inventory/config.yaml")
    assert code == 0, err
    rows = verify_json()
    commands = {m.full_name: m for m in MetricDefinition.objects.all()}
    import yaml

    original = {f"{c}.{n}": body["command"] for c, entries in
                yaml.safe_load((project / "inventory" / "config.yaml").read_text())["metrics"].items()
                for n, body in entries.items()}
    compared = 0
    for name, command in original.items():
        kind = commands[name].kind
        if kind not in ("file_count", "line_count", "git_commit_count") or not commands[name].enabled:
            continue
        printed = subprocess.run(["bash", "-c", command], cwd=project, capture_output=True, text=True, check=True)
        assert int(printed.stdout.split()[0]) == rows[name]["actual"], name
        compared += 1
    assert compared == 21  # 8 find counts, 9 line counts, 4 git counts
    # du counts allocated blocks rounded up (and the folders themselves): at most 1 MB more than the files.
    du = subprocess.run(["du", "-sm", "docs"], cwd=project, capture_output=True, text=True, check=True)
    assert rows["documentation.total_size_mb"]["actual"] <= int(du.stdout.split()[0]) <= 6


def test_s3_translations_fix_the_one_page_bug(lake, project):
    """The original's boto3 one-liners, run against the same server: paginated ones agree with the
    typed probes; the single-page one said 1000 where the lake holds 1200."""
    run_command("import_legacy", "--config", "inventory/config.yaml")
    rows = verify_json()
    import yaml

    commands = yaml.safe_load((project / "inventory" / "config.yaml").read_text())["metrics"]
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ['PATH']}")

    def original(category, name):
        out = subprocess.run(["bash", "-c", commands[category][name]["command"]], cwd=project, env=env,
                             capture_output=True, text=True, check=True).stdout
        return float(out)

    assert original("s3_storage", "total_objects") == rows["s3_storage.total_objects"]["actual"] == 1749
    assert original("s3_quality", "pbp_box_coverage_pct") == rows["s3_quality.pbp_box_coverage_pct"]["actual"]
    assert original("s3_quality", "espn_pbp_objects") == 1000
    assert rows["s3_quality.espn_pbp_objects"]["actual"] == 1200


def test_a_failure_is_an_error_never_zero(project, moto_server):
    """No bucket, no folders, no repository: every translated metric is an error with its reason —
    except the counts over `.`, the project folder itself, which exists and really holds no Python file."""
    code, _, err = run_command("import_legacy", "--config", "inventory/config.yaml")
    assert code == 0, err
    rows = verify_json()
    assert len(rows) == 48
    real_zeros = {"code_base.python_files", "code_base.test_files", "code_base.own_python_files"}
    assert {name: row["actual"] for name, row in rows.items() if row["status"] != "error"} == dict.fromkeys(real_zeros, 0)
    errors = {name: row for name, row in rows.items() if name not in real_zeros}
    assert all(row["status"] == "error" and row["actual"] is None and row["error"] for row in errors.values())
    assert "NoSuchBucket" in rows["s3_storage.total_objects"]["error"] or "bucket" in rows[
        "s3_storage.total_objects"]["error"].lower()
    assert "no such folder" in rows["code_base.ml_scripts"]["error"]
    assert "no such file" in rows["prediction_system.total_lines"]["error"]
    assert "git" in rows["git.total_commits"]["error"]


def test_shell_probes_on_keeps_the_untranslated_enabled(project, settings):
    settings.ADCE_ALLOW_SHELL_PROBES = True
    code, out, _ = run_command("import_metrics", "inventory/config.yaml", "--translate-shell")
    assert code == 0
    assert "shell (enabled) data_gaps.missing_games_count: a psql query" in out
    shell = MetricDefinition.objects.filter(kind="shell")
    assert set(shell.values_list("enabled", flat=True)) == {True} and shell.count() == 11
    assert shell.get(name="sync_check").params["command"].startswith("bash scripts/monitoring/check_sync.sh")


def test_dry_run_json_shows_every_translation_and_writes_nothing(project):
    code, out, err = run_command("import_metrics", "inventory/config.yaml", "--translate-shell", "--dry-run", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["dry_run"] is True and doc["translation"] == {"translated": 49, "shell": 11, "typed": 0}
    by_name = {row["metric"]: row for row in doc["metrics"]}
    assert len(by_name) == 60
    row = by_name["git.book_recommendation_commits"]
    assert row["status"] == "translated" and row["kind"] == "git_commit_count"
    assert row["command"].startswith("git log --since='2025-10-01'")
    assert row["params"] == {"repo": str(project), "since": "2025-10-01", "all_branches": True, "grep": "rec_",
                             "ignore_case": True}
    assert by_name["s3_storage.total_objects"]["notes"][0].startswith("dropped `|| echo 0`")
    psql = by_name["data_gaps.games_without_pbp"]
    assert psql["status"] == "shell" and psql["kind"] == "shell" and psql["enabled"] is False
    assert "psql" in psql["reason"] and "ADCE_ALLOW_SHELL_PROBES is off" in psql["reason"]
    assert not MetricDefinition.objects.exists()

    code, out, err = run_command("import_legacy", "--dry-run", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert len(doc["config"]["metrics"]) == 60 and doc["baselines"]["set"]
    assert not MetricDefinition.objects.exists() and not Snapshot.objects.exists()


def test_reimport_keeps_baselines_of_metrics_once_imported_as_shell(project, settings):
    """The operator imported the original config as shell first (docs' old path): translating later
    changes the kind in place and keeps baseline and history."""
    settings.ADCE_ALLOW_SHELL_PROBES = True
    assert run_command("import_metrics", "inventory/config.yaml")[0] == 0
    assert run_command("import_legacy", "--metrics-file", "inventory/metrics.yaml")[0] == 0
    before = MetricDefinition.objects.get(category="s3_storage", name="hoopr_files")
    assert before.kind == "shell" and before.baseline_value == 12
    settings.ADCE_ALLOW_SHELL_PROBES = False
    code, out, _ = run_command("import_legacy")
    assert code == 0
    after = MetricDefinition.objects.get(pk=before.pk)
    assert after.kind == "s3_object_count" and after.baseline_value == 12
    assert after.baseline_set_at == before.baseline_set_at
    code, out, _ = run_command("import_legacy")  # idempotent
    assert code == 0 and "0 new, 0 updated, 60 unchanged" in out


# --------------------------------------------------------------------------- bad input

def state():
    return (list(MetricDefinition.objects.order_by("pk").values_list("category", "name", "kind", "params", "enabled",
                                                                     "baseline_value")),
            Snapshot.objects.count(), VerificationRun.objects.count())


@pytest.mark.parametrize("args, edit, expected", [
    (["import_legacy", "--config", "inventory/nope.yaml"], None, "inventory/nope.yaml: no such file"),
    (["import_legacy"], ("config.yaml", "metrics:\n  a: [1\n"), "invalid YAML"),
    (["import_legacy"], ("config.yaml", "metrics:\n  s3:\n    x: {command: 'git rev-list --count HEAD', "
                                        "category: sometimes}\n"), "metrics.s3.x.category: must be volatile or stable"),
    (["import_legacy"], ("metrics.yaml", "git:\n  total_commits: {value: many}\n"),
     "metrics.yaml: git.total_commits.value: cannot read as integer"),
    (["import_metrics", "inventory/config.yaml", "--translate-shell"],
     ("config.yaml", "metrics:\n  g:\n    c: {command: 'git rev-list --count HEAD', critical: maybe}\n"),
     "metrics.g.c.critical: must be true or false"),
])
def test_bad_input_exits_2_one_line_nothing_changed(project, args, edit, expected):
    assert run_command("import_legacy")[0] == 0
    before = state()
    if edit is not None:
        (project / "inventory" / edit[0]).write_text(edit[1])
    code, out, err = run_command(*args)
    assert code == 2
    assert expected in err and "\n" not in err.strip() and "Traceback" not in err
    assert state() == before
