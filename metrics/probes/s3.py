"""Object-store kinds over any storage location of SPEC §2 (s3:// or file://).

All of them read the run's shared listing (ProbeContext.objects), so several metrics over one
location — or over locations below one another — cost one listing per run. Filters (`suffix`,
`glob`) apply to the key relative to the metric's location.
"""
from __future__ import annotations

import datetime as dt
import os

from .base import UNITS, ParamError, ProbeError, check_keys, glob_regex, register, want_glob, want_number, want_str, want_unit

FILTERS = ("suffix", "glob")


def location_param(params: dict, key: str, base_dir) -> str:
    """The canonical URI of a location parameter. `file://relative/folder/` (no third slash) is an
    extension: resolved against the import directory like every other relative path."""
    uri = want_str(params, key).strip()
    if uri.startswith("file://") and not uri.startswith("file:///"):
        uri = "file://" + os.path.normpath(os.path.join(str(base_dir), uri[len("file://"):])) + "/"
    from reconciliation.storage import parse_location

    try:
        return parse_location(uri).uri
    except ValueError as exc:
        raise ParamError(key, str(exc)) from None


def _validate_location(params: dict, *, base_dir, extra_required=(), extra_optional=()) -> dict:
    check_keys(params, required=("location", *extra_required), optional=(*FILTERS, *extra_optional))
    out = dict(params)
    out["location"] = location_param(params, "location", base_dir)
    if "suffix" in params:
        want_str(params, "suffix")
    if "glob" in params:
        want_glob(params)
    return out


def validate_plain(params, *, base_dir):
    return _validate_location(params, base_dir=base_dir)


def validate_bytes(params, *, base_dir):
    out = _validate_location(params, base_dir=base_dir, extra_optional=("unit",))
    want_unit(params)
    return out


def validate_ratio(params, *, base_dir):
    """The numerator is `location` (+ `suffix`/`glob`), the denominator `denominator_location`
    (+ `denominator_suffix`/`denominator_glob`); `scale` multiplies the quotient (100 = a percentage)."""
    ours = {k: v for k, v in params.items() if not k.startswith("denominator_") and k != "scale"}
    out = _validate_location(ours, base_dir=base_dir)
    theirs = {k[len("denominator_"):]: v for k, v in params.items() if k.startswith("denominator_")}
    try:
        denominator = _validate_location(theirs, base_dir=base_dir)
    except ParamError as exc:
        raise ParamError(f"denominator_{exc.key}", exc.problem) from None
    out.update({f"denominator_{k}": v for k, v in denominator.items()})
    if "scale" in params:
        want_number(params, "scale")
        out["scale"] = params["scale"]
    return out


def validate_small(params, *, base_dir):
    out = _validate_location(params, base_dir=base_dir, extra_required=("below_bytes",))
    want_number(params, "below_bytes", minimum=1, integer=True)
    return out


def selected(params: dict, ctx) -> list:
    """The objects of the metric's location that pass its filters."""
    uri = params["location"]
    loc = ctx.location(uri)
    objects = ctx.objects(uri)
    suffix = params.get("suffix")
    rx = glob_regex(params["glob"]) if params.get("glob") else None
    if suffix is None and rx is None:
        return objects
    out = []
    for obj in objects:
        rel = loc.relative(obj.key)
        if suffix is not None and not rel.endswith(suffix):
            continue
        if rx is not None and not rx.match(rel):
            continue
        out.append(obj)
    return out


@register("s3_object_count", validate=validate_plain, parse_type="integer")
def s3_object_count(params, ctx):
    return len(selected(params, ctx))


@register("s3_total_bytes", validate=validate_bytes, parse_type="float")
def s3_total_bytes(params, ctx):
    total = sum(obj.size for obj in selected(params, ctx))
    unit = params.get("unit", "bytes")
    return total if unit == "bytes" else total / UNITS[unit]


@register("s3_small_object_count", validate=validate_small, parse_type="integer")
def s3_small_object_count(params, ctx):
    below = params["below_bytes"]
    return sum(1 for obj in selected(params, ctx) if obj.size < below)


@register("s3_average_bytes", validate=validate_bytes, parse_type="float")
def s3_average_bytes(params, ctx):
    objects = selected(params, ctx)
    if not objects:
        # The mean of nothing is undefined: an error, never 0.
        raise ProbeError(f"{params['location']}: no objects to average")
    average = sum(obj.size for obj in objects) / len(objects)
    return average / UNITS[params.get("unit", "bytes")]


@register("s3_object_ratio", validate=validate_ratio, parse_type="float")
def s3_object_ratio(params, ctx):
    numerator = len(selected(params, ctx))
    denominator = len(selected(_denominator(params), ctx))
    if denominator == 0:
        raise ProbeError(f"{params['denominator_location']}: no objects to divide by")
    return numerator / denominator * params.get("scale", 1)


def _denominator(params: dict) -> dict:
    return {k[len("denominator_"):]: v for k, v in params.items() if k.startswith("denominator_")}


def _newest_age_seconds(params, ctx) -> float:
    objects = selected(params, ctx)
    if not objects:
        # No object means no age: an error, not 0 hours (which would look perfectly fresh).
        raise ProbeError(f"{params['location']}: no objects to take the newest age from")
    newest = max(obj.last_modified for obj in objects)  # by LastModified, never by key order
    return max(0.0, (ctx_now(ctx) - newest).total_seconds())


@register("s3_newest_age_hours", validate=validate_plain, parse_type="float")
def s3_newest_age_hours(params, ctx):
    return _newest_age_seconds(params, ctx) / 3600.0


@register("s3_newest_age_days", validate=validate_plain, parse_type="float")
def s3_newest_age_days(params, ctx):
    return _newest_age_seconds(params, ctx) / 86400.0


def ctx_now(ctx) -> dt.datetime:
    return getattr(ctx, "now", None) or dt.datetime.now(dt.timezone.utc)
