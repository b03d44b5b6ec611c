"""What no database can store: NUL characters (PostgreSQL text/jsonb refuse them) and unpaired
surrogates (not encodable as UTF-8). Parsers of input files call `first_unstorable` on what they
loaded, so such input is a one-line bad-input error instead of a database crash mid-import."""
from __future__ import annotations


def unstorable_reason(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains an unpaired surrogate (not UTF-8)"
    return None


def first_unstorable(value, path: str = "") -> tuple[str, str] | None:
    """(key path, reason) of the first string (mapping keys included) that cannot be stored, or None.
    Paths look like `metrics.cat.name.description` / `seasons[2]`."""
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            reason = unstorable_reason(item)
            if reason:
                return where or "(document)", reason
        elif isinstance(item, dict):
            for k, v in reversed(list(item.items())):
                child = f"{where}.{k}" if where else str(k)
                if isinstance(k, str) and unstorable_reason(k):
                    return child, unstorable_reason(k)
                stack.append((child, v))
        elif isinstance(item, (list, tuple)):
            for i in reversed(range(len(item))):
                stack.append((f"{where}[{i}]", item[i]))
    return None
