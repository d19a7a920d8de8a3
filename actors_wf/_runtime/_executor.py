"""Executors: where component code runs, never on an actor's message loop.

The thread executor hands calls to a pool of worker threads. A call
returns the encoded outcome message (``StepSucceeded`` or ``StepFailed``), so
the encoding, and the error for an output msgpack cannot carry, happen on the
worker thread too.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from .._core._codec import encode
from .._core._errors import MessageError
from .._core._kinds import FailureKind
from .._core._messages import RunStep, StepFailed, StepSucceeded
from .._core._plain import PLAIN_TYPES, plain_problem
from .._core._records import ErrorInfo
from .._core._types import parse_type
from .._registry._entry import RegistryEntry
from ._attempt import StepCancelledError, StepContext, call

log = logging.getLogger("actors_wf.executor")
_COMPONENT_LOG = logging.getLogger("actors_wf.component")


# (job_id, step_id, attempt) of the attempt this thread runs, for LogContextFilter.
LOG_CONTEXT: contextvars.ContextVar[tuple[str, str, int] | None] = contextvars.ContextVar(
    "actors_wf_step", default=None
)


class LogContextFilter(logging.Filter):
    """Put ``job_id``, ``step_id``, ``attempt`` and ``trace_id`` on every log record.

    Add it to a handler; then a format such as
    ``"%(trace_id)s %(job_id)s %(step_id)s#%(attempt)s %(message)s"`` works for
    records from the engine and from components alike (plain
    ``logging.getLogger(__name__)`` in a component is enough). Outside a step
    the fields are ``-``. The trace id is the job id: one job, one trace.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Fill the fields from the running step, unless the record has them."""
        current = LOG_CONTEXT.get()
        job, step, attempt = current if current is not None else ("-", "-", "-")
        for name, value in (("job_id", job), ("step_id", step), ("attempt", attempt)):
            if not hasattr(record, name):
                setattr(record, name, value)
        if not hasattr(record, "trace_id"):
            record.trace_id = getattr(record, "job_id", "-")
        return True


def input_problem(entry: RegistryEntry, msg: RunStep) -> ErrorInfo | None:
    """A ``ComponentInputError`` if the inputs do not fit the component's declared types."""
    declared = getattr(entry.definition, "inputs", None) or {}
    given = msg.inputs
    if not given.keys() >= entry.required_inputs:
        missing = min(entry.required_inputs - given.keys())
        return _input_error(msg, f"input {missing!r} ({declared.get(missing, 'any')}) is required")
    for name, value in given.items():
        kind = declared.get(name)
        if kind is None:
            if not entry.takes_any_input:
                return _input_error(msg, f"{msg.component!r} takes no input {name!r}")
            continue
        expected = parse_type(kind)
        # Checked without naming the input first: the name is spelled out only
        # for the message, not for every input of every step that fits.
        if expected.problem(value) is not None:
            return _input_error(msg, str(expected.problem(value, f"input {name!r}")))
    return None


def _input_error(msg: RunStep, text: str) -> ErrorInfo:
    return ErrorInfo(
        FailureKind.COMPONENT_INPUT,
        f"step {msg.step_id!r} ({msg.component}): {text}",
        step_id=msg.step_id,
    )


def output_problem(entry: RegistryEntry, msg: RunStep, output: Any) -> ErrorInfo | None:
    """A ``ComponentOutputError`` if the output is not plain data or not of the declared type.

    The same check in every mode: a thread's output and a process's alike.
    """
    kind = type(output)
    plain = kind in _PLAIN_SCALARS or (kind is int and -(2**63) <= output < 2**64)
    problem = None if plain else plain_problem(output)
    if problem is not None:
        return bad_output(msg, f"{problem}; return plain data ({PLAIN_TYPES})")
    declared = getattr(entry.definition, "output", None)
    if not declared:
        return None
    problem = parse_type(declared).problem(output, "output")
    return None if problem is None else bad_output(msg, str(problem))


# Outputs that need no walk: most of them, checked inline (ints for their range).
_PLAIN_SCALARS = frozenset({type(None), bool, float, str, bytes})


