"""Storage locations (SPEC §2): `s3://bucket/prefix/` and `file:///abs/path/`.

Contract used by the metrics probes and by `scan` (implemented in this package):

    parse_location(uri) -> Location              # raises LocationError (a ValueError) on a bad URI
    list_objects(location, progress=None) -> Iterator[ObjectInfo]
        every object under the location, all pages; raises StorageError with a clear reason
        when the location does not exist or cannot be read (never an empty result).

ObjectInfo.key is the *full* key in its store: the bucket key for s3, the absolute path without
its leading "/" for file. `location.relative(key)` gives the key relative to the location.
"""
