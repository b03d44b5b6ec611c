"""Shared fixtures. Tests mirror the code layout: tests/<app>/test_<module>.py."""
import os

import pytest
from django.db import connection

pytest_plugins = ["tests.s3_helpers"]


def pytest_collection_modifyitems(config, items):
    """`@pytest.mark.postgres` tests need PostgreSQL. On SQLite they are skipped, *unless*
    ADCE_REQUIRE_POSTGRES=1 (set by .ci/run for its PostgreSQL pass), where running on
    anything else is a failure, never a silent skip."""
    for item in items:
        if "postgres" in item.keywords:
            item.fixturenames.append("_require_postgres")


@pytest.fixture
def _require_postgres():
    if connection.vendor != "postgresql":
        if os.environ.get("ADCE_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"ADCE_REQUIRE_POSTGRES=1 but the test database is {connection.vendor}")
        pytest.skip("needs PostgreSQL: runs in the PostgreSQL pass of .ci/run")


@pytest.fixture(scope="session")
def _static_root(tmp_path_factory):
    # Outside each test's tmp_path, which some tests expect to find empty.
    return tmp_path_factory.mktemp("static")


@pytest.fixture
def _snapshot_root(tmp_path_factory):
    # One per test, beside its tmp_path: scan ids (file names) repeat from test to test.
    return tmp_path_factory.mktemp("inventory-snapshots")


@pytest.fixture(autouse=True)
def _isolated_settings(settings, _static_root, _snapshot_root):
    # No test may depend on (or leak into) the developer's environment.
    settings.ADCE_ALLOW_SHELL_PROBES = False
    settings.ADCE_EVENTS_TOKEN = "test-token"
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.ADCE_NOTIFY_WEBHOOK_URL = ""
    # The manifest storage needs a `collectstatic` first; tests render pages without one (the demo's
    # browser test, tests/browser/test_demo_server.py, serves the real collected, hashed files).
    settings.ADCE_INVENTORY_SNAPSHOT_DIR = str(_snapshot_root)  # never the project's var/
    settings.STATIC_ROOT = _static_root  # `demo` collects static files here
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    yield


@pytest.fixture
def aws_env(monkeypatch):
    """Fake credentials so boto3 never reaches for a real account."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_SESSION_TOKEN", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
