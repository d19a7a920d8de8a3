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
import fcntl
import logging
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .._core._codec import encode
from .._core._errors import StoreError
from .._core._kinds import FailureKind
from .._core._messages import RunStep, StepFailed, StepSucceeded
from .._core._records import ErrorInfo
from .._registry._entry import RegistryEntry, import_path
from ._attempt import StepContext
from ._executor import (
    Deliver,
    ThreadExecutor,
    bad_output,
    input_problem,
    output_problem,
)
from ._frames import read_frame, write_frame

log = logging.getLogger("actors_wf.process")
_COMPONENT_LOG = logging.getLogger("actors_wf.component")


class Worker:
    """One child process serving attempts one at a time.

    It talks over two pipes of its own (not stdin or stdout); its fds 1 and 2
    go to ``output``, a file read after each attempt; a pidfd tells the
    engine the moment it exits, whatever its children still hold open.
    """

    def __init__(self, lock: int | None = None) -> None:
        task_r, task_w = os.pipe()
        reply_r, reply_w = os.pipe()
        self.output = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        fcntl.fcntl(
            self.output, fcntl.F_SETFL, fcntl.fcntl(self.output, fcntl.F_GETFL) | os.O_APPEND
        )
        path = os.pathsep.join(p for p in sys.path if p)
        keep = (task_r, reply_w) if lock is None else (task_r, reply_w, lock)
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-P", "-m", "actors_wf._runtime._worker", *map(str, keep)],
                stdin=subprocess.DEVNULL,
                stdout=self.output,
                stderr=self.output,
                pass_fds=keep,
                env={**os.environ, "PYTHONPATH": path},
                start_new_session=True,  # its own process group: killpg reaches its children
            )
        except BaseException:
            for fd in (task_w, reply_r):
                os.close(fd)
            self.output.close()
            raise
        finally:
            for fd in (task_r, reply_w):
                os.close(fd)  # the child's ends: the pipes close when it exits
        self.tasks = os.fdopen(task_w, "wb")
        self.replies = os.fdopen(reply_r, "rb", buffering=0)  # poll() sees every byte
        self.pidfd = os.pidfd_open(self.proc.pid)
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

    def wait_reply(self) -> bool:
        """Wait until a reply can be read (``True``) or the process has exited (``False``)."""
        poll = select.poll()
        poll.register(self.replies, select.POLLIN)
        poll.register(self.pidfd, select.POLLIN)
        events = dict(poll.poll())
        # Data first: a worker that replied and then died still gave its reply.
        return bool(events.get(self.replies.fileno(), 0) & select.POLLIN)

    def printed(self) -> str:
        """What the process wrote to stdout and stderr since the last call (its tail)."""
        fd = self.output.fileno()
        size = os.fstat(fd).st_size
        if not size:
            return ""
        start = max(0, size - MAX_PRINTED)
        text = os.pread(fd, size - start, start).decode("utf-8", "replace")
        os.ftruncate(fd, 0)
        return text if not start else f"[{start:,} bytes cut]...{text}"

    def close(self) -> None:
        """End the worker: close its task pipe (it exits, its group killed), and reap it."""
        with contextlib.suppress(OSError):  # it may be dead already
            self.tasks.close()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait()
        self.replies.close()
        self.output.close()
        os.close(self.pidfd)


# The tail of what one attempt printed that is kept for the log.
MAX_PRINTED = 64 * 1024