def bad_output(msg: RunStep, problem: str) -> ErrorInfo:
    """The ``ComponentOutputError`` of an attempt."""
    return ErrorInfo(
        FailureKind.COMPONENT_OUTPUT,
        f"step {msg.step_id!r} ({msg.component}): {problem}",
        step_id=msg.step_id,
    )


def _outcome(fn: Callable[..., bytes], msg: RunStep, args: tuple[Any, ...]) -> bytes:
    try:
        return fn(*args)
    except Exception as exc:  # an engine bug: the step fails with it, nothing hangs
        log.exception("step %r of job %s: the engine failed to run it", msg.step_id, msg.job_id)
        error = ErrorInfo.from_exception(exc, msg.step_id)
        now = time.time()
        return encode(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, now, now))


def _deliver(deliver: Deliver, msg: RunStep, outcome: bytes) -> None:
    try:
        deliver(outcome)
    except Exception:  # an engine bug: logged here, or nobody would ever see it
        log.exception("step %r of job %s: delivering its outcome failed", msg.step_id, msg.job_id)


def run_attempt(entry: RegistryEntry, msg: RunStep, ctx: StepContext) -> bytes:
    """Run one attempt and return its encoded outcome message."""
    started = time.time()
    bad_input = input_problem(entry, msg)
    if bad_input is not None:
        return failed(msg, bad_input, started)
    token = LOG_CONTEXT.set((msg.job_id, msg.step_id, msg.attempt))
    try:
        output = call(
            entry.implementation,
            msg.inputs,
            ctx,
            factory=getattr(entry.definition, "factory", False),
            takes_context=entry.takes_context,
        )
    except BaseException as exc:  # a component's sys.exit() fails its step, not a worker
        return failed(msg, ErrorInfo.from_exception(exc, msg.step_id), started)
    finally:
        LOG_CONTEXT.reset(token)
    return outcome(entry, msg, output, started)


async def run_attempt_async(entry: RegistryEntry, msg: RunStep, ctx: StepContext) -> bytes:
    """:func:`run_attempt` for an ``async def`` component, as a task on an event loop."""
    started = time.time()
    bad_input = input_problem(entry, msg)
    if bad_input is not None:
        return failed(msg, bad_input, started)
    LOG_CONTEXT.set((msg.job_id, msg.step_id, msg.attempt))  # the task's own context
    target = entry.implementation
    target = target().run if isinstance(target, type) else target
    try:
        output = await (
            target(ctx=ctx, **msg.inputs) if entry.takes_context else target(**msg.inputs)
        )
    except asyncio.CancelledError:
        stopped = StepCancelledError(f"step {msg.step_id!r} of job {msg.job_id} was cancelled")
        return failed(msg, ErrorInfo.from_exception(stopped, msg.step_id), started)
    except BaseException as exc:
        return failed(msg, ErrorInfo.from_exception(exc, msg.step_id), started)
    return outcome(entry, msg, output, started)


def failed(msg: RunStep, error: ErrorInfo, started: float, worker: str = "") -> bytes:
    """The encoded ``StepFailed`` of an attempt (``worker``: the Dask worker it ran on)."""
    now = time.time()
    return encode(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, started, now, worker))


def outcome(
    entry: RegistryEntry, msg: RunStep, output: Any, started: float, worker: str = ""
) -> bytes:
    """The encoded outcome of an attempt that returned ``output``: checked, then stored."""
    finished = time.time()
    job_id, step_id, attempt = msg.job_id, msg.step_id, msg.attempt
    bad_output = output_problem(entry, msg, output)
    if bad_output is not None:
        return encode(StepFailed(job_id, step_id, attempt, bad_output, started, finished, worker))
    try:
        return encode(StepSucceeded(job_id, step_id, attempt, output, started, finished, worker))
    except MessageError as exc:
        error = ErrorInfo(
            FailureKind.COMPONENT_OUTPUT,
            f"the output of step {msg.step_id!r} ({type(output).__name__}) cannot be stored: "
            f"{exc.__cause__}; return plain data (dict, list, str, int, float, bool, bytes, None)",
            step_id=msg.step_id,
        )
        return encode(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, started, finished))


