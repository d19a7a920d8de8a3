"""Faults a test injects into registered components, by component id (``testing.faults``).

A fault stands in for an attempt of a component: it fails it, hangs it, kills
its worker process, holds it back on the engine's clock, or holds its outcome.
The engine looks here only while some fault is active (``FAULTS`` is not
empty): a run with none costs one truth test per attempt.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Self

import attrs

from .._core._codec import encode
from .._core._messages import RunStep, StepFailed
from .._core._records import ErrorInfo
from .._core._spec import ComponentDefinition
from .._registry._entry import RegistryEntry
from ._attempt import StepCancelledError, StepContext

if TYPE_CHECKING:
    from ._services import Services

Deliver = Callable[[bytes], None]

# Component id -> the faults on it, the latest last. Changed under _LOCK.
FAULTS: dict[str, list[Fault]] = {}
_LOCK = threading.Lock()


@attrs.frozen
class Call:
    """One attempt a fault stands in for, and where it would have run."""

    services: Services
    executor: Any  # the thread or process executor the attempt was meant for
    entry: RegistryEntry
    msg: RunStep
    ctx: StepContext
    deliver: Deliver


class Fault:
    """A fault on one component's attempts, while its ``with`` block lasts.

    Args:
        component: the registered component id.
        times: how many attempts it applies to (``None``: every one).

    Attributes:
        applied: attempts it has applied to so far.
    """

    def __init__(self, component: str, times: int | None = None) -> None:
        if times is not None and times < 1:
            raise ValueError(f"times must be 1 or more (or None for every attempt), got {times}")
        self.component = component
        self.times = times
        self.applied = 0
        self._changed = threading.Condition()

    def __enter__(self) -> Self:
        with _LOCK:
            FAULTS.setdefault(self.component, []).append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _LOCK:
            faults = FAULTS.get(self.component, [])
            if self in faults:
                faults.remove(self)
            if not faults:
                FAULTS.pop(self.component, None)

    def wait(self, count: int = 1, timeout: float | None = 10.0) -> bool:
        """Block until the fault has applied to ``count`` attempts; ``False`` on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self.applied >= count, timeout)

    def _take(self) -> bool:
        """Count one more attempt, if the fault still applies."""
        with self._changed:
            if self.times is not None and self.applied >= self.times:
                return False
            self.applied += 1
            self._changed.notify_all()
            return True

    def start(self, call: Call) -> None:
        """Run the attempt as the fault has it."""
        raise NotImplementedError


def fault_for(component: str) -> Fault | None:
    """The latest active fault on ``component`` that still applies, counted as applied."""
    with _LOCK:
        faults = list(FAULTS.get(component, ()))
    for fault in reversed(faults):
        if fault._take():
            return fault
    return None


class Faulty:
    """An executor that lets an active fault stand in for an attempt."""

    def __init__(self, services: Services, inner: Any) -> None:
        self.services = services
        self.inner = inner

    def start(
        self, entry: RegistryEntry, msg: RunStep, ctx: StepContext, deliver: Deliver
    ) -> None:
        """Start the attempt: the fault's way if one applies, else the inner executor's."""
        fault = fault_for(msg.component)
        if fault is None:
            self.inner.start(entry, msg, ctx, deliver)
        else:
            fault.start(Call(self.services, self.inner, entry, msg, ctx, deliver))


def _failed(msg: RunStep, exc: BaseException, started: float) -> bytes:
    error = ErrorInfo.from_exception(exc, msg.step_id)
    return encode(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, started, time.time()))


class Fail(Fault):
    """Each attempt raises ``error`` instead of running the component."""

    def __init__(
        self, component: str, times: int | None, error: BaseException | type[BaseException]
    ) -> None:
        super().__init__(component, times)
        self.error = error

    def start(self, call: Call) -> None:
        """Fail the attempt with the error, raised on a worker thread as a component would."""
        error, msg = self.error, call.msg

        def run() -> bytes:
            started = time.time()
            try:
                raise error() if isinstance(error, type) else error
            except BaseException as exc:
                return _failed(msg, exc, started)

        call.services.executor.run(run, msg, (), call.deliver)