class AttemptLock:
    """A lock file beside a store, held shared by its engine and every worker of it.

    The engine's workers inherit its open file, so the lock stays held until
    the last process of that engine has exited (the engine killed with
    SIGKILL included: its workers follow it, see ``_worker``). A recovering
    engine takes the lock exclusively first: it gets it only once no process
    of an engine that used the store before still runs, so an attempt it runs
    again never runs beside the old one.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            self._take(fcntl.LOCK_SH, LOCK_WAIT)  # held exclusively only while one recovers
        except BaseException:
            os.close(self.fd)
            raise

    def exclusive(self, timeout: float = 10.0) -> None:
        """Wait until no process of another engine holds the lock, then hold it shared again.

        Raises:
            StoreError: still held after ``timeout`` seconds: another engine (or
                a process it left) is using the store.
        """
        self._take(fcntl.LOCK_EX, timeout)
        fcntl.flock(self.fd, fcntl.LOCK_SH)

    def _take(self, kind: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(self.fd, kind | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"store lock {str(self.path)!r} is still held after {timeout:g}s: "
                        "another engine, or a worker process it left, is using the store "
                        f"(`fuser {self.path}` names them); stop it, then recover"
                    ) from None
            time.sleep(0.01)  # a flock has no timeout; the old workers die within ms

    def close(self) -> None:
        """Let the lock go (workers still running keep it held)."""
        os.close(self.fd)


# Seconds a new engine waits for a recovering one to let go of the lock.
LOCK_WAIT = 10.0


class WorkerPool:
    """Warm workers, bounded; thread-safe."""

    def __init__(self, max_idle: int = 8, lock: AttemptLock | None = None) -> None:
        self.lock = lock
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
        worker = Worker(None if self.lock is None else self.lock.fd)
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
        """End every worker: idle ones now, busy ones killed (their threads close them)."""
        with self._lock:
            self._closed = True
            idle, busy = list(self._idle), list(self._busy)
            self._idle.clear()
        for worker in busy:
            worker.signal(signal.SIGKILL)  # its attempt's thread sees it exit, then releases it
        for worker in idle:
            worker.close()
        if self.lock is not None:
            self.lock.close()


class ProcessExecutor:
    """Runs attempts in worker processes; a thread of the executor waits on each."""

    def __init__(self, threads: ThreadExecutor, pool: WorkerPool) -> None:
        self.threads = threads
        self.pool = pool
        self.attempts = 0  # started here, for the metrics per executor
        self._counting = threading.Lock()

    def start(
        self, entry: RegistryEntry, msg: RunStep, ctx: StepContext, deliver: Deliver
    ) -> None:
        """Run the attempt in a worker process, then ``deliver`` its encoded outcome."""
        with self._counting:
            self.attempts += 1
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
                FailureKind.COMPONENT_NOT_IMPORTABLE,
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
            write_frame(
                worker.tasks,
                {
                    "module": path[0],
                    "qualname": path[1],
                    "file": getattr(sys.modules.get(path[0]), "__file__", None),
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
        _log_printed(worker, msg)
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


def _log_printed(worker: Worker, msg: RunStep) -> None:
    printed = worker.printed()
    if printed:
        _COMPONENT_LOG.info(
            "step %r of job %s (attempt %d) printed:\n%s",
            msg.step_id,
            msg.job_id,
            msg.attempt,
            printed.rstrip("\n"),
            extra={"job_id": msg.job_id, "step_id": msg.step_id, "attempt": msg.attempt},
        )


def _over() -> bool:
    return True  # nothing left to stop


def _read_reply(worker: Worker, ctx: StepContext) -> dict[str, Any] | None:
    while worker.wait_reply():
        frame = read_frame(worker.replies)
        if frame is None or not isinstance(frame, dict):
            return None
        if frame.get("heartbeat"):
            ctx.heartbeat()
            continue
        return frame
    return None


def _crash(worker: Worker, step_id: str) -> ErrorInfo:
    code = worker.proc.wait()
    if code < 0:
        name = signal.Signals(-code).name
        how = f"was killed ({name})" if worker.killed else f"died of signal {name}"
        return ErrorInfo(
            FailureKind.PROCESS_CRASHED, f"the component's process {how}", step_id=step_id
        )
    return ErrorInfo(
        FailureKind.PROCESS_CRASHED,
        f"the component's process exited with code {code} before returning",
        step_id=step_id,
    )


def _failed(msg: RunStep, started: float, error: ErrorInfo) -> bytes:
    return encode(StepFailed(msg.job_id, msg.step_id, msg.attempt, error, started, time.time()))
