"""reconciliation.object_selectors: every read of the inventory gives the same answer for the same objects,
held in StoredObject rows or in files (ADCE_OBJECT_STORE=files) — with a row written since the scan, a key
deleted since, a key the scan listed twice — and a store in rows beside one in files."""
from __future__ import annotations

import datetime as dt

import pytest

from reconciliation import object_selectors as sel
from reconciliation.domain.object_query import EVERY, Cond, search_prefixes, where_of
from reconciliation.engine.inventory_objects import objects_delete, objects_upsert
from reconciliation.engine.object_files import file_inventories
from reconciliation.models import StoredObject
from reconciliation.storage.locations import ObjectInfo

from .object_files_helpers import UTC, file_inventory, object_row
from .test_tasks import make_source, make_type

pytestmark = pytest.mark.django_db
LAKE = "s3://lake"
OTHER = "s3://other"  # always held in rows: reads must join both
T0 = dt.datetime(2024, 11, 1, 10, tzinfo=UTC)
T1 = dt.datetime(2024, 12, 1, tzinfo=UTC)


@pytest.fixture(params=["rows", "files"])
def lake(request, settings):
    """The same objects, the lake held in rows or in files; then an upload and a removal since the scan."""
    settings.ADCE_OBJECT_STORE = request.param
    src = make_source("espn")
    pbp, box = make_type(src, "play_by_play"), make_type(src, "box_score")

    def row(key, size, dtype=pbp, partition=None, store=LAKE):
        return object_row(store, key, size=size, source_id=src.pk, data_type_id=dtype and dtype.pk,
                          partition=partition if partition is not None else key.rsplit("/", 1)[1].split(".")[0])
    scanned = [row("espn/play_by_play/401.json", 10), row("espn/play_by_play/402.json", 20),
               row("espn/play_by_play/403.json", 1), row("espn/box_score/401.json", 40, box),
               row("espn/odd/z.txt", 50, None, ""), row("espn/play_by_play/403.json", 30)]  # 403 listed twice
    if request.param == "files":
        file_inventory(LAKE, scanned)
        assert set(file_inventories()) == {LAKE}
    else:
        StoredObject.objects.bulk_create(StoredObject(**r) for r in scanned[:2] + scanned[3:])
    StoredObject.objects.create(**row("espn/play_by_play/401.json", 70, store=OTHER))
    objects_upsert(LAKE, [ObjectInfo(key="espn/play_by_play/404.json", size=5, last_modified=T1, etag="new"),
                          ObjectInfo(key="espn/play_by_play/401.json", size=11, last_modified=T1, etag="new")])
    removed = objects_delete(LAKE, ["espn/play_by_play/402.json", "espn/never/there.json"])
    return {"mode": request.param, "src": src, "pbp": pbp, "box": box, "removed": removed}


def test_object_at(lake):
    assert sel.object_at(LAKE, "espn/play_by_play/401.json") | {} == {
        "store": LAKE, "key": "espn/play_by_play/401.json", "size": 11, "last_modified": T1, "etag": "new",
        "source_id": lake["src"].pk, "data_type_id": lake["pbp"].pk, "partition": "401", "scan_id": None}
    assert sel.object_at(LAKE, "espn/play_by_play/403.json")["size"] == 30  # the later row of the key
    assert sel.object_at(LAKE, "espn/play_by_play/403.json")["last_modified"] == T0
    assert sel.object_at(LAKE, "espn/play_by_play/402.json") is None  # deleted since the scan
    assert sel.object_at(OTHER, "espn/play_by_play/401.json")["size"] == 70
    assert sel.object_at(LAKE, "espn/play_by_play/40") is None  # a key, not a prefix


def test_keys_under(lake):
    assert sel.keys_under(LAKE, "espn/play_by_play/") == [
        "espn/play_by_play/401.json", "espn/play_by_play/403.json", "espn/play_by_play/404.json"]
    assert sel.keys_under(LAKE, "espn/") == [
        "espn/box_score/401.json", "espn/odd/z.txt", "espn/play_by_play/401.json", "espn/play_by_play/403.json",
        "espn/play_by_play/404.json"]
    assert sel.keys_under(OTHER, "") == ["espn/play_by_play/401.json"]
    assert sel.keys_under(LAKE, "nothing/") == []


def test_partition_objects_of_every_store(lake):
    pbp = lake["pbp"].pk
    got = sel.partition_objects(pbp, ["401", "402", "403"])
    assert sorted(got) == sorted([(pbp, "401", "espn/play_by_play/401.json", 11, T1),   # lake: written since
                                  (pbp, "401", "espn/play_by_play/401.json", 70, T0),   # other store, in rows
                                  (pbp, "403", "espn/play_by_play/403.json", 30, T0)])
    assert sel.partition_objects(pbp, []) == []


