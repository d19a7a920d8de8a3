"""The error hierarchy: one root, each leaf also the builtin a caller would catch."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ._records import ErrorInfo, JobState


def closest(name: str, candidates: Iterable[str], *, n: int = 3) -> list[str]:
    """Return up to ``n`` candidates that look like ``name``, best first."""
    return get_close_matches(name, sorted(set(candidates)), n=n, cutoff=0.6)


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``" (did you mean 'x'?)"`` or an empty string when nothing is close."""
    near = closest(name, candidates)
    if not near:
        return ""
    return " (did you mean " + " or ".join(repr(c) for c in near) + "?)"


class ActorsWfError(Exception):
    """Root of every error the engine raises on purpose.

    ``code`` is a stable identifier used in message replies so that a program
    driving the engine with bytes can tell errors apart without parsing text.
    """

    code: ClassVar[str] = "error"


class SpecError(ActorsWfError, ValueError):
    """A workflow or component definition could not be read.

    Attributes:
        problems: one line per problem, each naming the field path at fault.
    """

    code: ClassVar[str] = "spec_error"

    def __init__(self, what: str, problems: Sequence[str]) -> None:
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{what}:\n{lines}" if self.problems else what)


class ComponentNotFound(ActorsWfError, LookupError):
    """No component of that type and id is registered."""

    code: ClassVar[str] = "not_found"

    def __init__(self, component_type: str, component_id: str, known: Iterable[str]) -> None:
        self.component_type = component_type
        self.component_id = component_id
        self.suggestions = closest(component_id, known)
        hint = ""
        if self.suggestions:
            hint = "; did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        super().__init__(f"no {component_type} {component_id!r} is registered{hint}")

    def __str__(self) -> str:
        # LookupError's str() would wrap the message in quotes like a KeyError's.
        return str(self.args[0])


class DuplicateComponent(ActorsWfError, ValueError):
    """An id is registered already and ``replace=True`` was not given."""

    code: ClassVar[str] = "duplicate"

    def __init__(self, component_type: str, component_id: str) -> None:
        self.component_type = component_type
        self.component_id = component_id
        super().__init__(
            f"{component_type} {component_id!r} is registered already; "
            "pass replace=True to replace it, or unregister it first"
        )


class JobNotFound(ActorsWfError, LookupError):
    """No job has that id."""

    code: ClassVar[str] = "job_not_found"

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job {job_id!r}")

    def __str__(self) -> str:
        return str(self.args[0])


class InvalidInputs(ActorsWfError, ValueError):
    """A job's inputs do not match the workflow's declared inputs."""

    code: ClassVar[str] = "invalid_inputs"

    def __init__(self, workflow_id: str, problems: Sequence[str]) -> None:
        self.workflow_id = workflow_id
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"inputs of workflow {workflow_id!r} are invalid:\n{lines}")


class InvalidTransition(ActorsWfError, ValueError):
    """A status change the transition table does not allow."""

    code: ClassVar[str] = "invalid_transition"

    def __init__(
        self, subject: str, current: str, event: str, allowed: Iterable[str] = ()
    ) -> None:
        self.subject = subject
        self.current = current
        self.event = event
        self.allowed = tuple(allowed)
        could = ", ".join(self.allowed) if self.allowed else "nothing: it is final"
        super().__init__(f"{subject} is {current} and cannot take {event!r}; it can take: {could}")


class JobFailed(ActorsWfError, RuntimeError):
    """A job ended FAILED (raised by the blocking ``Engine.run``).

    Attributes:
        job_id: the job.
        step_id: the step whose failure ended the job, if one did.
        error_type: the qualified name of the error the step raised.
        error_message: its message.
        traceback: the step's traceback as text.
    """

    code: ClassVar[str] = "job_failed"

    def __init__(self, job_id: str, error: ErrorInfo) -> None:
        self.job_id = job_id
        self.step_id = error.step_id
        self.error_type = error.type
        self.error_message = error.message
        self.traceback = error.traceback
        where = f" at step {error.step_id!r}" if error.step_id else ""
        super().__init__(f"job {job_id} failed{where}: {error.type}: {error.message}")


class JobCancelled(ActorsWfError, RuntimeError):
    """A job ended CANCELLED (raised by the blocking ``Engine.run``)."""

    code: ClassVar[str] = "job_cancelled"

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"job {job_id} was cancelled")


class JobTimeout(ActorsWfError, TimeoutError):
    """Waiting for a job took longer than the timeout given."""

    code: ClassVar[str] = "timeout"

    def __init__(self, job_id: str, timeout: float, state: JobState | None = None) -> None:
        self.job_id = job_id
        self.timeout = timeout
        self.state = state
        status = f" (it is {state.status.value})" if state is not None else ""
        super().__init__(f"job {job_id} did not finish within {timeout:g}s{status}")


class EngineClosed(ActorsWfError, RuntimeError):
    """The engine was closed; it takes no more commands."""

    code: ClassVar[str] = "engine_closed"

    def __init__(self, what: str = "the engine is closed") -> None:
        super().__init__(what)


class MessageError(ActorsWfError, ValueError):
    """Bytes that are not a message the engine understands."""

    code: ClassVar[str] = "bad_message"
