"""Shared pieces of the fuzz suite: strategies, mutations, and the command contract check."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

# Moderate and reproducible in CI: the whole fuzz suite stays well under a minute. deadline=None:
# DB work varies in time. ADCE_FUZZ_EXAMPLES=N explores N random (not derandomized) examples per test.
_EXAMPLES = int(os.environ.get("ADCE_FUZZ_EXAMPLES", "0") or 0)
FUZZ = settings(max_examples=_EXAMPLES or 40, deadline=None, derandomize=not _EXAMPLES, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])

# Text that is hard on parsers: unicode, control characters, quotes, separators, YAML/CSV syntax.
NASTY = st.sampled_from([
    "", " ", "\t", "\n", "\r\n", "\x00", "a\x00b", "\ud800", "\ufeff", "é", "Ω", "🏀", "\u202e", "../", "..", "%2F", "%00", "%",
    "{", "}", "{game_id}", "{date}", "{season}", "{bogus}", "[", "]", ":", ": ", "- ", "#", "&a", "*a", "!!python/object:os.system",
    "'", '"', ",", ";", "\\", "null", "~", "true", "yes", "1e309", "-1", "0", "2024-25", "2024-13-45", "9" * 40,
])
TEXT = st.one_of(NASTY, st.text(max_size=40), st.text(alphabet=st.characters(codec="utf-8"), max_size=20))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-10**20, max_value=10**20),
                    st.floats(allow_nan=True, allow_infinity=True), TEXT)
JSONISH = st.recursive(SCALARS, lambda children: st.one_of(
    st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)), max_leaves=20)


@st.composite
def mutated(draw, text: str) -> str:
    """A few random edits of `text`: delete/duplicate/swap lines, insert or replace characters."""
    lines = text.splitlines(keepends=True)
    for _ in range(draw(st.integers(min_value=1, max_value=4))):
        op = draw(st.sampled_from(["delete", "duplicate", "swap", "insert", "replace", "indent", "truncate"]))
        if not lines:
            lines = [""]
        i = draw(st.integers(min_value=0, max_value=len(lines) - 1))
        if op == "delete":
            del lines[i]
        elif op == "duplicate":
            lines.insert(i, lines[i])
        elif op == "swap":
            j = draw(st.integers(min_value=0, max_value=len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif op == "insert":
            line = lines[i]
            k = draw(st.integers(min_value=0, max_value=len(line)))
            lines[i] = line[:k] + draw(TEXT) + line[k:]
        elif op == "replace":
            line = lines[i]
            if line:
                k = draw(st.integers(min_value=0, max_value=len(line) - 1))
                lines[i] = line[:k] + draw(TEXT) + line[k + 1:]
        elif op == "indent":
            lines[i] = draw(st.sampled_from(["  ", "\t", " "])) + lines[i]
        elif op == "truncate":
            lines = lines[:i]
    return "".join(lines)


def run_command(*args, file_text: str | bytes, suffix: str, **kwargs):
    """Call a command on a temp file holding `file_text`. Returns None on success, else the
    CommandError, after checking SPEC §7's contract: exit code 2 and one line, no traceback."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        if isinstance(file_text, bytes):
            path.write_bytes(file_text)
        else:
            path.write_text(file_text, encoding="utf-8", errors="surrogatepass")
        try:
            call_command(*args, str(path), stdout=_Sink(), stderr=_Sink(), **kwargs)
        except CommandError as exc:
            message = str(exc)
            assert exc.returncode == 2, f"exit {exc.returncode}: {message}"
            assert "\n" not in message and message.strip(), repr(message)
            assert "Traceback" not in message and 'File "' not in message, message
            return exc
    return None


class _Sink:
    def write(self, *_):
        pass

    def flush(self):
        pass
