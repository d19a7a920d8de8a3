"""PyYAML's syntax errors said again in the user's words, placed where the fix goes.

PyYAML reports where its parser gave up, often a line after the mistake, in
the words of the YAML grammar ("while parsing a block collection ... did not
find expected '-' indicator"). Each kind of mistake a person makes (a tab, an
unclosed quote or bracket, a missing colon, a line indented off by one) is
recognised from the error and the text around it, and said as what is wrong,
where, and what to type. An error this module does not recognise keeps
PyYAML's own words.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import attrs
import yaml

from ._problems import Problem

_FALLBACK_FIX = "check the indentation, quotes and brackets near there"


@attrs.frozen
class _Error:
    """The parts of a YAMLError, 1-based, with the text's lines."""

    context: str
    problem: str
    start: tuple[int, int] | None  # where the construct that failed began
    at: tuple[int, int] | None  # where the parser gave up
    lines: list[str]

    def line(self, number: int) -> str:
        return self.lines[number - 1] if 0 < number <= len(self.lines) else ""

    def content_before(self, number: int) -> int | None:
        """The last line before ``number`` that holds more than blanks and comments."""
        for n in range(min(number, len(self.lines) + 1) - 1, 0, -1):
            stripped = self.lines[n - 1].strip()
            if stripped and not stripped.startswith("#"):
                return n
        return None


def _indent(text: str) -> int:
    return len(text) - len(text.lstrip(" "))


def _spaces(n: int) -> str:
    return f"{n} space{'s' * (n != 1)}"


def _end_of(line: str) -> int:
    """The column just past a line's content, a trailing comment left out."""
    body = line.split(" #", 1)[0].rstrip()
    return len(body) + 1


def explain(exc: yaml.YAMLError, text: str) -> Problem:
    """A WF001 problem for ``exc``: what is wrong, where the fix goes, and the fix."""
    error = _parts(exc, text)
    for rule in _RULES:
        said = rule(error)
        if said is not None:
            message, hint, (line, column) = said
            return Problem("WF001", (), message, hint, line, column)
    return _as_pyyaml_says(error)


def _parts(exc: yaml.YAMLError, text: str) -> _Error:
    def mark(name: str) -> tuple[int, int] | None:
        m = getattr(exc, name, None)
        return (m.line + 1, m.column + 1) if m is not None else None

    return _Error(
        context=str(getattr(exc, "context", None) or ""),
        problem=str(getattr(exc, "problem", None) or exc),
        start=mark("context_mark"),
        at=mark("problem_mark") or mark("context_mark"),
        lines=text.splitlines(),
    )


_Said = tuple[str, str, tuple[int, int]]


def _tab(e: _Error) -> _Said | None:
    if "tab" not in e.problem and "'\\t'" not in e.problem:
        return None
    assert e.at is not None
    for number in range(e.at[0], 0, -1):
        text = e.line(number)
        lead = text[: len(text) - len(text.lstrip(" \t"))]
        if "\t" in lead:
            return (
                f"line {number} is indented with a tab; YAML indents with spaces only",
                "replace the tab with spaces",
                (number, lead.index("\t") + 1),
            )
    return None


def _unclosed_quote(e: _Error) -> _Said | None:
    if "quoted scalar" not in e.context or "end of stream" not in e.problem:
        return None
    assert e.start is not None
    line, column = e.start
    quote = e.line(line)[column - 1 : column] or '"'
    return (
        f"the {quote} opened on line {line}, column {column} is never closed",
        f"add the closing {quote} at the end of the value",
        (line, _end_of(e.line(line))),
    )


def _unknown_escape(e: _Error) -> _Said | None:
    if "escape" not in e.problem or e.at is None:
        return None
    line, column = e.at
    text = e.line(line)
    slash = text.rfind("\\", 0, column)
    escape = text[slash : slash + 2] if slash >= 0 else "\\"
    return (
        f"{escape!s} is not an escape YAML knows inside double quotes",
        f"write \\{escape} for a backslash, or use single quotes, where \\ is plain",
        (line, slash + 1 if slash >= 0 else column),
    )


def _unclosed_bracket(e: _Error) -> _Said | None:
    if "flow mapping" in e.context:
        opener, closer, what = "{", "}", "mapping"
    elif "flow sequence" in e.context:
        opener, closer, what = "[", "]", "list"
    else:
        return None
    if e.start is None or e.at is None:
        return None
    opened = f"the {opener} opened on line {e.start[0]}, column {e.start[1]}"
    before = e.content_before(e.at[0]) if e.at[0] > e.start[0] else None
    if before is None or before < e.start[0]:
        return (
            f"{opened} needs a , or {closer} here",
            f"add , between two entries of the {what}, or {closer} to close it",
            e.at,
        )
    return (
        f"{opened} is not closed by the end of line {before}",
        f"add {closer} at the end of line {before}, or , if the {what} goes on",
        (before, _end_of(e.line(before))),
    )


_INDEXED_REF = re.compile(r"\$[\w.]+\[")


def _indexed_reference_in_flow(e: _Error) -> _Said | None:
    """``{text: $steps.a.output[0]}``: inside { } or [ ], YAML reads [ as a new list."""
    if "flow" not in e.context or e.at is None:
        return None
    line = e.line(e.at[0])
    found = _INDEXED_REF.search(line)
    if found is None:
        return None
    return (
        f"the reference at column {found.start() + 1} holds [ ], which YAML reads as a list"
        " inside { } or [ ]",
        'put the reference in quotes: "$steps.ID.output[0]", or write the mapping as'
        " indented lines",
        (e.at[0], found.start() + 1),
    )


