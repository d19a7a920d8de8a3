"""Process isolation: run an attempt in a warm worker process, kill it if it must stop.

A crash (segfault, ``os._exit``, the OOM killer) costs the attempt only: the
worker is replaced. A timeout or a cancel sends SIGTERM (the component sees
``ctx.cancelled``), and after the grace period SIGKILL to the worker's whole
process group, so what the component started dies with it.

Workers are started on first use and kept warm (started workers are reused
for later attempts) because starting Python with the engine's imports costs
tens of milliseconds here; a worker is never shared by two attempts at once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from .._codec import encode
from .._messages import RunStep, StepFailed, StepSucceeded
from .._records import ErrorInfo
from .._registry import RegistryEntry, import_path
from ._executor import (
    Deliver,
    StepContext,
    ThreadExecutor,
    bad_output,
    input_problem,
    output_problem,
)
from ._frames import read_frame, write_frame

log = logging.getLogger("actors_wf.process")


class Worker:
    """One child process serving attempts one at a time."""

    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "actors_wf._runtime._worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: killpg reaches its children
        )
        self.killed = False

    @property
    def alive(self) -> bool:
        """Whether the process still runs."""
        return self.proc.poll() is None

    def signal(self, signum: int) -> bool:
        """Send a signal to the worker's process group; ``False`` if it is gone."""
        try:
            os.killpg(self.proc.pid, signum)
        except ProcessLookupError:
            return False
        if signum == signal.SIGKILL:
            self.killed = True
        return True

    def close(self) -> None:
        """End the worker: close its stdin, then kill what is left, and reap it."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):  # it may be dead already
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class WorkerPool:
    """Warm workers, bounded; thread-safe."""

    def __init__(self, max_idle: int = 8) -> None:
        self._idle: list[Worker] = []
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()
        self._max_idle = max_idle
        self._closed = False

    def acquire(self) -> Worker:
        """An idle live worker, or a new one. Idle workers found dead are closed."""
        dead = []
        with self._lock:
            while self._idle:
                worker = self._idle.pop()
                if worker.alive:
                    self._busy.add(worker)
                    break
                dead.append(worker)
            else:
                worker = None
        for gone in dead:
            gone.close()  # its pipes, and its exit status
        if worker is not None:
            return worker
        worker = Worker()
        with self._lock:
            self._busy.add(worker)
        return worker

    def release(self, worker: Worker) -> None:
        """Take a worker back: kept warm if alive and there is room, else ended."""
        with self._lock:
            self._busy.discard(worker)
            keep = worker.alive and not worker.killed and not self._closed
            keep = keep and len(self._idle) < self._max_idle
            if keep:
                self._idle.append(worker)
                return
        worker.close()

    def close(self) -> None:
        """End every worker, busy ones included (they are killed)."""
        with self._lock:
            self._closed = True
            workers = [*self._idle, *self._busy]
            self._idle.clear()
            self._busy.clear()
        for worker in workers:
            if worker.alive:
                worker.signal(signal.SIGKILL)
            worker.close()


class ProcessExecutor:
    """Runs attempts in worker processes; a thread of the executor waits on each."""

    def __init__(self, threads: ThreadExecutor, pool: WorkerPool) -> None:
        self.threads = threads
        self.pool = pool

    def start(
        self, entry: RegistryEntry, msg: RunStep, ctx: StepContext, deliver: Deliver
    ) -> None:
        """Run the attempt in a worker process, then ``deliver`` its encoded outcome."""
        self.threads.run(run_in_process, msg, (self.pool, entry, msg, ctx), deliver)


def run_in_process(
    pool: WorkerPool, entry: RegistryEntry, msg: RunStep, ctx: StepContext
) -> bytes:
    """Run one attempt in a worker and return its encoded outcome (on an executor thread)."""
    started = time.time()
    path = import_path(entry.implementation)
    if path is None:
        return _failed(
            msg,
            started,
            ErrorInfo(
                "ComponentNotImportable",
                f"component {msg.component!r} runs in a process, so it must be importable: "
                "define it at module level (not in __main__, a function or a lambda)",
                step_id=msg.step_id,
            ),
        )
    bad_input = input_problem(entry, msg)
    if bad_input is not None:
        return _failed(msg, started, bad_input)
    worker = pool.acquire()
    ctx.on_kill(lambda: worker.signal(signal.SIGKILL))
    ctx.on_cancel(lambda: worker.signal(signal.SIGTERM))
    crash = None
    try:
        try:
            assert worker.proc.stdin is not None and worker.proc.stdout is not None
            write_frame(
                worker.proc.stdin,
                {
                    "module": path[0],
                    "qualname": path[1],
                    "inputs": msg.inputs,
                    "job_id": msg.job_id,
                    "step_id": msg.step_id,
                    "attempt": msg.attempt,
                    "context": entry.takes_context,
                    "factory": getattr(entry.definition, "factory", False),
                    "memory_limit": getattr(entry.definition, "memory_limit", None),
                },
            )
            reply = _read_reply(worker, ctx)
        except (BrokenPipeError, OSError):
            reply = None
        if reply is None:
            # Known dead before it goes back: a worker still exiting must not
            # look alive to the pool and be kept.
            crash = _crash(worker, msg.step_id)
    finally:
        # The attempt is over: a late kill or cancel must not reach the worker,
        # which may serve another attempt next.
        ctx.on_kill(_over)
        ctx.on_cancel(_over)
        pool.release(worker)
    if crash is not None:
        return _failed(msg, started, crash)
    assert reply is not None
    if "error" in reply:
        error = ErrorInfo(step_id=msg.step_id, **reply["error"])
        return _failed(msg, started, error)
    if "bad_output" in reply:
        return _failed(msg, started, bad_output(msg, reply["bad_output"]))
    bad = output_problem(entry, msg, reply["output"])
    if bad is not None:
        return _failed(msg, started, bad)
    return encode(
        StepSucceeded(msg.job_id, msg.step_id, msg.attempt, reply["output"], started, time.time())
    )


def _over() -> bool:
    return True  # nothing left to stop


def _read_reply(worker: Worker, ctx: StepContext) -> dict[str, Any] | None:
    assert worker.proc.stdout is not None
    while True:
        frame = read_frame(worker.proc.stdout)
        if frame is None or not isinstance(frame, dict):
            return None
        if frame.get("heartbeat"):
            ctx.heartbeat()
            continue
        return frame


def _crash(worker: Worker, step_id: str) -> ErrorInfo:
    code = worker.proc.wait()
    if code < 0:
        name = signal.Signals(-code).name
        how = f"was killed ({name})" if worker.killed else f"died of signal {name}"
        return ErrorInfo("ProcessCrashed", f"the component's process {how}", step_id=step_id)
    return ErrorInfo(
        "ProcessCrashed",
        f"the component's process exited with code {code} before returning",
        step_id=step_id,
    )


def _failed(msg: RunStep, started: float, error: ErrorInfo) -> bytes:
    return encode(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, started, time.time()))
