"""Issue 6 item 5: the admin changelists of big tables do a fixed number of queries, whatever the
page or table size (no N+1). The 1,000,000-gap timing lives in bench/admin_gaps.py."""
import datetime as dt
import itertools

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from reconciliation.choices import Priority
from reconciliation.models import DataType, Gap, Source, StoredObject, Task

pytestmark = pytest.mark.django_db

_seq = itertools.count()
PRIORITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"]


def _lake(n_sources: int):
    """n sources with two data types each; returns the data types."""
    types = []
    for _ in range(n_sources):
        i = next(_seq)
        src = Source.objects.create(name=f"src{i}", scraper=f"src{i}_scraper", location=f"s3://lake/src{i}/",
                                    seasons=["2024-25"])
        for name in ("play_by_play", "box_score"):
            types.append(DataType.objects.create(source=src, name=name, level="game",
                                                 path_patterns=[f"{name}/{{game_id}}.json"]))
    return types


def _fill(n: int, n_sources: int):
    """n gaps (spread over sources, types, tasks, priorities), n tasks, n stored objects."""
    types = _lake(n_sources)
    now = timezone.now()
    tasks = []
    for i in range(n):
        dtype, prio = types[i % len(types)], PRIORITIES[i % 4]
        tasks.append(Task(source=dtype.source, data_type=dtype, season="2024-25", priority=prio,
                          priority_rank=Priority(prio).rank, gap_kind="missing", scraper=dtype.source.scraper,
                          reason="scale"))
    Task.objects.bulk_create(tasks)
    gaps, objects = [], []
    for i in range(n):
        dtype, prio, task = types[i % len(types)], PRIORITIES[i % 4], tasks[i % len(tasks)]
        part = f"40{next(_seq):07d}"
        gaps.append(Gap(source=dtype.source, data_type=dtype, season="2024-25", partition=part,
                        game_date=dt.date(2024, 11, 1) + dt.timedelta(days=i % 100), kind="missing", priority=prio,
                        priority_rank=Priority(prio).rank, task=task if i % 3 else None))
        objects.append(StoredObject(store="s3://lake", key=f"{dtype.source.name}/{dtype.name}/{part}.json",
                                    size=100 + i, last_modified=now, source=dtype.source, data_type=dtype,
                                    partition=part))
    Gap.objects.bulk_create(gaps)
    StoredObject.objects.bulk_create(objects)


def _queries(client, url) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


URLS = {
    "gap": "/admin/reconciliation/gap/",
    "task": "/admin/reconciliation/task/",
    "storedobject": "/admin/reconciliation/storedobject/",
}


@pytest.mark.parametrize("model", sorted(URLS))
def test_changelist_queries_do_not_grow_with_the_data(model, admin_client):
    url = URLS[model]
    _fill(10, n_sources=1)
    small, _ = _queries(admin_client, url)
    _fill(290, n_sources=3)  # 300 rows, 4 sources: a full page of 100 rows with many distinct FKs
    big, sqls = _queries(admin_client, url)
    assert big == small, f"{model} changelist: {small} queries for 10 rows, {big} for 300:\n" + "\n".join(sqls)
    # Filtered and on a later page: the same fixed cost.
    page2, _ = _queries(admin_client, url + "?p=2")
    assert page2 == small


def test_gap_changelist_filtered_by_status_and_priority(admin_client):
    _fill(10, n_sources=1)
    small, _ = _queries(admin_client, URLS["gap"] + "?status__exact=open&priority__exact=HIGH")
    _fill(290, n_sources=3)
    big, _ = _queries(admin_client, URLS["gap"] + "?status__exact=open&priority__exact=HIGH")
    assert big == small
