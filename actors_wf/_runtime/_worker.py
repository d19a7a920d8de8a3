"""The child side of process isolation: run component calls the engine sends.

Started as ``python -P -m actors_wf._runtime._worker TASKS REPLIES [LOCK]`` in its
own session (so the engine can kill it and everything it started with one
``killpg``), with the engine's import path and not its working directory
(``-P``). TASKS and REPLIES are pipe descriptors of their own: fd 0 is
/dev/null and fds 1 and 2 go to a file the engine reads after each attempt,
so a component's ``print()`` or a subprocess it starts cannot touch the
frames. Frames are a 4-byte big-endian length and a msgpack map, both ways:

- in: ``{"module", "qualname", "inputs", "job_id", "step_id", "attempt", "context"}``
- out: ``{"heartbeat": true}`` any number of times, then ``{"output": ...}``,
  ``{"bad_output": why}`` or ``{"error": {"type", "message", "traceback"}}``.

SIGTERM asks the running component to stop (``ctx.cancelled``); the engine
sends SIGKILL after the grace period. When the engine dies (SIGKILL
included) its end of TASKS closes, and a watchdog thread kills this
process's whole group at once: no attempt outlives the engine that ran it.
LOCK, the store's attempt lock, is held open for as long as this process
lives, so a recovering engine knows when every worker of the old one is gone.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import resource
import select
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from typing import IO, Any

from .._core._plain import PLAIN_TYPES, plain_problem
from ._frames import read_frame, write_frame


class _ChildContext:
    """The ``ctx`` a process-isolated component gets: the same surface as StepContext."""

    def __init__(self, task: dict[str, Any], out: IO[bytes]) -> None:
        self.job_id = task["job_id"]
        self.step_id = task["step_id"]
        self.attempt = task["attempt"]
        self._stop = threading.Event()
        self._out = out
        import logging

        self.log = logging.LoggerAdapter(
            logging.getLogger("actors_wf.component"),
            {"job_id": self.job_id, "step_id": self.step_id, "attempt": self.attempt},
        )

    @property
    def cancelled(self) -> bool:
        return self._stop.is_set()

    def cancel(self) -> None:
        self._stop.set()

    def heartbeat(self) -> None:
        write_frame(self._out, {"heartbeat": True})

    def check(self) -> None:
        if self._stop.is_set():
            raise SystemExit(143)

    def wait_cancelled(self, timeout: float | None = None) -> bool:
        # Event.wait is interrupted by the SIGTERM handler, which sets the event.
        return self._stop.wait(timeout)


def _target(task: dict[str, Any]) -> Any:
    target: Any = importlib.import_module(task["module"])
    for part in task["qualname"].split("."):
        target = getattr(target, part)
    if task.get("factory"):
        target = target()
    if isinstance(target, type):
        target = target().run
    return target


@contextlib.contextmanager
def _memory_limit(mib: int | None) -> Iterator[None]:
    """Cap the address space this call may add (RLIMIT_AS), then lift the cap again."""
    if not mib:
        yield
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        in_use = int(statm.read().split()[0]) * resource.getpagesize()
    cap = in_use + mib * 2**20
    resource.setrlimit(resource.RLIMIT_AS, (cap if hard < 0 else min(cap, hard), hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _run(task: dict[str, Any], out: IO[bytes], current: list[_ChildContext]) -> dict[str, Any]:
    try:
        call = _target(task)
        kwargs = dict(task["inputs"])
        if task["context"] or (
            task.get("factory") and "ctx" in inspect.signature(call).parameters
        ):
            ctx = _ChildContext(task, out)
            current[:] = [ctx]
            kwargs["ctx"] = ctx
        with _memory_limit(task.get("memory_limit")):
            output = call(**kwargs)
    except BaseException as exc:  # the component's failure is this attempt's result
        return {"error": _error(exc)}
    finally:
        current.clear()
    problem = plain_problem(output)
    if problem is not None:  # the engine words it as for a thread
        return {"bad_output": f"{problem}; return plain data ({PLAIN_TYPES})"}
    return {"output": output}


def _error(exc: BaseException) -> dict[str, str]:
    kind = type(exc)
    name = kind.__qualname__
    if kind.__module__ != "builtins":
        name = f"{kind.__module__}.{name}"
    text = "".join(traceback.format_exception(exc))
    return {"type": name, "message": str(exc), "traceback": text}


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Serve tasks from ``inp`` until it ends, replying on ``out``."""
    current: list[_ChildContext] = []

    def on_term(signum: int, frame: Any) -> None:
        for ctx in current:
            ctx.cancel()

    signal.signal(signal.SIGTERM, on_term)
    while True:
        task = read_frame(inp)
        if task is None:
            return
        write_frame(out, _run(task, out, current))


def _watch_engine(tasks: int) -> None:
    """Kill this process group once the engine's end of the task pipe has closed."""
    poll = select.poll()
    # Not POLLIN (the tasks are the main loop's): only a hang-up or an error wakes this.
    poll.register(tasks, 0)
    poll.poll()
    os.killpg(os.getpgrp(), signal.SIGKILL)


def main() -> None:
    """Serve the engine on the two descriptors named on the command line."""
    tasks, replies, *lock = (int(fd) for fd in sys.argv[1:])
    for fd in (tasks, replies, *lock):
        os.set_inheritable(fd, False)  # a subprocess of a component must not hold them
    threading.Thread(target=_watch_engine, args=(tasks,), daemon=True).start()
    with os.fdopen(tasks, "rb") as inp, os.fdopen(replies, "wb") as out:
        serve(inp, out)


if __name__ == "__main__":
    main()
