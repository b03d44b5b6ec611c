"""What the inventory's columns hold: one rule for every writer of StoredObject rows (a scan's batches,
an S3 event, a scraper run's verification), so that none of them fails an insert another accepts.

* A partition longer than its column cannot be a real one (a {game_id} segment of 65+ characters):
  the object counts as unmatched (no data type, no partition), as a scan has always counted it.
* An ETag longer than its column is cut (S3's are 32 hex digits, plus "-N" for multipart uploads).
"""
from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from reconciliation.models import StoredObject

PARTITION_MAX = StoredObject._meta.get_field("partition").max_length
ETAG_MAX = StoredObject._meta.get_field("etag").max_length


def fit_matches(data_types: pa.Array, partitions: pa.Array) -> tuple[pa.Array, pa.Array]:
    """(data type ids, partitions) of matched keys, an over-long partition turned into unmatched."""
    too_long = pc.greater(pc.utf8_length(partitions), PARTITION_MAX)
    if pc.any(too_long).as_py():
        data_types = pc.if_else(too_long, pa.scalar(None, pa.int64()), data_types)
        partitions = pc.if_else(too_long, "", partitions)
    return data_types, partitions


def fit_etags(etags: pa.Array) -> pa.Array:
    if pc.any(pc.greater(pc.utf8_length(etags), ETAG_MAX)).as_py():
        return pc.utf8_slice_codeunits(etags, 0, ETAG_MAX)
    return etags
