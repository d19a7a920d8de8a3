"""One attempt of a component, as every executor runs it: the context and the call.

A thread runs it here, in the engine's process; a worker process runs the
same code (``_worker``), so a component behaves the same in either mode:
``ctx.check()`` raises :class:`StepCancelledError` in both, a factory or a
class is called the same way, and an error is captured the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import threading
import time
import types
from collections.abc import Callable, Coroutine
from typing import Any

from .._registry._entry import CONTEXT_PARAM

_COMPONENT_LOG = logging.getLogger("actors_wf.component")


class StepCancelledError(BaseException):
    """Raised by :meth:`StepContext.check` once the step was asked to stop.

    A ``BaseException`` (as Trio's cancellation is) so that a component's
    ``except Exception`` cannot swallow it.
    """


class StepContext:
    """What a component that takes a ``ctx`` argument gets.

    Attributes:
        job_id: the job.
        step_id: the step.
        attempt: the attempt number, 1 for the first.
    """

    def __init__(
        self,
        job_id: str,
        step_id: str,
        attempt: int,
        now: Callable[[], float] = time.monotonic,
        on_heartbeat: Callable[[], object] | None = None,
        log: logging.LoggerAdapter[logging.Logger] | None = None,
    ) -> None:
        self.job_id = job_id
        self.step_id = step_id
        self.attempt = attempt
        self._now = now
        self._on_heartbeat = on_heartbeat  # a worker process sends the beat to its engine
        self.last_heartbeat = now()
        self._killer: Callable[[], bool] | None = None
        self._on_cancel: Callable[[], object] | None = None
        # A cancel and the call's return are settled under one lock; the Event
        # a waiting component blocks on is made only if one waits.
        self._ending = threading.Lock()
        self._cancelled = False
        self._returned = False
        self._wake: threading.Event | None = None
        self._log = log  # a Dask worker's sends its records to the engine

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records carry the job, step and attempt (made when first used)."""
        if self._log is None:
            self._log = logging.LoggerAdapter(
                _COMPONENT_LOG,
                {"job_id": self.job_id, "step_id": self.step_id, "attempt": self.attempt},
            )
        return self._log

    @property
    def cancelled(self) -> bool:
        """Whether the step was asked to stop; a long component should poll it."""
        return self._cancelled

    def check(self) -> None:
        """Raise :class:`StepCancelledError` if the step was asked to stop."""
        if self._cancelled:
            raise StepCancelledError(f"step {self.step_id!r} of job {self.job_id} was cancelled")

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        """Block up to ``timeout`` seconds for a cancel; return whether it came."""
        with self._ending:
            if self._cancelled:
                return True
            if self._wake is None:
                self._wake = threading.Event()
            wake = self._wake
        return wake.wait(timeout)

    def heartbeat(self) -> None:
        """Tell the engine the component is alive (see ``heartbeat_timeout``)."""
        self.last_heartbeat = self._now()
        if self._on_heartbeat is not None:
            self._on_heartbeat()

    def cancel(self) -> bool:
        """Ask the component to stop (called by the engine).

        Returns:
            ``False`` when the call had already returned (see :meth:`returned`):
            there is nothing to stop.
        """
        with self._ending:
            if self._returned:
                return False
            self._cancelled = True
            wake = self._wake
        if wake is not None:
            wake.set()
        if self._on_cancel is not None:
            self._on_cancel()
        return True

    def returned(self) -> bool:
        """Record that the call has returned, unless a cancel came first (called by the engine).

        Exactly one of this and :meth:`cancel` wins: ``True`` here means no
        cancel ever reaches this attempt.
        """
        with self._ending:
            if self._cancelled:
                return False
            self._returned = True
            return True

    def on_cancel(self, hook: Callable[[], object]) -> None:
        """Set what else a cancel does (process mode: SIGTERM to the worker)."""
        self._on_cancel = hook

    def on_kill(self, killer: Callable[[], bool]) -> None:
        """Set how the engine can force the attempt to stop (process mode sets one)."""
        self._killer = killer

    def kill(self) -> bool:
        """Force the attempt to stop; ``False`` when it cannot be (a thread)."""
        return self._killer() if self._killer is not None else False


def call(
    target: Any, inputs: dict[str, Any], ctx: StepContext, *, factory: bool, takes_context: bool
) -> Any:
    """Call a component: the one way, in a thread and in a worker process alike.

    A function is called; a class is instantiated, then ``run()``; a factory
    makes the callable for this attempt first.
    """
    if factory:
        target = target()
        takes_context = CONTEXT_PARAM in inspect.signature(_run_of(target)).parameters
    target = _run_of(target)
    result = target(ctx=ctx, **inputs) if takes_context else target(**inputs)
    if type(result) is types.CoroutineType:  # an async def component (no call per step)
        return _until_done(result, ctx)
    return result


def _until_done(coroutine: Coroutine[Any, Any, Any], ctx: StepContext) -> Any:
    """Run an async component to its end on an event loop of its own, in this thread.

    A cancel of the attempt (a timeout, ``cancel_job``) cancels its task: code
    that awaits stops at its next ``await``, with no grace period to wait out.
    """
    loop = asyncio.new_event_loop()
    task = loop.create_task(coroutine)

    def cancel() -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to stop
            loop.call_soon_threadsafe(task.cancel)

    ctx.on_cancel(cancel)
    if ctx.cancelled:
        task.cancel()
    try:
        return loop.run_until_complete(task)
    except asyncio.CancelledError:
        raise StepCancelledError(
            f"step {ctx.step_id!r} of job {ctx.job_id} was cancelled"
        ) from None
    finally:
        ctx.on_cancel(_nothing)
        loop.close()


def _nothing() -> None:
    """What a cancel does once the attempt's loop is gone."""


def _run_of(target: Any) -> Any:
    return target().run if isinstance(target, type) else target
