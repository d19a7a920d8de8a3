"""The child side of process isolation: run component calls the engine sends.

Started as ``python -P -m actors_wf._runtime._worker TASKS REPLIES [LOCK]`` in its
own session (so the engine can kill it and everything it started with one
``killpg``), with the engine's import path and not its working directory
(``-P``). TASKS and REPLIES are pipe descriptors of their own: fd 0 is
/dev/null and fds 1 and 2 go to a file the engine reads after each attempt,
so a component's ``print()`` or a subprocess it starts cannot touch the
frames. Frames are a 4-byte big-endian length and a msgpack map, both ways:

- in: ``{"module", "qualname", "file", "inputs", "job_id", "step_id", "attempt", "context"}``
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
import importlib.util
import os
import queue
import resource
import select
import signal
import sys
import threading
from collections.abc import Iterator
from typing import IO, Any

from .._core._plain import PLAIN_TYPES, plain_problem
from .._core._records import ErrorInfo
from ._attempt import StepContext, call
from ._frames import read_frame, write_frame


def _target(task: dict[str, Any]) -> Any:
    target: Any = _module(task["module"], task.get("file"))
    for part in task["qualname"].split("."):
        target = getattr(target, part)
    return target


def _module(name: str, file: str | None) -> Any:
    """Import by name, or from the file the engine loaded it from (a .py beside a workflow)."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name != name or not file:
            raise
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"no module named {name!r}, nor a module at {file}", name=name)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module


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


def _run(task: dict[str, Any], out: IO[bytes], current: list[StepContext]) -> dict[str, Any]:
    ctx = StepContext(
        task["job_id"],
        task["step_id"],
        task["attempt"],
        on_heartbeat=lambda: write_frame(out, _BEAT),
    )
    current[:] = [ctx]
    try:
        target = _target(task)
        with _memory_limit(task.get("memory_limit")):
            output = call(
                target,
                dict(task["inputs"]),
                ctx,
                factory=bool(task.get("factory")),
                takes_context=task["context"],
            )
    except BaseException as exc:  # the component's failure is this attempt's result
        error = ErrorInfo.from_exception(exc)
        return {
            "error": {"type": error.type, "message": error.message, "traceback": error.traceback}
        }
    finally:
        current.clear()
    problem = plain_problem(output)
    if problem is not None:  # the engine words it as for a thread
        return {"bad_output": f"{problem}; return plain data ({PLAIN_TYPES})"}
    return {"output": output}


_BEAT = {"heartbeat": True}


def serve(inp: IO[bytes], out: IO[bytes]) -> None:
    """Serve tasks from ``inp`` until it ends, replying on ``out``.

    SIGTERM cancels the running attempt (``ctx.cancelled``, ``ctx.check()``).
    The handler only queues the request (``SimpleQueue.put`` may be called
    from a signal handler): the cancel itself takes the context's lock, which
    the interrupted code may hold, so a thread of its own does it.
    """
    current: list[StepContext] = []
    requests: queue.SimpleQueue[bool] = queue.SimpleQueue()

    def cancel_on_request() -> None:
        while requests.get():
            for ctx in list(current):
                ctx.cancel()

    canceller = threading.Thread(target=cancel_on_request, daemon=True)
    canceller.start()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: requests.put(True))
    try:
        while True:
            task = read_frame(inp)
            if task is None:
                return
            write_frame(out, _run(task, out, current))
    finally:
        signal.signal(signal.SIGTERM, previous)
        requests.put(False)
        canceller.join()


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
