"""Pools that spare a step and a job the cost of a new thread.

Starting a Pykka actor costs a thread (see docs/performance.md); a
5-step job would spend most of its time there. A StepActor takes one attempt
at a time: it is handed out by :meth:`StepActorPool.acquire`, owns that
attempt until the component call has really ended, and only then puts
itself back. A JobActor is new for each job (its URN, inbox and life are the
job's), but its message loop runs on a thread of :class:`LoopThreads`, which
hosts one actor's loop after another.
"""

from __future__ import annotations

import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pykka

log = logging.getLogger("actors_wf")

Starter = Callable[[], pykka.ActorRef[Any]]


class StepActorPool:
    """Idle StepActors, bounded; thread-safe."""

    def __init__(self, *, max_idle: int = 64) -> None:
        self._max_idle = max_idle
        self._idle: list[pykka.ActorRef[Any]] = []
        self._all: set[pykka.ActorRef[Any]] = set()
        self._lock = threading.Lock()
        self._closed = False

    def acquire(self, start: Starter) -> pykka.ActorRef[Any]:
        """An idle StepActor, or a new one made by ``start()``."""
        with self._lock:
            if self._idle:
                return self._idle.pop()
        ref = start()
        with self._lock:
            self._all.add(ref)
        return ref

    def release(self, ref: pykka.ActorRef[Any]) -> None:
        """Take an actor back once its attempt has ended; stop it when the pool is full."""
        with self._lock:
            if not self._closed and len(self._idle) < self._max_idle:
                self._idle.append(ref)
                return
            self._all.discard(ref)
        ref.stop(block=False)

    @property
    def size(self) -> tuple[int, int]:
        """``(idle, alive)`` actor counts."""
        with self._lock:
            return len(self._idle), len(self._all)

    def close(self) -> None:
        """Stop every actor of the pool, busy ones included, and wait for them."""
        with self._lock:
            self._closed = True
            refs = list(self._all)
            self._all.clear()
            self._idle.clear()
        for ref in refs:
            ref.stop(block=True)


class LoopThreads:
    """Threads that run actor loops, one after another; thread-safe.

    An actor's loop runs in an empty ``contextvars`` context, as on a thread
    of its own. A thread that finds ``max_idle`` others idle ends instead of
    waiting for the next loop.
    """

    def __init__(self, *, max_idle: int = 64, name: str = "JobActor") -> None:
        self._max_idle = max_idle
        self._name = name
        self._loops: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._idle = 0
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Condition()  # notified when a thread turns idle
        self._closed = False
        self._started = 0

    def run(self, loop: Callable[[], None]) -> None:
        """Run ``loop`` on an idle thread, or on a new one."""
        with self._lock:
            if self._idle:
                self._idle -= 1
                self._loops.put(loop)
                return
            thread = threading.Thread(
                target=self._serve, args=(loop,), name=f"{self._name}-{self._started}"
            )
            thread.daemon = True  # as an actor's own thread: see EngineActor
            self._started += 1
            self._threads.add(thread)
            thread.start()  # under the lock: a close() meanwhile would join it unstarted

    def _serve(self, loop: Callable[[], None] | None) -> None:
        while loop is not None:
            try:
                contextvars.Context().run(loop)
            except BaseException:  # Pykka's loop handles its own; this one must serve on
                log.exception("an actor loop raised")
            with self._lock:
                if self._closed or self._idle >= self._max_idle:
                    self._threads.discard(threading.current_thread())
                    return
                self._idle += 1
                self._lock.notify_all()
            loop = self._loops.get()
        with self._lock:
            self._threads.discard(threading.current_thread())

    @property
    def size(self) -> tuple[int, int]:
        """``(idle, alive)`` thread counts."""
        with self._lock:
            return self._idle, len(self._threads)

    def wait_idle(self, count: int, timeout: float) -> bool:
        """Wait until ``count`` threads wait for a loop; ``False`` if they do not in time."""
        with self._lock:
            return self._lock.wait_for(lambda: self._idle >= count, timeout)

    def close(self, timeout: float = 10.0) -> None:
        """End the idle threads and wait, ``timeout`` seconds in all, for every thread.

        Its actors are stopped first; a thread still busy after that is a
        daemon and is left to end with its loop.
        """
        with self._lock:
            self._closed = True
            threads = list(self._threads)
            for _ in range(self._idle):
                self._loops.put(None)
            self._idle = 0
        deadline = time.monotonic() + timeout  # in all, not per thread
        for thread in threads:
            thread.join(max(deadline - time.monotonic(), 0.0))
