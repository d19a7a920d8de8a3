"""Every error actors_wf raises on purpose: one root, each leaf also the builtin a caller catches.

::

    ActorsWfError
    ├── SpecError (ValueError)              a definition could not be read
    │   └── WorkflowInvalid                 a workflow has errors; nothing ran
    ├── ComponentNotFound (LookupError)     no such component
    │   └── WorkflowNotFound                no such workflow
    ├── DuplicateComponent (ValueError)     the id is taken
    ├── ComponentImportError (ImportError)  a module of components failed to import
    ├── JobNotFound (LookupError)
    ├── InvalidInputs (ValueError)          a job's inputs do not fit the workflow
    ├── InvalidTransition (ValueError)      a job or step cannot take that event now
    ├── SignalRefused (ValueError)          no step waits for it, or its payload does not fit
    ├── JobFailed (RuntimeError)            carries the failing step and its error
    ├── JobCancelled (RuntimeError)
    ├── JobTimeout (TimeoutError)           a wait ran out; the job runs on
    ├── EngineClosed (RuntimeError)
    ├── EngineUnavailable (ConnectionError) a daemon that cannot be reached
    ├── MessageError (ValueError)           bytes that are not a message
    ├── StaleWrite (RuntimeError)           a write based on an old version
    └── StoreError (RuntimeError)           the store cannot be used or written
        ├── StoreCorrupt                    damaged, or not an actors_wf store
        └── StoreLocked                     another engine owns the store

Each has a stable ``code``: the ``code`` of an error reply to ``engine.handle``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from difflib import get_close_matches
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:  # types only: _core imports nothing above itself when it runs
    from .._validation._problems import ValidationResult
    from ._records import ErrorInfo, JobState


def closest(name: str, candidates: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Return up to ``n`` candidates that look like ``name``, best first."""
    return get_close_matches(name, sorted(set(candidates)), n=n, cutoff=cutoff)


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


class WorkflowNotFound(ComponentNotFound):
    """No workflow of that id is registered (a :class:`ComponentNotFound` too).

    Its ``code`` stays ``not_found``: programs that drive the engine with
    bytes told the two apart by the message's ``type`` before, and still can.
    """


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

    def __init__(self, job_id: str, matches: Sequence[str] = ()) -> None:
        self.job_id = job_id
        self.matches = tuple(matches)
        if self.matches:
            shown = ", ".join(self.matches[:5]) + (", ..." if len(self.matches) > 5 else "")
            text = f"job id {job_id!r} is ambiguous: it begins {shown}; give more of it"
        else:
            text = f"no job {job_id!r}"
        super().__init__(text)

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


class SignalRefused(ActorsWfError, ValueError):
    """A signal no step of the job's workflow waits for, or whose payload does not fit."""

    code: ClassVar[str] = "signal_refused"

    def __init__(self, job_id: str, name: str, why: str) -> None:
        self.job_id = job_id
        self.name = name
        super().__init__(f"job {job_id} refused signal {name!r}: {why}")


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


class WorkflowInvalid(SpecError):
    """A workflow has errors; nothing of it ran.

    Attributes:
        result: the :class:`ValidationResult` with every problem.
        report: the text report of them, as ``actors-wf validate`` prints it.
    """

    code = "workflow_invalid"

    def __init__(self, result: ValidationResult, report: str) -> None:
        self.result = result
        self.report = report
        name = result.workflow_id or result.source_name
        count = len(result.errors)
        super().__init__(
            f"workflow {name!r} has {count} error{'s' if count != 1 else ''}",
            [p.one_line() for p in result.errors],
        )

    def __str__(self) -> str:
        return f"{self.args[0].splitlines()[0]}\n\n{self.report}"


class StaleWrite(ActorsWfError, RuntimeError):
    """A write was based on a version of the job that is no longer the latest."""

    code = "stale_write"

    def __init__(self, job_id: str, expected: int, found: int) -> None:
        self.job_id = job_id
        super().__init__(
            f"job {job_id}: write based on version {expected} refused, "
            f"the stored version is {found}; reload the job and apply the change again"
        )


class StoreError(ActorsWfError, RuntimeError):
    """The store file cannot be used (or no longer can be written).

    Attributes:
        cause: what went wrong in a word, when known: ``read-only``,
            ``disk full``, ``I/O error``, ``deleted``...
    """

    code = "store_error"

    def __init__(self, message: str, *, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause


class StoreCorrupt(StoreError):
    """The store file is damaged or not an actors_wf store."""

    code = "store_corrupt"


class EngineUnavailable(ActorsWfError, ConnectionError):
    """The daemon cannot be reached: no socket, refused, or the connection was lost."""

    code: ClassVar[str] = "unavailable"


class StoreLocked(StoreError):
    """Another engine owns the store: one engine per store, so that no step runs twice.

    Attributes:
        path: the store file.
        owner: the owner as it recorded itself (``pid``, ``host``, ``since``), if readable.
    """

    code = "store_locked"

    def __init__(self, path: str, owner: dict[str, object] | None) -> None:
        self.path = path
        self.owner = owner or {}
        who = "another engine"
        if owner:
            who += f" (pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('since')})"
        super().__init__(
            f"store {path!r} is owned by {who}; stop it, or start this engine with "
            "wait_for_store=SECONDS to take the store over once it exits",
            cause="locked",
        )


class ComponentImportError(ActorsWfError, ImportError):
    """A module of components could not be imported."""

    code = "component_import"

    def __init__(self, module: str, exc: BaseException, hint: str = "") -> None:
        where = ""
        if isinstance(exc, SyntaxError) and exc.lineno:
            where = f" (line {exc.lineno})"
        fix = f"; {hint}" if hint else ""
        super().__init__(
            f"cannot import components from {module}{where}: {type(exc).__name__}: {exc}{fix}"
        )
        self.hint = hint
