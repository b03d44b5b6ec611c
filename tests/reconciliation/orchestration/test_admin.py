"""Admin: the Scrapers page (state, usage against the limits, last success/failure, pause/resume), the
task's run history, the loop's health on the home page."""
import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.urls import reverse

from reconciliation.models import Task
from reconciliation.orchestration.models import Scraper
from reconciliation.orchestration.dispatch import dispatch_once

from .test_services import declare, demo_command


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.mark.django_db
def test_scrapers_page_shows_usage_and_failures_and_pauses(admin_client, lake, tmp_path):
    declare(tmp_path, demo_command("--fail-ids", "g2") + '    max_concurrency: 5\n    rate_limit: "30/minute"\n',
            limits='  max_concurrency: 3\n  rate_limit: "100/hour"\n')
    dispatch_once()
    url = reverse("admin:reconciliation_scraper_changelist")
    page = admin_client.get(url).content.decode()
    assert "espn_scraper" in page and "3 / 30/minute" in page  # starts in the current window vs its limit
    assert "could not fetch espn.pbp g2" in page  # the last failure's reason
    assert "3 starts in the current window of 100/hour" in page
    scraper = Scraper.objects.get()
    admin_client.post(url, {"action": "pause_scrapers", ACTION_CHECKBOX_NAME: [scraper.pk]})
    scraper.refresh_from_db()
    assert scraper.is_paused() and scraper.pause_reason == "paused by admin"
    assert "paused until" in admin_client.get(url).content.decode()
    admin_client.post(url, {"action": "resume_scrapers", ACTION_CHECKBOX_NAME: [scraper.pk]})
    scraper.refresh_from_db()
    assert not scraper.is_paused() and scraper.consecutive_failures == 0


@pytest.mark.django_db
def test_task_page_lists_its_runs(admin_client, lake, tmp_path):
    declare(tmp_path, demo_command("--fail-ids", "g2") + "    max_concurrency: 5\n")
    dispatch_once()
    task = Task.objects.get(gaps__partition="g2")
    page = admin_client.get(reverse("admin:reconciliation_task_change", args=[task.pk])).content.decode()
    assert "could not fetch espn.pbp g2" in page and "exit status 1" in page
    runs = admin_client.get(reverse("admin:reconciliation_scraperrun_changelist") + f"?task__id__exact={task.pk}")
    assert runs.status_code == 200


@pytest.mark.django_db
def test_home_shows_the_loops_health(admin_client):
    page = admin_client.get(reverse("admin:index")).content.decode()
    assert 'id="panel-loop-health"' in page and "Gaps healed in the last 24 h" in page
    assert "unknown" in page  # no gap healed yet: time to heal is unknown, not 0
