"""Bounds a YAML configuration file must meet before it is parsed into Python objects.

PyYAML's pure-Python loader is slow (about 7 s per MB), recursive (a document nested a few thousand
levels deep is a RecursionError) and expands aliases into shared structures that our validators then
walk in full (a "billion laughs" file of 1 KB becomes 10^9 nodes to check). So, before the loader
runs:

1. size: at most MAX_BYTES (checked on the text, no parsing);
2. depth and alias expansion: one pass over libyaml's event stream (C, iterative, no Python objects
   built beyond one event at a time) that stops at the first bound exceeded.

The configuration files ADCE reads are a few KB, about six levels deep, and use an alias or two at
most (`<<: *defaults`); the bounds are far above that. Text libyaml cannot parse is left to the real
loader, which reports the error with its line.

The real loader of every configuration file is UniqueKeyLoader: a key written twice in one mapping is
an error (PyYAML would silently keep the last one).
"""
from __future__ import annotations

import yaml

MAX_BYTES = 1024 * 1024
MAX_DEPTH = 64
MAX_ALIAS_NODES = 100_000  # nodes that aliases add to the document when expanded

_OPEN = (yaml.SequenceStartEvent, yaml.MappingStartEvent)
_CLOSE = (yaml.SequenceEndEvent, yaml.MappingEndEvent)


def read_yaml_text(path) -> str:
    """The text of a YAML file, or ValueError("file too large: …") without reading a file over
    MAX_BYTES (an 18 MB file is refused on its size, not after 18 MB were decoded). OSError and
    UnicodeDecodeError pass through for the caller's own message."""
    from pathlib import Path

    size = Path(path).stat().st_size
    if size > MAX_BYTES:
        raise ValueError(f"file too large: {size:,} bytes (at most {MAX_BYTES:,})")
    return Path(path).read_text(encoding="utf-8")


def yaml_limits_problem(text: str) -> str | None:
    """Why `text` is refused before parsing (one line), or None when it is within the bounds."""
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_BYTES:
        return f"file too large: {size:,} bytes (at most {MAX_BYTES:,})"
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    anchors: dict[str, int] = {}
    # One counter per open collection: how many nodes it holds when expanded; [anchor, count].
    stack: list[list] = [[None, 0]]
    added = 0
    try:
        for event in yaml.parse(text, Loader=loader):
            if isinstance(event, _OPEN):
                stack.append([event.anchor, 1])
                if len(stack) - 1 > MAX_DEPTH:
                    return f"nested too deeply: more than {MAX_DEPTH} levels at line {event.start_mark.line + 1}"
            elif isinstance(event, _CLOSE):
                anchor, count = stack.pop()
                if anchor:
                    anchors[anchor] = count
                stack[-1][1] += count
            elif isinstance(event, yaml.ScalarEvent):
                if event.anchor:
                    anchors[event.anchor] = 1
                stack[-1][1] += 1
            elif isinstance(event, yaml.AliasEvent):
                expanded = anchors.get(event.anchor, 1)
                stack[-1][1] += expanded
                added += expanded
                if added > MAX_ALIAS_NODES:
                    return (f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                            f"(at line {event.start_mark.line + 1}): alias bomb refused")
    except yaml.YAMLError as exc:
        if "maximum nesting depth" in str(exc):  # libyaml's own bound (1,000 flow levels), met first
            return f"nested too deeply: more than {MAX_DEPTH} levels"
        return None  # the loader reports it, with its line
    return None


class UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key written twice in one mapping, and an unhashable key. Keys that a
    merge (`<<: *defaults`) brings in may be overridden by the mapping's own keys, as YAML intends."""


def _construct_mapping(loader, node, deep=False):
    seen: dict = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=deep)
        line = key_node.start_mark.line
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, f"unhashable key at line {line + 1}", key_node.start_mark) from None
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {line + 1}, first on line {seen[key] + 1})",
                key_node.start_mark)
        seen[key] = line
    return yaml.SafeLoader.construct_mapping(loader, node, deep=deep)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