def test_removal_returns_the_pair_of_an_object_held_only_in_files(lake):
    # the removed key was never written since the scan: in files mode it is in the files only
    assert lake["removed"] == {(lake["pbp"].pk, "402")}
    assert sel.object_partitions(LAKE, ["espn/box_score/401.json", "espn/odd/z.txt", "no/such"]) == {
        (lake["box"].pk, "401")}


def test_objects_page_keyset_and_search(lake):
    everything = [(o["store"], o["key"]) for o in sel.objects_page(EVERY, limit=100)]
    assert everything == [(LAKE, "espn/box_score/401.json"), (LAKE, "espn/odd/z.txt"),
                          (LAKE, "espn/play_by_play/401.json"), (LAKE, "espn/play_by_play/403.json"),
                          (LAKE, "espn/play_by_play/404.json"), (OTHER, "espn/play_by_play/401.json")]
    pages, after = [], None
    while page := sel.objects_page(EVERY, after=after, limit=4):
        pages.append([(o["store"], o["key"]) for o in page])
        after = pages[-1][-1]
    assert pages == [everything[:4], everything[4:]]
    found = sel.objects_page(sel.search_where("play_by_play/40"))  # relative to the source's location
    assert [(o["store"], o["key"], o["size"]) for o in found] == [
        (LAKE, "espn/play_by_play/401.json", 11), (LAKE, "espn/play_by_play/403.json", 30),
        (LAKE, "espn/play_by_play/404.json", 5)]
    assert [o["store"] for o in sel.objects_page(sel.search_where("espn/play_by_play/401"))] == [LAKE, OTHER]
    assert [o["key"] for o in sel.objects_page(sel.search_where("s3://other/espn/"))] == ["espn/play_by_play/401.json"]
    assert sel.objects_page(sel.search_where("by_play/")) == []  # prefix only
    assert len(sel.objects_page(sel.with_source(EVERY, lake["src"].pk))) == 6
    assert sel.objects_page(sel.with_source(EVERY, lake["src"].pk + 1)) == []


def test_objects_rows_stream_every_object(lake):
    rows = list(sel.objects_rows(EVERY, ("key", "size")))
    assert sorted(rows) == sorted([("espn/box_score/401.json", 40), ("espn/odd/z.txt", 50),
                                   ("espn/play_by_play/401.json", 11), ("espn/play_by_play/403.json", 30),
                                   ("espn/play_by_play/404.json", 5), ("espn/play_by_play/401.json", 70)])
    assert sel.objects_count_over(EVERY, 5) and not sel.objects_count_over(EVERY, 6)
    where = where_of(Cond("store", "eq", LAKE), Cond("data_type_id", "eq", None))
    assert list(sel.objects_rows(where, ("key",))) == [("espn/odd/z.txt",)]


@pytest.mark.parametrize("term, wanted", [
    ("", None),
    ("  ", None),
    ("pbp/4", [(None, "pbp/4"), ("file://", "data/lake/pbp/4"), ("s3://lake", "espn/pbp/4")]),
    ("/pbp/4", [(None, "/pbp/4"), ("file://", "data/lake/pbp/4"), ("s3://lake", "espn/pbp/4")]),
    ("s3://lake/espn/x", [("s3://lake", "espn/x")]),
    ("S3://lake", [("s3://lake", "")]),
    ("file:///data/lake/a", [("file://", "data/lake/a")]),
])
def test_search_terms_parse_once_for_both_paths(term, wanted):
    assert search_prefixes(term, [("s3://lake", "espn/"), ("file://", "data/lake/")]) == wanted


# --- property: the ORM's and DuckDB's translations of any Where take the same objects ----------------------

from hypothesis import HealthCheck, given, settings as hsettings, strategies as st  # noqa: E402

from reconciliation.engine.inventory_snapshot import touches_log  # noqa: E402

HELD, ROWS = "s3://f", "s3://r"
KEYS = [f"{a}/{b}{c}" for a in "ab" for b in ("x", "y", "") for c in ("1", "2", "")]


def _final_rows(store):
    rows = [object_row(store, k, size=i, data_type_id=(None, 1, 2)[i % 3], partition=("", "p1", "p2")[i % 3])
            for i, k in enumerate(KEYS)]
    return rows


