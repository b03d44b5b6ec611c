"""file:// listing."""
import datetime as dt
import os

import pytest

from reconciliation.storage import ListingStats, StorageError, list_objects, parse_location


def _touch(path, data=b"x", mtime=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if mtime is not None:
        os.utime(path, (mtime, mtime))


def test_nested_folders_full_keys_sizes_mtimes_in_key_order(tmp_path):
    root = tmp_path / "lake"
    when = dt.datetime(2024, 3, 1, 12, 30, 15, tzinfo=dt.timezone.utc).timestamp()
    files = {
        "espn/pbp/401.json": b"{}" * 60,
        "espn/pbp/402.json": b"",
        "espn-old.json": b"1",
        "espn0": b"22",
        "espn/a b/ü.json": b"333",
        "top.json": b"4444",
        "hoopr/x/y/z/nba_data_2024.parquet": b"55555",
    }
    for rel, data in files.items():
        _touch(root / rel, data, when)
    (root / "empty_dir").mkdir()
    loc = parse_location(f"file://{root}")
    stats = ListingStats()
    objs = list(list_objects(loc, stats=stats))
    rels = [loc.relative(o.key) for o in objs]
    assert rels == sorted(files)  # S3-like key order: "espn-old.json" < "espn/..." < "espn0"
    assert all(o.key == f"{str(root).lstrip('/')}/{r}" for o, r in zip(objs, rels))
    assert {loc.relative(o.key): o.size for o in objs} == {k: len(v) for k, v in files.items()}
    assert {o.last_modified for o in objs} == {dt.datetime(2024, 3, 1, 12, 30, 15, tzinfo=dt.timezone.utc)}
    assert objs[0].last_modified.tzinfo == dt.timezone.utc
    assert stats.objects == len(files) and stats.bytes == sum(map(len, files.values()))


def test_sub_folder_location_lists_only_below_it(tmp_path):
    _touch(tmp_path / "a" / "1.json")
    _touch(tmp_path / "ab" / "2.json")
    objs = list(list_objects(f"file://{tmp_path}/a"))
    assert [o.key for o in objs] == [f"{str(tmp_path).lstrip('/')}/a/1.json"]


def test_empty_existing_folder_is_a_valid_empty_listing(tmp_path):
    assert list(list_objects(f"file://{tmp_path}/")) == []


def test_missing_folder_is_an_error(tmp_path):
    uri = f"file://{tmp_path}/nope/"
    with pytest.raises(StorageError, match=f"^{uri}: folder does not exist$"):
        list(list_objects(uri))


def test_a_file_is_not_a_folder(tmp_path):
    _touch(tmp_path / "f.json")
    with pytest.raises(StorageError, match="not a directory"):
        list(list_objects(f"file://{tmp_path}/f.json"))


def test_unreadable_folder_is_an_error(tmp_path, monkeypatch):
    """Simulated: tests run as root, who reads everything."""
    _touch(tmp_path / "ok" / "1.json")
    _touch(tmp_path / "locked" / "x.json")
    real_scandir = os.scandir

    def scandir(path):
        if str(path).endswith("/locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(StorageError, match=r"cannot read .*/locked: Permission denied"):
        list(list_objects(f"file://{tmp_path}/"))


def test_symlinks(tmp_path):
    _touch(tmp_path / "outside" / "secret.json", b"12")
    _touch(tmp_path / "lake" / "real.json", b"123")
    (tmp_path / "lake" / "link.json").symlink_to(tmp_path / "lake" / "real.json")
    (tmp_path / "lake" / "dirlink").symlink_to(tmp_path / "outside")
    loc = parse_location(f"file://{tmp_path}/lake")
    objs = {loc.relative(o.key): o.size for o in list_objects(loc)}
    # file symlinks are objects (target's size); directory symlinks are not followed
    assert objs == {"link.json": 3, "real.json": 3}
    (tmp_path / "lake" / "dangling.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(StorageError, match="dangling symlink"):
        list(list_objects(loc))