def _missing_colon(e: _Error) -> _Said | None:
    if "expected ':'" not in e.problem or e.start is None:
        return None
    line, column = e.start
    words = e.line(line)[column - 1 :].split()
    key = words[0] if words else ""
    return (
        f"line {line} has no colon after its key {key!r}",
        f"write it as `{key}: value`, with a space after the colon",
        (line, column + len(key)),
    )


def _colon_in_value(e: _Error) -> _Said | None:
    if "mapping values are not allowed" not in e.problem or e.at is None:
        return None
    line, column = e.at
    here = e.line(line)
    previous = e.content_before(line)
    above = e.line(previous) if previous is not None else ""
    glued = _glued_colon(above)
    if previous is not None and glued is not None:
        return (
            f"line {previous} has no space after the colon of {above.strip()!r}, so YAML"
            f" reads it and line {line} as one text",
            "put a space after the colon",
            (previous, glued + 1),
        )
    if ": " in here[: column - 1] or previous is None:
        return _value_holds_colon(line, column)
    if _indent(here) > _indent(above) and ": " in above:
        return (
            f"line {line} is indented deeper than line {previous}, so YAML reads it as"
            f" part of the value on line {previous}",
            f"indent line {line} by {_spaces(_dash(above))}, like the key on line {previous}",
            (line, _indent(here) + 1),
        )
    return _value_holds_colon(line, column)


def _value_holds_colon(line: int, column: int) -> _Said:
    return (
        f"the value on line {line} holds ': ', which YAML reads as the start of another key",
        'quote the whole value, e.g. key: "a: b"',
        (line, column),
    )


def _dash(text: str) -> int:
    """The indent of a `- key:` line's key, beyond the dash's own indent."""
    stripped = text.lstrip(" ")
    return _indent(text) + (len(stripped) - len(stripped.lstrip("- ")))


def _glued_colon(text: str) -> int | None:
    """The index of a `key:value` colon with no space after it, outside quotes."""
    body = text.strip()
    if not body or body[0] in "'\"{[#" or ": " in body or body.endswith(":"):
        return None
    index = text.find(":")
    return index if index > 0 and text[index + 1 : index + 2] not in ("", " ") else None


def _off_indent(e: _Error) -> _Said | None:
    if "block collection" not in e.context and "block mapping" not in e.context:
        return None
    if e.start is None or e.at is None:
        return None
    line, column = e.at
    here = e.line(line)
    stray = here[column - 1 : column]
    if stray in ("}", "]"):
        return (
            f"the {stray} on line {line}, column {column} closes nothing",
            f"remove it, or add the {'{' if stray == '}' else '['} it was meant to close",
            e.at,
        )
    opened = e.line(e.start[0])
    if "block collection" in e.context:
        keys = _dash(opened)
        return (
            f"line {line} is indented {_spaces(_indent(here))}: not the {_spaces(keys)} of"
            f" the item on line {e.start[0]}, nor a new `- ` item of its list",
            f"indent it by {_spaces(keys)} to go on with the item above, or start it"
            " with `- ` for a new item",
            (line, _indent(here) + 1),
        )
    return (
        f"line {line} is indented {_spaces(_indent(here))}, but the keys of the mapping"
        f" that starts on line {e.start[0]} are indented {_spaces(e.start[1] - 1)}",
        f"indent it by {_spaces(e.start[1] - 1)}",
        (line, _indent(here) + 1),
    )


def _bad_first_character(e: _Error) -> _Said | None:
    if "cannot start any token" not in e.problem or e.at is None:
        return None
    line, column = e.at
    char = e.line(line)[column - 1 : column]
    return (
        f"a plain value cannot start with {char!r} in YAML",
        "put the value in quotes",
        e.at,
    )


def _undefined_alias(e: _Error) -> _Said | None:
    if "undefined alias" not in e.problem or e.at is None:
        return None
    line, column = e.at
    name = e.line(line)[column:].split()[0].rstrip(",]}") if e.line(line)[column:] else ""
    return (
        f"*{name} refers to an anchor &{name} that is not defined above it",
        f"define &{name} before it, or put the value in quotes if * is meant literally",
        e.at,
    )


def _second_document(e: _Error) -> _Said | None:
    if "single document" not in e.context or e.at is None:
        return None
    return (
        f"the file holds a second YAML document from line {e.at[0]} (after a ---)",
        "one workflow per file: remove the --- and what follows, or move it to its own file",
        e.at,
    )


_RULES: tuple[Callable[[_Error], _Said | None], ...] = (
    _tab,
    _unclosed_quote,
    _unknown_escape,
    _indexed_reference_in_flow,
    _unclosed_bracket,
    _missing_colon,
    _colon_in_value,
    _off_indent,
    _bad_first_character,
    _undefined_alias,
    _second_document,
)


def _as_pyyaml_says(e: _Error) -> Problem:
    context = e.context
    if context and e.start is not None and e.start != e.at:
        context = f"{context} that starts at line {e.start[0]}, column {e.start[1]}"
    message = f"{context}: {e.problem}" if context else e.problem
    line, column = e.at if e.at is not None else (None, None)
    return Problem("WF001", (), message, _FALLBACK_FIX, line, column)