Deliver = Callable[[bytes], None]


class ExecutorClosed(RuntimeError):
    """The executor is shut down: the engine is closing and runs no new attempt."""


class ThreadExecutor:
    """Runs attempts on a pool of worker threads.

    A ``SimpleQueue`` of calls and up to ``max_workers`` threads, started as
    calls find no idle one. A worker that finishes a call takes the next one
    waiting without sleeping. Of the idle workers, one listens on the queue
    and the others are parked, each on its own inbox; a call that waits with
    nobody listening unparks the one parked last (or starts a thread), and a
    worker that takes a call from the queue does the same for the calls
    behind it, so a burst still gets as many workers as it has calls.

    Why one listener: with every idle worker waiting on the queue, the
    kernel hands calls round all of them in turn, so a chain of steps after a
    burst ran each step on a cold thread, with twice the context switches
    (see docs/performance.md). Waking
    a chosen worker for every call instead (a stack of idle workers) kept a
    chain on one thread but cost a fan-out more: there, most calls are best
    taken by a worker that has just finished one.

    Not ``concurrent.futures``: the worker delivers each outcome itself, so
    nothing would read a future, and its future, work item and idle
    semaphore (a Python ``Condition``) per call cost more than the rest of the
    hand-off. Workers are daemon threads: a thread-mode component that never
    returns cannot keep the process from exiting.
    """

    def __init__(self, max_workers: int = 32) -> None:
        self._max = max_workers
        self._threads: list[threading.Thread] = []
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        # At most one idle worker waits on the calls; the other idle ones are
        # parked, each on its own inbox, the one parked last on top.
        self._listening = 0
        self._parked: list[queue.SimpleQueue[bool]] = []
        self._lock = threading.Lock()
        self._closed = False

    def start(
        self, entry: RegistryEntry, msg: RunStep, ctx: StepContext, deliver: Deliver
    ) -> None:
        """Run one attempt on a worker thread, then ``deliver`` its encoded outcome there."""
        self.run(run_attempt, msg, (entry, msg, ctx), deliver)

    def run(
        self, fn: Callable[..., bytes], msg: RunStep, args: tuple[Any, ...], deliver: Deliver
    ) -> None:
        """Schedule ``fn(*args)`` for the attempt ``msg``; the outcome goes to ``deliver``.

        The worker does both. Should ``fn`` raise (it is meant to return the
        outcome of any failure), the outcome is a ``StepFailed`` with that error.

        Raises:
            ExecutorClosed: the executor is shut down (the engine is closing).
        """
        with self._lock:
            if self._closed:
                raise ExecutorClosed("the thread executor is shut down")
            self._calls.put((fn, msg, args, deliver))
            if self._listening:
                return  # the listener takes it
            wake = self._new_listener()
        if wake is not None:
            wake.put(True)

    def _new_listener(self) -> queue.SimpleQueue[bool] | None:
        """Calls wait and nobody listens: unpark a worker to listen, or start one.

        Returns the parked worker's inbox, to be woken once the lock is let
        go; ``None`` when a thread was started, or every worker is busy (one
        takes the call when it is done). Called under the lock: a thread is
        started under it, so ``shutdown`` never finds one not yet started.
        """
        if self._parked:
            self._listening += 1
            return self._parked.pop()
        if len(self._threads) < self._max:
            self._listening += 1
            thread = threading.Thread(
                target=self._work,
                args=(queue.SimpleQueue(),),
                name=f"actors_wf-step-{len(self._threads)}",
                daemon=True,
            )
            self._threads.append(thread)
            thread.start()
        return None

    def _work(self, parked: queue.SimpleQueue[bool]) -> None:
        calls, lock = self._calls, self._lock
        while True:
            call = calls.get()  # listening
            wake = None
            with lock:
                self._listening -= 1
                if not self._closed and not calls.empty():  # more wait: hand the queue on
                    wake = self._new_listener()
            if wake is not None:
                wake.put(True)
            while call is not None:
                fn, msg, args, deliver = call
                call = _NOTHING  # not kept alive while this worker waits
                _deliver(deliver, msg, _outcome(fn, msg, args))
                del fn, msg, args, deliver
                if not calls.empty():  # more waiting: taken without a sleep
                    with contextlib.suppress(queue.Empty):  # unless another worker was quicker
                        call = calls.get_nowait()
                if call is _NOTHING:
                    break
            if call is None:
                return  # the executor is shut down
            with lock:
                if self._closed:
                    return
                listen = not self._listening
                if listen:
                    self._listening += 1
                else:
                    self._parked.append(parked)
            if not listen and not parked.get():
                return

    @property
    def threads(self) -> int:
        """How many worker threads have been started."""
        return len(self._threads)

    def shutdown(self, timeout: float = 10.0) -> bool:
        """Stop the pool: drop the calls not started, wait up to ``timeout`` for the running ones.

        Returns:
            ``False`` when calls were still running at the deadline: a thread
            cannot be killed, so they run on and their results are dropped.
        """
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            parked, self._parked = self._parked, []
        with contextlib.suppress(queue.Empty):
            while True:
                self._calls.get_nowait()
        for _ in threads:
            self._calls.put(None)
        for wake in parked:
            wake.put(False)
        deadline = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
        stuck = sum(thread.is_alive() for thread in threads)
        if stuck:
            log.error(
                "%d component call(s) still running after %gs; they ignore cancellation "
                "and cannot be stopped in thread mode (use isolation: process)",
                stuck,
                timeout,
            )
            return False
        return True