@pytest.fixture
def twins(db, settings):
    """The same objects in a store held in files (HELD) and one held in rows (ROWS)."""
    settings.ADCE_OBJECT_STORE = "files"
    final = _final_rows(HELD)
    stale = [dict(r, size=r["size"] + 1000, partition="old") for r in final[::4]]
    file_inventory(HELD, stale + final[:10], final[10:])  # keys listed twice: the later row wins
    StoredObject.objects.bulk_create(StoredObject(**dict(r, store=ROWS)) for r in final)
    for store in (HELD, ROWS):
        since = StoredObject.objects.filter(store=store, key=KEYS[3])  # a row written since the scan
        touches_log(store, [KEYS[3]])
        StoredObject.objects.update_or_create(store=store, key=KEYS[3], defaults={
            "size": 77, "last_modified": T1, "etag": "n", "data_type_id": 2, "partition": "p9"})
        assert since.exists()
        objects_delete(store, [KEYS[5], KEYS[11]])


conds = st.one_of(
    st.builds(Cond, st.just("key"), st.just("prefix"), st.sampled_from(["", "a", "a/", "a/x", "b/y2", "c"])),
    st.builds(Cond, st.just("key"), st.just("in"), st.lists(st.sampled_from(KEYS + ["zz"]), max_size=4).map(tuple)),
    st.builds(Cond, st.just("key"), st.just("eq"), st.sampled_from(KEYS)),
    st.builds(Cond, st.just("partition"), st.sampled_from(["eq", "prefix"]), st.sampled_from(["", "p1", "p", "old"])),
    st.builds(Cond, st.just("partition"), st.just("in"), st.lists(st.sampled_from(["p1", "p2", "p9", ""])).map(tuple)),
    st.builds(Cond, st.just("data_type_id"), st.just("eq"), st.sampled_from([None, 1, 2])),
    st.builds(Cond, st.just("size"), st.just("eq"), st.integers(0, 20)),
)
wheres = st.lists(st.lists(conds, max_size=3).map(tuple), max_size=3).map(tuple)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(where=wheres)
def test_any_where_takes_the_same_objects_from_files_and_rows(twins, where):
    def taken(store):
        return [row[1:] for row in sel._read(where, sel.COLUMNS) if row[0] == store]
    assert taken(HELD) == taken(ROWS)


# --- the callers, on a store held in files -----------------------------------------------------------------

def test_the_callers_read_objects_held_in_files(lake, monkeypatch):
    """gaps_rejudge, the gap page's expected keys and verification's region listing see the lake's objects
    whichever holds them."""
    from reconciliation.models import Gap
    from reconciliation.orchestration.verification import _list_regions
    from reconciliation.selectors import gap_expected_objects
    from reconciliation.services.closed_loop import gaps_rejudge
    from reconciliation.storage.locations import parse_location

    from .test_tasks import make_gap

    pbp = lake["pbp"]
    held = make_gap(pbp, "403", game_date=dt.date(2024, 11, 1))  # in the scan's files only, in files mode
    gone = make_gap(pbp, "402", game_date=dt.date(2024, 11, 1))  # removed since the scan
    assert gaps_rejudge([(pbp.pk, "403"), (pbp.pk, "402")], now=T1) == 1
    assert Gap.objects.get(pk=held.pk).status == "resolved" and Gap.objects.get(pk=gone.pk).status == "open"
    expected = {r["relative"]: r["stored"] for r in gap_expected_objects(gone)}
    assert expected == {"play_by_play/402.json": None}
    expected = {r["relative"]: r["stored"] for r in gap_expected_objects(Gap.objects.get(pk=held.pk))}
    assert expected == {"play_by_play/403.json": {"size": 30, "last_modified": T0}}

    import reconciliation.orchestration.verification as verification

    # the region's listing in storage shows 401 only: the inventory's other keys there are unlisted
    monkeypatch.setattr(verification, "list_objects", lambda folder: [
        ObjectInfo(key="espn/play_by_play/401.json", size=1, last_modified=T1, etag="")])
    _listed, unlisted = _list_regions(parse_location("s3://lake/espn/"), ["play_by_play/"])
    assert unlisted == ["espn/play_by_play/403.json", "espn/play_by_play/404.json"]


def test_the_gap_page_says_when_the_files_holding_its_objects_cannot_be_read(admin_client, lake):
    import os

    from django.urls import reverse

    from reconciliation.models import InventorySnapshot

    from .test_tasks import make_gap

    gap = make_gap(lake["pbp"], "403", game_date=dt.date(2024, 11, 1))
    url = reverse("admin:reconciliation_gap_change", args=[gap.pk])
    assert b"stored: " in admin_client.get(url).content
    if lake["mode"] == "rows":
        return
    os.unlink(InventorySnapshot.objects.get(store=LAKE).path)
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"the inventory cannot be read: the inventory of s3://lake is held in files" in page.content