class Hang(Fault):
    """Each attempt blocks until it is cancelled (a timeout, a cancel, the engine's close)."""

    def start(self, call: Call) -> None:
        """Block a worker thread until the attempt is cancelled."""
        msg = call.msg

        def run() -> bytes:
            started = time.time()
            call.ctx.wait_cancelled()
            return _failed(msg, StepCancelledError(f"step {msg.step_id!r} hung"), started)

        call.services.executor.run(run, msg, (), call.deliver)


def die(*args: Any, **kwargs: Any) -> None:
    """The component of a crashed attempt: its worker process dies of SIGKILL."""
    os.kill(os.getpid(), signal.SIGKILL)


class Crash(Fault):
    """Each attempt runs in a worker process that dies before it returns."""

    def start(self, call: Call) -> None:
        """Run :func:`die` in a worker process, as the component would run there."""
        definition = call.entry.definition
        if isinstance(definition, ComponentDefinition):
            definition = attrs.evolve(definition, factory=False, isolation="process")
        dying = attrs.evolve(
            call.entry, definition=definition, implementation=die, takes_context=False
        )
        processes = call.services.processes
        assert processes is not None
        processes.start(dying, call.msg, call.ctx, call.deliver)


class Slow(Fault):
    """Each attempt starts ``seconds`` late on the engine's clock (a cancel ends the wait)."""

    def __init__(self, component: str, times: int | None, seconds: float) -> None:
        super().__init__(component, times)
        self.seconds = seconds

    def start(self, call: Call) -> None:
        """Arm a timer on the engine's clock; the attempt runs when it fires."""
        started = time.time()
        first = threading.Lock()  # the timer and a cancel: whichever comes first acts
        msg, ctx = call.msg, call.ctx

        def go() -> None:
            if first.acquire(blocking=False):
                ctx.on_cancel(lambda: None)
                call.executor.start(call.entry, msg, ctx, call.deliver)

        def cancelled() -> None:
            if first.acquire(blocking=False):  # go() will not run the attempt now
                stopped = StepCancelledError(f"step {msg.step_id!r} was cancelled while slow")
                outcome = _failed(msg, stopped, started)
                call.services.executor.run(lambda: outcome, msg, (), call.deliver)

        ctx.on_cancel(cancelled)
        call.services.clock.call_later(self.seconds, go)


class DelayOutcome(Fault):
    """Each attempt runs; its outcome reaches the engine only when :meth:`release` says."""

    def __init__(
        self, component: str, times: int | None, on_hold: Callable[[], None] | None = None
    ) -> None:
        super().__init__(component, times)
        self.held: list[tuple[str, str, Deliver, bytes]] = []
        self._on_hold = on_hold

    def start(self, call: Call) -> None:
        """Run the attempt; keep its outcome back."""

        def hold(outcome: bytes) -> None:
            with self._changed:
                self.held.append((call.msg.job_id, call.msg.step_id, call.deliver, outcome))
                self._changed.notify_all()
            if self._on_hold is not None:
                self._on_hold()

        call.executor.start(call.entry, call.msg, call.ctx, hold)

    def held_steps(self, job_id: str) -> set[str]:
        """The steps of ``job_id`` whose outcome is held back now."""
        with self._changed:
            return {step for job, step, _, _ in self.held if job == job_id}

    def wait_held(self, count: int = 1, timeout: float | None = 10.0) -> bool:
        """Block until ``count`` outcomes are held back; ``False`` on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: len(self.held) >= count, timeout)

    def release(self, count: int | None = None, *, job_id: str | None = None) -> int:
        """Let held outcomes through, oldest first; returns how many went through.

        ``count``: how many (all by default); ``job_id``: only that job's.
        """
        with self._changed:
            chosen = [h for h in self.held if job_id in (None, h[0])][:count]
            for item in chosen:
                self.held.remove(item)
        for _, _, deliver, outcome in chosen:
            deliver(outcome)
        return len(chosen)

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        self.release()  # nothing stays held once the block ends
