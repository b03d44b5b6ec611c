"""`manage.py check --deploy` passes with the production environment docs/deployment.md shows, and the
laptop defaults (no environment) are what they must be: plain http on 127.0.0.1 keeps working."""
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "deployment.md"
# Variables of the surrounding environment that would change the settings under test.
SETTINGS_VARS = re.compile(r"^(SECRET_KEY|DEBUG|ALLOWED_HOSTS|CSRF_.*|SECURE_.*|SESSION_.*|DATABASE_URL|ADCE_.*"
                           r"|STATIC_ROOT|DJANGO_SETTINGS_MODULE|LOG_LEVEL|EMAIL_.*|DEFAULT_FROM_EMAIL)$")


def documented_env() -> dict[str, str]:
    """KEY=VALUE lines of the block after the `deploy-env` marker of docs/deployment.md."""
    text = DOC.read_text()
    block = re.search(r"<!-- deploy-env.*?-->\s*```sh\n(.*?)```", text, re.S)
    assert block, "docs/deployment.md lost its deploy-env block"
    env = {}
    for line in block.group(1).splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep and re.fullmatch(r"[A-Z][A-Z0-9_]*", key), f"not KEY=VALUE: {line!r}"
        env[key] = value
    return env


def clean_env(tmp_path, extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not SETTINGS_VARS.match(k)}
    env.update(extra)
    env["ADCE_VAR_DIR"] = str(tmp_path / "var")  # never the repository's var/
    return env


def manage(tmp_path, env, *args):
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], cwd=tmp_path,
                          env=clean_env(tmp_path, env), capture_output=True, text=True, timeout=120)


def production_env(tmp_path) -> dict[str, str]:
    env = documented_env()
    assert env["SECRET_KEY"].startswith("<"), "the doc must show a placeholder, never a real key"
    env["SECRET_KEY"] = secrets.token_urlsafe(64)
    env["ADCE_EVENTS_TOKEN"] = secrets.token_urlsafe(32)
    # `check` does not connect to the database; keep the run self-contained all the same.
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'deploy.sqlite3'}"
    env["STATIC_ROOT"] = str(tmp_path / "static")
    return env


def test_documented_production_environment_passes_check_deploy(tmp_path):
    env = documented_env()
    for key in ("SECRET_KEY", "DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
                "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "DATABASE_URL"):
        assert key in env, f"docs/deployment.md does not set {key}"
    proc = manage(tmp_path, production_env(tmp_path), "check", "--deploy", "--fail-level", "WARNING")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "System check identified no issues (0 silenced)." in proc.stdout
    assert "WARNING" not in proc.stderr and "?: (security" not in proc.stderr


def test_documented_deploy_serves_hashed_static_files_from_the_app(tmp_path):
    """collectstatic (the documented deploy step) then WhiteNoise in the WSGI app: the admin's stylesheet
    answers 200 under its hashed name with a far-future cache header, with no proxy and DEBUG off."""
    env = production_env(tmp_path)
    proc = manage(tmp_path, env, "collectstatic", "--noinput", "-v", "0")
    assert proc.returncode == 0, proc.stderr
    manifest = (tmp_path / "static" / "staticfiles.json").read_text()
    assert '"admin/css/base.css": "admin/css/base.' in manifest
    code = ("from django.test import Client; from django.templatetags.static import static; "
            "url = static('admin/css/base.css'); "
            "r = Client().get(url, secure=True, HTTP_HOST='adce.example.com'); "
            "print(url, r.status_code, r.headers.get('Cache-Control'), r.headers.get('Content-Type'), sep='|')")
    proc = manage(tmp_path, env, "shell", "-c", code)
    assert proc.returncode == 0, proc.stderr
    url, status, cache, ctype = proc.stdout.strip().splitlines()[-1].split("|")
    assert url.startswith("/static/admin/css/base.") and url != "/static/admin/css/base.css"
    assert status == "200" and "immutable" in cache and ctype.startswith("text/css"), proc.stdout


def test_laptop_defaults_serve_plain_http(tmp_path):
    code = ("from django.conf import settings as s; print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
            "s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER, '127.0.0.1' in s.ALLOWED_HOSTS, "
            "s.X_FRAME_OPTIONS, s.SECURE_CONTENT_TYPE_NOSNIFF)")
    proc = manage(tmp_path, {}, "shell", "-c", code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1].split() == ["False", "False", "False", "False", "0", "None", "True", "DENY", "True"]
    # …and that is why the laptop defaults must never be deployed:
    proc = manage(tmp_path, {}, "check", "--deploy", "--fail-level", "WARNING")
    assert proc.returncode == 1
    for warning in ("W004", "W008", "W009", "W012", "W016"):
        assert f"security.{warning}" in proc.stderr
