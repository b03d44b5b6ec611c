"""reconcile over a lake held in files (ADCE_OBJECT_STORE=files, issue 23 item 2): the same gaps, priorities,
completeness and task queue as over the same objects held as rows — SPEC §10's lake (closed dimensions,
open types, season and fixed levels, a source without a catalog) — and a store whose file is gone fails the
reconcile instead of reading as 'no objects'."""
from __future__ import annotations

from pathlib import Path

import json
import os

import pytest
from django.core.management import CommandError

from reconciliation.models import Gap, InventorySnapshot, ReconcileRun, StoredObject, Task

from .inventory_held import inventory_put
from .test_legacy_coverage import AS_OF, build_lake, import_lake, run

pytestmark = pytest.mark.django_db


@pytest.fixture
def lake(tmp_path):
    return build_lake(tmp_path)




def _reconciled(lake, name) -> tuple[dict, set, dict]:
    """reconcile of the scanned inventory (--use-cache: no rescan): its summary without run-specific
    fields, the open gaps, the task queue."""
    out, _err = run("reconcile", "--use-cache", "--json", "--as-of", AS_OF, "--output", str(lake / name))
    summary = json.loads(out)
    gaps = set(Gap.objects.filter(status="open").values_list(
        "data_type__source__name", "data_type__name", "season", "partition", "kind", "priority", "shortfall",
        "object_key", "object_size", "object_last_modified"))
    queue = json.loads((lake / name).read_text())
    return ({k: summary[k] for k in ("completeness", "as_of")}, gaps,
            sorted(queue["tasks"], key=lambda t: json.dumps(t, sort_keys=True)))


def _to_files():
    """The scanned rows held in files instead (a third of them written since the scan)."""
    objects = list(StoredObject.objects.all())
    for obj in objects:
        obj.pk = None
    inventory_put("files", objects)
    assert InventorySnapshot.objects.filter(holds_objects=True).exists()


def test_reconcile_over_files_gives_what_it_gives_over_rows(lake, settings):
    import_lake(lake)
    run("scan")
    by_rows = _reconciled(lake, "rows.json")
    assert by_rows[1] and by_rows[0]["completeness"]
    settings.ADCE_OBJECT_STORE = "files"
    scanned = StoredObject.objects.count()
    _to_files()
    assert 0 < StoredObject.objects.count() < scanned  # two thirds of the objects only in the files
    by_files = _reconciled(lake, "files.json")
    assert by_files == by_rows
    # the catalog was copied to a Parquet file of the session's temp folder, which went with the session
    from reconciliation.engine.inventory_snapshot import snapshot_dir
    assert not list(Path(snapshot_dir()).glob("duckdb-tmp-catalog-*"))


def test_a_missing_file_fails_the_reconcile_and_changes_nothing(lake, settings):
    import_lake(lake)
    run("scan")
    settings.ADCE_OBJECT_STORE = "files"
    _to_files()
    run("reconcile", "--use-cache", "--as-of", AS_OF)
    before = (list(Gap.objects.order_by("pk").values()), list(Task.objects.order_by("pk").values()))
    snap = InventorySnapshot.objects.get(holds_objects=True)
    os.unlink(snap.files()[-1])
    with pytest.raises(CommandError) as exc:
        run("reconcile", "--use-cache", "--as-of", AS_OF)
    message = str(exc.value)
    assert exc.value.returncode == 2 and "\n" not in message
    assert f"the inventory files of {snap.store} cannot be read" in message and snap.files()[-1] in message
    assert (list(Gap.objects.order_by("pk").values()), list(Task.objects.order_by("pk").values())) == before
    assert ReconcileRun.objects.order_by("-pk").values_list("status", flat=True)[0] == "failed"
