"""Matcher specs for tests, from a location URI (the app builds them from the database: services.specs)."""
from reconciliation.domain.matcher import MatcherSpec
from reconciliation.storage import parse_location


def spec_at(data_type_id: int, location: str, patterns, **kw) -> MatcherSpec:
    loc = parse_location(location)
    return MatcherSpec(data_type_id=data_type_id, store=loc.store, prefix=loc.prefix, patterns=tuple(patterns), **kw)
