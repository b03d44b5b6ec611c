"""The translator of the original's shell one-liners (adce_site/legacy_shell/, SPEC §11): each family
in each spelling the original used, and the commands that stay shell with their reason. Pure: no I/O."""
from pathlib import Path

import pytest
import yaml

from adce_site.legacy_shell import translate

FIXTURE = Path(__file__).parent / "legacy_inventory" / "inventory" / "config.yaml"
B = "courtside-raw-lake"
PAGINATED = ("import boto3; s3 = boto3.client('s3'); pages = s3.get_paginator('list_objects_v2')"
             ".paginate(Bucket='" + B + "', Prefix='espn/pbp/'); objs = [o for p in pages for o in p.get('Contents', [])]; ")
ONE_PAGE = "import boto3; r = boto3.client('s3').list_objects_v2(Bucket='" + B + "', Prefix='espn/pbp/'); objs = r['Contents']; "
PBP = f"s3://{B}/espn/pbp/"


def py(code: str, tail: str = " 2>/dev/null || echo 0") -> str:
    return f'python3 -c "{code}"{tail}'


FAMILIES = [
    # aws s3 ls --recursive | wc -l, and its grep / --summarize spellings
    (f"aws s3 ls s3://{B}/hoopr_parquet/ --recursive 2>/dev/null | wc -l | tr -d ' '",
     "s3_object_count", {"location": f"s3://{B}/hoopr_parquet/"}),
    (f"aws s3 ls s3://{B}/hoopr_parquet --recursive | wc -l", "s3_object_count", {"location": f"s3://{B}/hoopr_parquet/"}),
    (f"aws s3 ls s3://{B} --recursive | wc -l", "s3_object_count", {"location": f"s3://{B}/"}),
    (f"aws s3 ls {PBP} --recursive | grep -c '.json'", "s3_object_count", {"location": PBP, "suffix": ".json"}),
    (f"aws s3 ls {PBP} --recursive | grep '\\.json$' | wc -l", "s3_object_count", {"location": PBP, "suffix": ".json"}),
    (f"aws s3 ls {PBP} --recursive | grep -c parquet$", "s3_object_count", {"location": PBP, "suffix": "parquet"}),
    (f"aws s3 ls s3://{B} --recursive --summarize 2>/dev/null | grep 'Total Objects' | awk '{{print $3}}'",
     "s3_object_count", {"location": f"s3://{B}/"}),
    (f"aws s3 ls s3://{B} --recursive --summarize | grep 'Total Size' | awk '{{print $3/1024/1024/1024}}'",
     "s3_total_bytes", {"location": f"s3://{B}/", "unit": "GB"}),
    (f"aws s3 ls s3://{B} --recursive --summarize | grep 'Total Size' | awk '{{print $3/1024^2}}'",
     "s3_total_bytes", {"location": f"s3://{B}/", "unit": "MB"}),
    (f"aws s3api list-objects-v2 --bucket {B} --prefix espn/pbp/ --query 'length(Contents)' --output text",
     "s3_object_count", {"location": PBP}),
    (f"aws s3api list-objects-v2 --bucket={B} --query 'sum(Contents[].Size)'", "s3_total_bytes",
     {"location": f"s3://{B}/", "unit": "bytes"}),
    # boto3: count
    (py("import boto3; s3 = boto3.client('s3'); paginator = s3.get_paginator('list_objects_v2'); pages = "
        f"paginator.paginate(Bucket='{B}'); print(sum(len(page.get('Contents', [])) for page in pages))"),
     "s3_object_count", {"location": f"s3://{B}/"}),
    (py(f"import boto3; r = boto3.client('s3').list_objects_v2(Bucket='{B}', Prefix='espn/pbp/'); print(r['KeyCount'])"),
     "s3_object_count", {"location": PBP}),
    (py(ONE_PAGE + "print(len(objs))"), "s3_object_count", {"location": PBP}),
    (py(PAGINATED + "print(len([o for o in objs if o['Key'].endswith('.json')]))"), "s3_object_count",
     {"location": PBP, "suffix": ".json"}),
    (py(PAGINATED + "print(sum(1 for o in objs))"), "s3_object_count", {"location": PBP}),
    # boto3: sizes ÷ 1024ⁿ
    (py(PAGINATED + "print(round(sum(o['Size'] for o in objs) / 1024 / 1024 / 1024, 2))"), "s3_total_bytes",
     {"location": PBP, "unit": "GB"}),
    (py(PAGINATED + "print(sum(o['Size'] for o in objs) / 1024 ** 2)"), "s3_total_bytes", {"location": PBP, "unit": "MB"}),
    (py(PAGINATED + "print(sum(o['Size'] for o in objs) / (1024 * 1024))"), "s3_total_bytes",
     {"location": PBP, "unit": "MB"}),
    (py(PAGINATED + "print(f\\\"{sum(o['Size'] for o in objs) / 1073741824:.2f}\\\")"), "s3_total_bytes",
     {"location": PBP, "unit": "GB"}),
    (py(PAGINATED + "print(sum(o['Size'] for o in objs))"), "s3_total_bytes", {"location": PBP, "unit": "bytes"}),
    # boto3: objects below a size
    (py(PAGINATED + "print(len([o for o in objs if o['Size'] < 1024]))"), "s3_small_object_count",
     {"location": PBP, "below_bytes": 1024}),
    (py(ONE_PAGE + "print(sum(1 for o in objs if o['Size'] <= 100))"), "s3_small_object_count",
     {"location": PBP, "below_bytes": 101}),
    (py(PAGINATED + "print(len([o for o in objs if 10 * 1024 > o['Size']]))"), "s3_small_object_count",
     {"location": PBP, "below_bytes": 10240}),
    # boto3: average size
    (py(PAGINATED + "print(round(sum(o['Size'] for o in objs) / len(objs) / 1024, 2))"), "s3_average_bytes",
     {"location": PBP, "unit": "KB"}),
    (py("import boto3, statistics; " + ONE_PAGE[len("import boto3; "):] + "print(statistics.mean(o['Size'] for o in objs))"),
     "s3_average_bytes", {"location": PBP, "unit": "bytes"}),
    # boto3: ratio of two counts
    (py("import boto3; s3 = boto3.client('s3'); pg = s3.get_paginator('list_objects_v2'); a = sum(len(p.get('Contents', [])) "
        f"for p in pg.paginate(Bucket='{B}', Prefix='espn/pbp/')); b = sum(len(p.get('Contents', [])) for p in "
        f"pg.paginate(Bucket='{B}', Prefix='espn/box_scores/')); print(round(a / b * 100, 2))"),
     "s3_object_ratio", {"location": PBP, "denominator_location": f"s3://{B}/espn/box_scores/", "scale": 100}),
    (py(f"import boto3; s3 = boto3.client('s3'); a = s3.list_objects_v2(Bucket='{B}', Prefix='x/')['KeyCount']; "
        f"b = s3.list_objects_v2(Bucket='{B}', Prefix='y/')['KeyCount']; print(a / b)"),
     "s3_object_ratio", {"location": f"s3://{B}/x/", "denominator_location": f"s3://{B}/y/"}),
    (py(PAGINATED + "print(100 * len([o for o in objs if o['Key'].endswith('.json')]) / len(objs))"),
     "s3_object_ratio", {"location": PBP, "suffix": ".json", "denominator_location": PBP, "scale": 100}),
    # boto3: the newest object's age, in hours or days
    (py("import boto3, datetime; " + PAGINATED[len("import boto3; "):] + "print((datetime.datetime.now(datetime.timezone.utc)"
        " - max(o['LastModified'] for o in objs)).total_seconds() / 3600)"), "s3_newest_age_hours", {"location": PBP}),
    (py("import boto3; from datetime import datetime, timezone; " + ONE_PAGE[len("import boto3; "):]
        + "print((datetime.now(timezone.utc) - objs[-1]['LastModified']).days)", " || echo 999"),
     "s3_newest_age_days", {"location": PBP}),
    (py("import boto3, time; " + ONE_PAGE[len("import boto3; "):]
        + "print(int((time.time() - max(o['LastModified'] for o in objs).timestamp()) / 60 / 60))"),
     "s3_newest_age_hours", {"location": PBP}),
    (py("import boto3, time; " + ONE_PAGE[len("import boto3; "):]
        + "print((time.time() - sorted(objs, key=lambda o: o['Key'])[-1]['LastModified'].timestamp()) / 86400)"),
     "s3_newest_age_days", {"location": PBP}),
    # find DIR -name GLOB -type f | wc -l (with -path filters)
    ("find . -name '*.py' -type f 2>/dev/null | wc -l | tr -d ' '", "file_count", {"path": ".", "glob": "**/*.py"}),
    ("find docs -type f -name '*.md' | wc -l", "file_count", {"path": "docs", "glob": "**/*.md"}),
    ("find . -path '*/test*' -name '*.py' -type f 2>/dev/null | wc -l", "file_count",
     {"path": ".", "glob": "**/*.py", "path_match": ["*/test*"]}),
    ("find . -type f -name '*.py' -not -path './.venv/*' ! -path '*/node_modules/*' | wc -l", "file_count",
     {"path": ".", "glob": "**/*.py", "path_not_match": ["./.venv/*", "*/node_modules/*"]}),
    ("find scripts -path 'scripts/ml/*' -name '*.py' -type f | wc -l", "file_count",
     {"path": "scripts", "glob": "**/*.py", "path_match": ["./ml/*"]}),
    ("find scripts -maxdepth 1 -name '*.sh' -type f | wc -l | xargs", "file_count", {"path": "scripts", "glob": "*.sh"}),
    # wc -l FILES | tail -1
    ("wc -l a.py b.py 2>/dev/null | tail -1 | awk '{print $1}'", "line_count", {"files": ["a.py", "b.py"]}),
    ("wc -l a.py b.py | tail -n 1", "line_count", {"files": ["a.py", "b.py"]}),
    ("wc -l scripts/a.py 2>/dev/null | awk '{print $1}'", "line_count", {"files": ["scripts/a.py"]}),
    ("wc -l < scripts/a.sh", "line_count", {"files": ["scripts/a.sh"]}),
    ("cat docs/a.md docs/b.md 2>/dev/null | wc -l", "line_count", {"files": ["docs/a.md", "docs/b.md"]}),
    # find DIR -name GLOB -exec cat {} \; | wc -l
    ("find sql/plus_minus -name '*.sql' -exec cat {} \\; 2>/dev/null | wc -l", "line_count",
     {"path": "sql/plus_minus", "glob": "**/*.sql"}),
    ("find sql -type f -name '*.sql' -exec cat {} + | wc -l", "line_count", {"path": "sql", "glob": "**/*.sql"}),
    # du -sm|-sg DIR
    ("du -sm docs 2>/dev/null | awk '{print $1}'", "dir_size", {"path": "docs", "unit": "MB"}),
    ("du -sg ~/archive 2>/dev/null | awk '{print $1}'", "dir_size", {"path": "~/archive", "unit": "GB"}),
    ("[ -d ~/tmp-data ] && du -sg ~/tmp-data 2>/dev/null | awk '{print $1}' || echo 0", "dir_size",
     {"path": "~/tmp-data", "unit": "GB"}),
    ("du -s -k /data/x | cut -f1", "dir_size", {"path": "/data/x", "unit": "KB"}),
    # git log --since=D --oneline [--all] | grep -i X | wc -l
    ("git log --since='2025-10-01' --oneline --all 2>/dev/null | grep -i 'rec_' | wc -l | tr -d ' '",
     "git_commit_count", {"repo": ".", "since": "2025-10-01", "all_branches": True, "grep": "rec_", "ignore_case": True}),
    ("git log --since 2025-10-01 --oneline | grep rec_ | wc -l", "git_commit_count",
     {"repo": ".", "since": "2025-10-01", "grep": "rec_"}),
    ("git log --oneline | grep -ic 'fix'", "git_commit_count", {"repo": ".", "grep": "fix", "ignore_case": True}),
    ("git log --after=2025-01-01 --oneline --all | wc -l", "git_commit_count",
     {"repo": ".", "since": "2025-01-01", "all_branches": True}),
    ("git -C ../other log --oneline | wc -l", "git_commit_count", {"repo": "../other"}),
    ("git rev-list --count HEAD", "git_commit_count", {"repo": "."}),
    # a file's age from stat (the newest-age family over that one file)
    ("[ -f docs/INV.md ] && echo $(( ($(date +%s) - $(stat -f %m docs/INV.md)) / 86400 )) || echo 999",
     "s3_newest_age_days", {"location": "file://docs/", "glob": "INV.md"}),
    ("echo $(( ($(date +%s) - $(stat -c %Y state.json)) / 3600 ))", "s3_newest_age_hours",
     {"location": "file://./", "glob": "state.json"}),
]


