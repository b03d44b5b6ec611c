import pytest
from django.core.management import call_command
from django.test import Client


@pytest.mark.django_db
def test_admin_login_page_renders():
    response = Client().get("/admin/login/")
    assert response.status_code == 200
    assert b"ADCE" in response.content


@pytest.mark.django_db
def test_no_model_changes_without_migrations():
    # Fails when a model was changed without its migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_default_settings_need_no_services(settings):
    # A fresh laptop: SQLite and the django-q2 ORM broker unless the environment says otherwise.
    import os

    if not os.environ.get("DATABASE_URL"):
        assert settings.DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3"
    if not os.environ.get("ADCE_REDIS_URL"):
        assert settings.Q_CLUSTER.get("orm") == "default"
    assert settings.Q_CLUSTER["timeout"] < settings.Q_CLUSTER["retry"]
    assert settings.ADCE_ALLOW_SHELL_PROBES is False
