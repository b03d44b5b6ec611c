"""Storage locations (SPEC §2): `s3://bucket/prefix/` and `file:///abs/path/`, and S3 Inventory reports.

Contract (docs/storage.md has the details and decisions):

    parse_location(uri) -> Location              # raises LocationError (a ValueError) on a bad URI
    list_objects(location, *, progress=None, stats=None, client=None) -> Iterator[ObjectInfo]
        every object under the location, all pages, in key order; raises StorageError with a clear
        reason when the location does not exist or cannot be read (never an empty or partial result).
    read_inventory_report(manifest_uri, *, progress=None) -> InventoryReport

ObjectInfo.key is the *full* key in its store: the bucket key for s3, the absolute path without
its leading "/" for file. `location.relative(key)` gives the key relative to the location.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator

from .errors import LocationError, StorageError
from .locations import Location, ObjectInfo, parse_location
from .s3 import TOTALS as S3_TOTALS
from .s3 import ListingStats, list_s3, make_s3_client

__all__ = [
    "DataFile", "InventoryReport", "ListingStats", "Location", "LocationError", "ObjectInfo", "S3_TOTALS",
    "StorageError", "list_objects", "make_s3_client", "newest_complete_report", "parse_location",
    "read_inventory_report",
]


def list_objects(location: Location | str, *, progress: Callable[[str], None] | None = None,
                 stats: ListingStats | None = None, client=None) -> Iterator[ObjectInfo]:
    """Every object under `location` (a Location or a URI string), in key order.

    `stats` (a ListingStats) is filled as the listing goes: list_calls, retries, objects, bytes.
    `client` lets a caller share/inject an S3 client (tests, bench); ignored for file://.
    The iterator raises StorageError part-way if a page fails: treat whatever was yielded as void.
    """
    loc = parse_location(location)
    if loc.scheme == "s3":
        return list_s3(loc, progress=progress, stats=stats, client=client)
    from .local import list_local

    return list_local(loc, progress=progress, stats=stats if stats is not None else ListingStats())


from .inventory_report import (  # noqa: E402
    DataFile, InventoryReport, newest_complete_report, read_inventory_report,
)