@pytest.mark.parametrize("command, kind, params", FAMILIES)
def test_each_family_and_spelling(command, kind, params):
    result = translate(command)
    assert (result.kind, result.params) == (kind, params), result.reason
    assert result.family and result.reason is None


@pytest.mark.parametrize("command", [
    "aws s3 ls s3://b/p/ --recursive 2>/dev/null | wc -l || echo 0",
    py("import boto3; print(len(boto3.client('s3').list_objects_v2(Bucket='b')['Contents']))", " || echo 0"),
    "[ -d ~/x ] && du -sg ~/x | awk '{print $1}' || echo 0",
])
def test_fallback_zero_is_dropped_and_said(command):
    result = translate(command)
    assert result.translated
    assert any("|| echo 0" in note and "error" in note for note in result.notes)


def test_first_page_and_key_order_bugs_are_named():
    one_page = translate(py(ONE_PAGE + "print(len(objs))"))
    assert "not the first 1,000 keys" in " ".join(one_page.notes)
    age = translate(py("import boto3, time; " + ONE_PAGE[len("import boto3; "):]
                       + "print((time.time() - objs[-1]['LastModified'].timestamp()) / 3600)"))
    assert "by LastModified, not the last key" in " ".join(age.notes)


@pytest.mark.parametrize("command, reason", [
    ("PGPASSWORD=$P psql -h $H -U $U -d db -t -c \"SELECT COUNT(*) FROM games\" | tr -d ' ' || echo 0", "psql"),
    ("aws rds describe-db-instances --db-instance-identifier x --query 'DBInstances[0].AllocatedStorage'", "AWS API"),
    ("aws s3 ls s3://b/ --max-items 1 >/dev/null 2>&1 && echo 'accessible' || echo 'unavailable'", "accessibility"),
    ("echo $(($(find a -name '*.py' -exec cat {} \\; | wc -l) + $(wc -l b | awk '{print $1}')))", "arithmetic"),
    ("bash scripts/check_sync.sh --brief 2>/dev/null || echo unknown", "script"),
    ("[ -f docs/F.md ] && grep -c '^###' docs/F.md 2>/dev/null || echo 0", "inside a file"),
    (py("import boto3; gb = sum(o['Size'] for p in boto3.client('s3').get_paginator('list_objects_v2').paginate("
        "Bucket='b') for o in p.get('Contents', [])) / 1024 ** 3; print(f'{gb * 0.023 + 29:.2f}')"), "cost"),
    ("git log --since='2 weeks ago' --oneline | wc -l", "relative dates"),
    ("git log --since=2025-01-01 | wc -l", "--oneline"),
    ("aws s3 ls s3://b/p/ | wc -l", "without --recursive"),
    ("aws s3 ls s3://$BUCKET/p/ --recursive | wc -l", "shell variable"),
    ("find docs -name '*.md' | wc -l", "-type f"),
    ("find docs -name '*.md' -type f -newer x | wc -l", "-newer"),
    ("wc -l a.py b.py", "tail -1"),
    ("du -sh docs", "du other than"),
    ("find . -name '*.py' -type f | head -5", "wc -l"),
    (py("import json; print(1)"), "boto3"),
    (py("import boto3; print(boto3.client('s3').list_buckets())"), "Bucket="),
    ("ls docs | wc -l", "no known one-liner"),
    ("", "empty"),
    ("aws s3 ls 's3://b/p/ --recursive | wc -l", "cannot read"),
])
def test_what_stays_shell_says_why(command, reason):
    result = translate(command)
    assert result.kind == "shell" and result.params == {}
    assert reason in result.reason


