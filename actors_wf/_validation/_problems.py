"""Problems, the catalogue of their codes, and the result of a validation."""

from __future__ import annotations

from typing import Any

import attrs

Path = tuple[str | int, ...]

ERROR, WARNING = "error", "warning"

# code -> (severity, title). docs/errors.md has an example of each; a test
# checks that both list the same codes.
CATALOGUE: dict[str, tuple[str, str]] = {
    "WF001": (ERROR, "not valid YAML or JSON"),
    "WF002": (ERROR, "a key is written twice in one mapping"),
    "WF003": (ERROR, "the document is not a mapping"),
    "WF004": (ERROR, "the source is over a limit (size, values, nesting, steps)"),
    "WF005": (ERROR, "an alias refers to a value that contains it"),
    "WF101": (ERROR, "a required field is missing"),
    "WF102": (ERROR, "unknown field"),
    "WF103": (ERROR, "a field has the wrong type"),
    "WF104": (ERROR, "a field has a value out of range"),
    "WF105": (ERROR, "unknown type name"),
    "WF106": (ERROR, "two steps have the same id"),
    "WF107": (ERROR, "a string starts with $ but is not a reference"),
    "WF108": (ERROR, "$item or $index outside the inputs of a for_each step"),
    "WF109": (ERROR, "a when: condition does not parse"),
    "WF201": (ERROR, "unknown component"),
    "WF202": (ERROR, "the component takes no such input"),
    "WF203": (ERROR, "a required input of the component is not given"),
    "WF204": (ERROR, "reference to an unknown workflow input"),
    "WF205": (ERROR, "reference to an unknown step"),
    "WF206": (ERROR, "reference to a field the output does not have"),
    "WF207": (ERROR, "the value's type cannot feed the input's type"),
    "WF208": (ERROR, "a literal value has the wrong type"),
    "WF209": (ERROR, "depends_on names an unknown step"),
    "WF210": (ERROR, "the steps form a cycle"),
    "WF211": (ERROR, "a step asks for more of a resource than the engine has"),
    "WF212": (ERROR, "for_each does not name a list"),
    "WF213": (ERROR, "a when: condition's types do not fit (not a bool, unlike kinds)"),
    "WF214": (ERROR, "defaults names an input the step does not give"),
    "WF215": (ERROR, "a step has two of component, workflow and wait_for (or what they exclude)"),
    "WF216": (ERROR, "a step runs a workflow that is not registered"),
    "WF217": (ERROR, "a workflow would run itself, directly or through others"),
    "WF218": (ERROR, "a component runs on an executor the engine does not have"),
    "WF301": (WARNING, "a workflow input is never used"),
    "WF302": (WARNING, "a step's output is never used"),
    "WF303": (WARNING, "a step's result reaches no workflow output"),
    "WF304": (WARNING, "plain text that names an input or step but lacks its $"),
}


def path_text(path: Path) -> str:
    """``("steps", 2, "inputs", "text")`` -> ``steps[2].inputs.text``."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"


@attrs.frozen(order=False)
class Problem:
    """One thing wrong with a workflow.

    Attributes:
        code: stable identifier (``WF102``); ``docs/errors.md`` explains each.
        severity: ``error`` or ``warning``.
        path: where, as keys and indices from the document's root.
        message: what was expected and what was found, in one line.
        hint: the concrete fix, when there is one.
        line: 1-based line in the source text, when there is a source text.
        column: 1-based column, likewise.
        related: step ids involved (a cycle's steps, a producer), for reports.
    """

    code: str
    path: Path
    message: str
    hint: str = ""
    line: int | None = None
    column: int | None = None
    related: tuple[str, ...] = ()

    @property
    def severity(self) -> str:
        """``error`` or ``warning``, from the catalogue."""
        return CATALOGUE[self.code][0]

    @property
    def where(self) -> str:
        """The path as text: ``steps[2].inputs.text``."""
        return path_text(self.path)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON output."""
        return {
            "code": self.code,
            "severity": self.severity,
            "path": self.where,
            "line": self.line,
            "column": self.column,
            "message": self.message,
            "hint": self.hint,
        }

    def one_line(self) -> str:
        """``name:line:col: error WF102: message (hint)`` without the source name."""
        at = f"{self.line}:{self.column}: " if self.line is not None else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{at}{self.severity} {self.code} at {self.where}: {self.message}{hint}"


def sort_key(problem: Problem) -> tuple[Any, ...]:
    """Document order: by line when known, then path (indices numerically), then code."""
    line = problem.line if problem.line is not None else 0
    column = problem.column if problem.column is not None else 0
    path = tuple((isinstance(p, str), p) for p in problem.path)
    return (line, column, path, problem.code, problem.message)


@attrs.frozen(eq=False)
class ValidationResult:
    """Every problem found in one workflow.

    Attributes:
        workflow_id: the workflow's id, if it could be read.
        problems: every problem, in document order.
        source_name: the file name, ``<text>`` or ``<dict>``.
        source_text: the text validated, for reports that quote lines.
        spec: the workflow records, when the structure could be read.
    """

    workflow_id: str | None
    problems: tuple[Problem, ...]
    source_name: str = "<dict>"
    source_text: str | None = None
    spec: Any = None
    cache: Any = attrs.field(default=None, repr=False)

    @property
    def ok(self) -> bool:
        """Whether there is no error (warnings allowed)."""
        return not self.errors

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems of severity ``error``."""
        return tuple(p for p in self.problems if p.severity == ERROR)

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """The problems of severity ``warning``."""
        return tuple(p for p in self.problems if p.severity == WARNING)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ValidationResult):
            return NotImplemented
        return (self.workflow_id, self.problems, self.spec) == (
            other.workflow_id,
            other.problems,
            other.spec,
        )

    __hash__ = None  # type: ignore[assignment]
