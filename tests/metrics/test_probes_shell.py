"""shell: off by default; when allowed, a timeout and stderr on failure — never `|| echo 0`."""
import pytest

from metrics.probes import REGISTRY, ProbeContext, ProbeError


def run(tmp_path, **params):
    probe = REGISTRY["shell"]
    return probe.func(probe.validate(params, base_dir=tmp_path), ProbeContext())


def test_refused_when_not_allowed(tmp_path):
    with pytest.raises(ProbeError, match="ADCE_ALLOW_SHELL_PROBES"):
        run(tmp_path, command="echo 1")


def test_runs_in_import_dir(settings, tmp_path):
    settings.ADCE_ALLOW_SHELL_PROBES = True
    (tmp_path / "a.md").write_text("x")
    (tmp_path / "b.md").write_text("x")
    assert run(tmp_path, command="ls *.md | wc -l").strip() == "2"


def test_non_zero_exit_carries_stderr(settings, tmp_path):
    settings.ADCE_ALLOW_SHELL_PROBES = True
    with pytest.raises(ProbeError, match="status 3: bad thing"):
        run(tmp_path, command="echo bad thing >&2; exit 3")


def test_timeout(settings, tmp_path):
    settings.ADCE_ALLOW_SHELL_PROBES = True
    settings.ADCE_PROBE_TIMEOUT_SECONDS = 0.2
    with pytest.raises(ProbeError, match="timed out"):
        run(tmp_path, command="sleep 5")


def test_empty_output_is_an_error(settings, tmp_path):
    settings.ADCE_ALLOW_SHELL_PROBES = True
    with pytest.raises(ProbeError, match="printed nothing"):
        run(tmp_path, command="true")