def test_fixture_translates_in_the_proportion_the_spec_asks():
    """The fixture has the original's shape and every family; at least 45/68 of it must translate."""
    doc = yaml.safe_load(FIXTURE.read_text())
    commands = {f"{c}.{n}": body["command"] for c, entries in doc["metrics"].items() for n, body in entries.items()}
    assert len(commands) >= 50
    shell = {name for name, command in commands.items() if not translate(command).translated}
    assert shell == {
        "plus_minus_system.total_lines", "git.recent_commits", "file_inventory.total_files_documented",
        "aws_inventory.rds_database_size_gb", "aws_inventory.rds_allocated_storage_gb",
        "aws_inventory.monthly_cost_estimate_usd", "aws_inventory.lambda_functions",
        "data_gaps.missing_games_count", "data_gaps.games_without_pbp", "sync_status.local_s3_sync_status",
        "sync_status.sync_check"}
    assert (len(commands) - len(shell)) / len(commands) >= 45 / 68


def test_translate_document_keeps_the_metric_and_reports_every_one():
    from adce_site.legacy_shell import translate_document

    body = {"command": "du -sm docs 2>/dev/null | awk '{print $1}'", "parse_type": "integer", "precision": 0,
            "category": "volatile", "description": "docs size", "critical": True, "enabled": False}
    doc = {"version": "1.0.0", "metrics": {
        "documentation": {"total_size_mb": body},
        "aws": {"bad_bucket": {"command": "aws s3 ls s3://Bad_Bucket!/ --recursive | wc -l"},
                "psql": {"command": "psql -c 'SELECT 1'", "enabled": False}},
        "native": {"files": {"kind": "file_count", "path": "."}}}}
    report = []
    out = translate_document(doc, base_dir="/srv/project", allow_shell=False, report=report)
    assert out["version"] == "1.0.0" and doc["metrics"]["documentation"]["total_size_mb"] is body  # input untouched
    assert out["metrics"]["documentation"]["total_size_mb"] == {
        "kind": "dir_size", "path": "docs", "unit": "MB", "parse_type": "integer", "precision": 0,
        "category": "volatile", "description": "docs size", "critical": True, "enabled": False}
    rows = {row["metric"]: row for row in report}
    assert list(rows) == ["documentation.total_size_mb", "aws.bad_bucket", "aws.psql", "native.files"]
    assert rows["documentation.total_size_mb"]["params"] == {"path": "/srv/project/docs", "unit": "MB"}
    # A translation its kind refuses stays shell, with the reason; shell is imported disabled.
    assert out["metrics"]["aws"]["bad_bucket"]["enabled"] is False
    assert rows["aws.bad_bucket"]["status"] == "shell"
    assert rows["aws.bad_bucket"]["reason"].startswith("translated to s3_object_count, but location:")
    assert rows["aws.psql"]["enabled"] is False and rows["native.files"]["status"] == "typed"

    report = []
    out = translate_document(doc, base_dir="/srv/project", allow_shell=True, report=report)
    assert "enabled" not in out["metrics"]["aws"]["bad_bucket"]
    assert [row["enabled"] for row in report] == [False, True, False, True]
