"""`sync_diff`: how far two locations are out of sync (keys relative to each location)."""
from __future__ import annotations

from .base import check_keys, register


def validate(params, *, base_dir):
    check_keys(params, required=("left", "right"))
    from .s3 import location_param

    return {key: location_param(params, key, base_dir) for key in ("left", "right")}


def _sizes(uri, ctx) -> dict[str, int]:
    loc = ctx.location(uri)
    return {loc.relative(obj.key): obj.size for obj in ctx.objects(uri)}


@register("sync_diff", validate=validate, parse_type="integer")
def sync_diff(params, ctx):
    left, right = _sizes(params["left"], ctx), _sizes(params["right"], ctx)
    only_left = left.keys() - right.keys()
    only_right = right.keys() - left.keys()
    differ = sum(1 for key in left.keys() & right.keys() if left[key] != right[key])
    return len(only_left) + len(only_right) + differ