_Call = tuple[Callable[..., bytes], RunStep, tuple[Any, ...], "Deliver"]
_NOTHING: Any = object()  # a worker's "no call in hand"


class AsyncExecutor:
    """Runs ``async def`` components as tasks on one event loop, in a thread of its own.

    Started on first use. Many attempts that await share the loop: a thousand
    steps that each wait on I/O hold no thread each. A cancel of an attempt
    (a timeout, ``cancel_job``) cancels its task.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task[bytes]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def start(
        self, entry: RegistryEntry, msg: RunStep, ctx: StepContext, deliver: Deliver
    ) -> None:
        """Start the attempt on the loop; its encoded outcome goes to ``deliver`` there.

        Raises:
            ExecutorClosed: the executor is shut down (the engine is closing).
        """
        loop = self._running()
        loop.call_soon_threadsafe(self._begin, loop, entry, msg, ctx, deliver)

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._closed:
                raise ExecutorClosed("the async executor is shut down")
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                self._thread = threading.Thread(
                    target=self._loop.run_forever, name="actors_wf-async", daemon=True
                )
                self._thread.start()
            return self._loop

    def _begin(
        self,
        loop: asyncio.AbstractEventLoop,
        entry: RegistryEntry,
        msg: RunStep,
        ctx: StepContext,
        deliver: Deliver,
    ) -> None:
        task = loop.create_task(run_attempt_async(entry, msg, ctx))
        self._tasks.add(task)

        def cancel() -> bool:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing runs
                loop.call_soon_threadsafe(task.cancel)
            return True  # it stops at its next await; its outcome reports that

        ctx.on_cancel(cancel)
        ctx.on_kill(cancel)
        if ctx.cancelled:
            task.cancel()
        task.add_done_callback(lambda done: self._done(done, msg, deliver))

    def _done(self, task: asyncio.Task[bytes], msg: RunStep, deliver: Deliver) -> None:
        self._tasks.discard(task)
        if task.cancelled():  # cancelled before it began: no outcome of its own
            stopped = StepCancelledError(f"step {msg.step_id!r} was cancelled")
            result = failed(msg, ErrorInfo.from_exception(stopped, msg.step_id), time.time())
        else:
            result = task.result()
        _deliver(deliver, msg, result)

    def shutdown(self, timeout: float = 10.0) -> None:
        """Cancel the running tasks, stop the loop and its thread."""
        with self._lock:
            self._closed = True
            loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        loop.call_soon_threadsafe(lambda: asyncio.ensure_future(self._stop(loop, timeout)))
        thread.join(timeout + 1.0)
        if not thread.is_alive():
            loop.close()

    async def _stop(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        loop.stop()
