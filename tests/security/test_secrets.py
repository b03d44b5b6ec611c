"""Issue 6 item 7: no secret (ADCE_EVENTS_TOKEN, SECRET_KEY, AWS_SECRET_ACCESS_KEY) appears in logs,
command output, recorded errors, exports or HTTP answers — over a run full of failures, including
shell commands that try to print them."""
import io
import json
import logging
import textwrap
import zipfile

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from import_export.formats.base_formats import CSV, XLSX

from events.auth import sign
from metrics.models import Measurement
from metrics.resources import MeasurementResource, MetricDefinitionResource

pytestmark = pytest.mark.django_db

SECRET_KEY = "django-secret-Qx7Jt3pLw9Zr5VbN2mKc8Hd4"
EVENTS_TOKEN = "events-token-Fh3Kq9Lm2Nx7Pz5Wr8Tv1Yc6"
AWS_SECRET = "aws-secret-Bn4Gk8Hs2Jd6Lq1Wz9Xe3Rt7"
SECRETS = (SECRET_KEY, EVENTS_TOKEN, AWS_SECRET)


@pytest.fixture
def secrets(settings, monkeypatch, aws_env):
    settings.SECRET_KEY = SECRET_KEY
    settings.ADCE_EVENTS_TOKEN = EVENTS_TOKEN
    settings.ADCE_ALLOW_SHELL_PROBES = True
    settings.ADCE_S3_MAX_ATTEMPTS = 1
    monkeypatch.setenv("SECRET_KEY", SECRET_KEY)
    monkeypatch.setenv("ADCE_EVENTS_TOKEN", EVENTS_TOKEN)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")  # nothing listens: the S3 probe fails
    import django_q.tasks

    monkeypatch.setattr(django_q.tasks, "async_task", lambda *a, **k: "task-id")


def assert_clean(label, text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    for secret in SECRETS:
        assert secret not in text, f"{label} leaks a secret"
        assert secret[:16] not in text, f"{label} leaks part of a secret"


CONFIG = """
metrics:
  leak:
    own_secrets:   {command: 'echo "$SECRET_KEY $ADCE_EVENTS_TOKEN" >&2; exit 3'}
    aws_stderr:    {command: 'echo "key=$AWS_SECRET_ACCESS_KEY" >&2; exit 4'}
    aws_stdout:    {command: 'echo "$AWS_SECRET_ACCESS_KEY"', parse_type: string}
    own_stdout:    {command: 'echo "$SECRET_KEY$ADCE_EVENTS_TOKEN" | wc -c'}
  s3:
    unreachable:   {kind: s3_object_count, location: "s3://no-such-bucket/x/"}
  files:
    missing:       {kind: file_count, path: /nonexistent/adce}
"""


def test_no_secret_anywhere_after_a_run_with_failures(secrets, tmp_path, monkeypatch, caplog, admin_client):
    caplog.set_level(logging.DEBUG)
    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "leak.yaml"
    cfg.write_text(textwrap.dedent(CONFIG))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_metrics", str(cfg), stdout=out, stderr=err)
    with pytest.raises(SystemExit):
        call_command("verify", "--json", stdout=out, stderr=err)
    doc = json.loads(out.getvalue()[out.getvalue().index("{"):])
    by_name = {m["metric"]: m for m in doc["metrics"]}
    assert all(m["status"] == "error" for n, m in by_name.items() if n not in ("leak.aws_stdout", "leak.own_stdout")), by_name
    # The command did run; what it printed is recorded redacted, never the key.
    assert by_name["leak.aws_stderr"]["error"] == "command exited with status 4: key=[redacted]"
    assert Measurement.objects.get(metric__name="aws_stdout").value == "[redacted]"
    # ADCE's own secrets are not even in the command's environment: one byte (the newline).
    assert Measurement.objects.get(metric__name="own_stdout").value == 1

    # A failing import and bad HTTP credentials: the messages name no secret.
    bad = tmp_path / "bad.yaml"
    bad.write_text(f"metrics:\n  x:\n    y: {{kind: file_count, path: {AWS_SECRET}, nope: 1}}\n")
    with pytest.raises(CommandError) as exc:
        call_command("import_metrics", str(bad))
    answers = [str(exc.value)]
    body = json.dumps({"type": "scraper_complete"}).encode()
    for headers in ({"HTTP_AUTHORIZATION": f"Bearer {EVENTS_TOKEN}x"},
                    {"HTTP_AUTHORIZATION": f"Bearer {EVENTS_TOKEN[:-1]}"},
                    {"HTTP_X_ADCE_SIGNATURE": sign(body, EVENTS_TOKEN)[:-2] + "00"},
                    {"HTTP_X_ADCE_SIGNATURE": sign(body, EVENTS_TOKEN)},
                    {"HTTP_X_ADCE_SIGNATURE": sign(body, EVENTS_TOKEN)},  # the replay
                    {}):
        r = Client().post("/api/events/", data=body, content_type="application/json", **headers)
        assert r.status_code in (202, 401, 403, 409)
        answers.append(r.content.decode())
    assert_clean("error messages and HTTP answers", "\n".join(answers))

    # Exports (CSV and XLSX) of measurements and metric definitions.
    for resource in (MeasurementResource(), MetricDefinitionResource()):
        dataset = resource.export()
        assert_clean(f"{type(resource).__name__} CSV", CSV().export_data(dataset))
        with zipfile.ZipFile(io.BytesIO(XLSX().export_data(dataset))) as xlsx:
            assert_clean(f"{type(resource).__name__} XLSX", b"".join(xlsx.read(n) for n in xlsx.namelist()))
    # The admin pages that show errors and values.
    for url in ("/admin/metrics/measurement/", "/admin/metrics/metricdefinition/", "/admin/events/event/"):
        page = admin_client.get(url)
        assert page.status_code == 200
        assert_clean(url, page.content)

    assert_clean("command output", out.getvalue() + err.getvalue())
    assert_clean("logs", caplog.text + "\n".join(str(r.__dict__) for r in caplog.records))
    recorded = list(Measurement.objects.values_list("error", flat=True)) + \
        [json.dumps(v) for v in Measurement.objects.values_list("value", flat=True)]
    assert_clean("measurements", "\n".join(recorded))
