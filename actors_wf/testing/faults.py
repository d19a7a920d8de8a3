"""Faults injected into registered components by id, without editing their code.

Each function returns a context manager: the fault applies to the
component's attempts (in every engine of the process) while the ``with``
block lasts, and is undone when it ends::

    with faults.fail("etl.fetch", times=2, error=ConnectionError) as fault:
        job = engine.jobs_sync.create_job("etl", start=True)   # retried twice
        fault.wait(2)
    with faults.slow("etl.load", seconds=30) as fault:
        ...
        fault.wait()                  # the attempt waits on the engine's clock
        engine.clock.advance(30)      # and runs now

A fault's ``applied`` counts the attempts it took; ``wait(count)`` blocks
until it has taken that many.
"""

from __future__ import annotations

from .._runtime._faults import Crash, DelayOutcome, Fail, Fault, Hang, Slow

__all__ = [
    "Crash",
    "DelayOutcome",
    "Fail",
    "Fault",
    "Hang",
    "Slow",
    "crash",
    "delay_outcome",
    "fail",
    "hang",
    "slow",
]


def fail(
    component: str,
    times: int | None = None,
    error: BaseException | type[BaseException] = RuntimeError,
) -> Fail:
    """The component's attempts raise ``error`` (a class or an instance) instead of running.

    ``times``: the first so many attempts (``None``: every one). The step's
    retry policy sees the error as it would a real one (its type name is
    what ``non_retryable_errors`` matches).
    """
    return Fail(component, times, error)


def hang(component: str, times: int | None = None) -> Hang:
    """The component's attempts block until cancelled: by a timeout, a cancel or the close."""
    return Hang(component, times)


def crash(component: str, times: int | None = None) -> Crash:
    """The component's attempts run in a worker process that dies (SIGKILL) before returning.

    The engine sees what it sees when a real worker dies: the attempt fails
    with the error type ProcessCrashed (retryable), whatever the isolation.
    """
    return Crash(component, times)


def slow(component: str, seconds: float, times: int | None = None) -> Slow:
    """The component's attempts start ``seconds`` late on the engine's clock.

    On a :class:`~actors_wf.ManualClock` they start when the test advances it
    that far (``fault.wait()`` first: the attempt must have begun); a timeout
    or cancel that comes first ends the attempt without running it.
    """
    return Slow(component, times, seconds)


def delay_outcome(component: str, times: int | None = None) -> DelayOutcome:
    """The component's attempts run, but their outcomes wait for ``fault.release()``.

    Use it to make steps finish in an order of the test's choosing: hold one,
    let another through, then ``release()``. ``wait_held(n)`` blocks until
    ``n`` outcomes are held; what is still held when the block ends goes through.
    """
    return DelayOutcome(component, times)
