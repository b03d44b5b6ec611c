"""Argument parsing shared by the events commands."""
from adce_site.cli import bad_input

from .strict_json import parse_json


def payload_option(value: str | None) -> dict | None:
    """`--payload JSON`: a JSON object (strict: no NaN/Infinity), None when not given; else bad input."""
    if value is None:
        return None
    try:
        payload = parse_json(value)
    except ValueError as exc:
        raise bad_input(f"--payload: not valid JSON ({exc})") from None
    if not isinstance(payload, dict):
        raise bad_input("--payload: expected a JSON object")
    return payload
