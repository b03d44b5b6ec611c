"""The original's one-liner cut into a pipeline with its noise removed (SPEC §11), and the
types every family shares."""
from __future__ import annotations

import shlex
from dataclasses import dataclass, field

SIZE_UNITS = {1: "bytes", 1024: "KB", 1024 ** 2: "MB", 1024 ** 3: "GB", 1024 ** 4: "TB"}
DU_UNITS = {"k": "KB", "m": "MB", "g": "GB"}
NOOP_STAGES = (  # pipeline stages that only trim what the previous one printed
    ["tr", "-d", " "], ["tr", "-d", "' '"], ["tr", "-d", "[:space:]"], ["tr", "-d", "\\n"], ["xargs"],
    ["awk", "{print $1}"], ["awk", "{ print $1 }"], ["cut", "-f1"], ["cut", "-f", "1"], ["cut", "-d", " ", "-f1"],
)


@dataclass(frozen=True)
class Translation:
    kind: str                      # the typed kind, or "shell"
    params: dict = field(default_factory=dict)
    family: str | None = None      # the family that recognised it
    notes: tuple[str, ...] = ()    # what changed from the original's behaviour
    reason: str | None = None      # why it stays shell

    @property
    def translated(self) -> bool:
        return self.kind != "shell"


class NotThis(Exception):
    """Raised inside a family: the command is of this family but cannot be translated (the reason)."""


@dataclass
class Pipeline:
    stages: list[list[str]]   # argv of each stage, noise removed
    notes: list[str]          # what the cleaning changed


def parse_pipeline(command: str) -> Pipeline:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    try:
        tokens = list(lexer)
    except ValueError as exc:
        raise NotThis(f"cannot read the command: {exc}") from None
    notes: list[str] = []
    tokens = _drop_stderr_redirects(tokens)
    if "||" in tokens:
        at = tokens.index("||")
        fallback = tokens[at + 1:]
        if len(fallback) < 1 or fallback[0] != "echo" or "||" in fallback or "|" in fallback:
            raise NotThis("has a fallback command after `||`")
        notes.append(f"dropped `|| {' '.join(fallback)}`: a failure is an error, never {' '.join(fallback[1:]) or 'blank'}")
        tokens = tokens[:at]
    if "&&" in tokens:
        at = tokens.index("&&")
        guard = tokens[:at]
        if not (len(guard) == 4 and guard[0] == "[" and guard[1] in ("-d", "-f", "-e") and guard[3] == "]"):
            raise NotThis("chains commands with `&&`")
        notes.append(f"dropped the `[ {guard[1]} {guard[2]} ]` guard: a missing path is an error")
        tokens = tokens[at + 1:]
    stages: list[list[str]] = [[]]
    for token in tokens:
        if token == "|":
            stages.append([])
        else:
            stages[-1].append(token)
    if any(not stage for stage in stages):
        raise NotThis("has an empty pipeline stage")
    while len(stages) > 1 and stages[-1] in NOOP_STAGES:
        stages.pop()
    for stage in stages:
        for token in stage:
            if token in (";", "&", ">", ">>", "<", "(", ")", "&&", "||") and not _find_exec_end(stage, token) \
                    and not (token == "<" and stage[:2] == ["wc", "-l"]):
                raise NotThis(f"uses the shell operator {token!r}")
    return Pipeline(stages, notes)


def _drop_stderr_redirects(tokens: list[str]) -> list[str]:
    """`2>/dev/null` and `2>&1` only hide errors; the typed probe reports them instead."""
    out, i = [], 0
    while i < len(tokens):
        if tokens[i] == "2" and i + 2 < len(tokens) and tokens[i + 1] == ">" and tokens[i + 2] == "/dev/null":
            i += 3
        elif tokens[i] == "2" and i + 2 < len(tokens) and tokens[i + 1] == ">&" and tokens[i + 2] == "1":
            i += 3
        else:
            out.append(tokens[i])
            i += 1
    return out


def _find_exec_end(stage: list[str], token: str) -> bool:
    """The `;` that ends `find … -exec cat {} \\;` is find's, not the shell's."""
    return token == ";" and stage[0] == "find" and "-exec" in stage


def count_stage(stage: list[str]) -> bool:
    return stage in (["wc", "-l"], ["wc", "-l", "-"])


def no_variables(*values: str) -> None:
    for value in values:
        if "$" in value or "`" in value:
            raise NotThis(f"{value!r} depends on a shell variable")
