"""`manage.py demo` declares the demo scraper; the loop heals the demo lake except the game ids the
scraper fails on purpose (SPEC §13)."""
import io

import pytest
from django.core.management import call_command

from reconciliation.choices import GapStatus, TaskStatus
from reconciliation.models import Gap, Source, Task
from reconciliation.orchestration.demo import FAIL_EVERY
from reconciliation.orchestration.models import Scraper
from reconciliation.orchestration.dispatch import dispatch_once


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_demo_scraper_heals_the_demo_lake(tmp_path):
    call_command("demo", "--no-serve", "--seasons", "2", "--dir", str(tmp_path / "demo"), stdout=io.StringIO())
    assert set(Scraper.objects.values_list("name", flat=True)) == set(Source.objects.values_list("scraper", flat=True))
    assert "demo_scraper.py" in Scraper.objects.first().command[1]
    open_before = set(Gap.objects.filter(status=GapStatus.OPEN).values_list("data_type_id", "partition"))
    assert open_before
    while dispatch_once()[0].started:  # until only backoff (or nothing) holds tasks back
        pass
    left = Gap.objects.filter(status=GapStatus.OPEN)
    on_purpose = [g for g in left if g.partition.isdigit() and int(g.partition) % FAIL_EVERY == 0]
    assert on_purpose and len(on_purpose) == left.count(), [g.partition for g in left if g not in on_purpose]
    assert Task.objects.filter(status=TaskStatus.DONE).exists()
    assert not Task.objects.filter(status=TaskStatus.CLAIMED).exists()
