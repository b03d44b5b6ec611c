"""Issue 6 item 7: shell probes are refused unless ADCE_ALLOW_SHELL_PROBES is on — at import time
and again at probe time (a metric imported while allowed does not run once it is turned off)."""
import io
import textwrap

import pytest
from django.core.management import CommandError, call_command

from metrics.models import Measurement, MetricDefinition

pytestmark = pytest.mark.django_db


def shell_config(tmp_path, marker):
    path = tmp_path / "shell.yaml"
    path.write_text(textwrap.dedent(f"""
        metrics:
          legacy:
            touch:
              command: "touch {marker} && echo 1"
              parse_type: integer
    """))
    return path


def test_import_refused_when_off(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "ran"
    with pytest.raises(CommandError) as exc:
        call_command("import_metrics", str(shell_config(tmp_path, marker)))
    assert exc.value.returncode == 2 and "ADCE_ALLOW_SHELL_PROBES" in str(exc.value)
    assert "\n" not in str(exc.value)
    assert MetricDefinition.objects.count() == 0 and not marker.exists()


def test_probe_refused_at_run_time_once_turned_off(tmp_path, monkeypatch, settings):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "ran"
    settings.ADCE_ALLOW_SHELL_PROBES = True
    call_command("import_metrics", str(shell_config(tmp_path, marker)), stdout=io.StringIO())
    settings.ADCE_ALLOW_SHELL_PROBES = False
    out = io.StringIO()
    with pytest.raises(SystemExit):  # verify exits 1: the metric is in error
        call_command("verify", "--json", stdout=out)
    m = Measurement.objects.get()
    assert m.status == "error" and "disabled" in m.error and m.value is None
    assert not marker.exists(), "the command ran although shell probes are off"
    # Turned on again (an operator decision), it runs.
    settings.ADCE_ALLOW_SHELL_PROBES = True
    call_command("verify", "--json", stdout=io.StringIO())
    assert marker.exists()


def test_shell_metric_not_editable_in_admin(tmp_path, monkeypatch, settings, admin_client):
    monkeypatch.chdir(tmp_path)
    settings.ADCE_ALLOW_SHELL_PROBES = True
    call_command("import_metrics", str(shell_config(tmp_path, tmp_path / "ran")), stdout=io.StringIO())
    metric = MetricDefinition.objects.get()
    before = (metric.params, metric.enabled)
    admin_client.post(f"/admin/metrics/metricdefinition/{metric.pk}/change/",
                      {"params": '{"command": "rm -rf /"}', "enabled": ""})
    metric.refresh_from_db()
    assert (metric.params, metric.enabled) == before
