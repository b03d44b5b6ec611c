"""Plain-text rendering of metric values shared by the report commands (not a command itself)."""


def fmt_value(value) -> str:
    """A typed value for a terminal: '-' for none, lower-case booleans, numbers as they are."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
