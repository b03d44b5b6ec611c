"""Column names of S3 Inventory reports, normalised (lower-case, no "_" or spaces) so that the CSV
fileSchema names ("LastModifiedDate", "IsDeleteMarker") and the Parquet/ORC field names
("last_modified_date", "is_delete_marker") compare equal."""
from __future__ import annotations

KEY, SIZE, LAST_MODIFIED, ETAG, BUCKET = "key", "size", "lastmodifieddate", "etag", "bucket"
DELETE_MARKER = ("isdeletemarker", "deletemarker")
IS_LATEST = "islatest"


def norm(name: str) -> str:
    return name.strip().lower().replace("_", "").replace(" ", "")
