"""A pool of idle StepActors, so that a step does not pay for a new thread.

Starting a Pykka actor costs a thread (see docs/performance.md); a
5-step job would spend most of its time there. An actor takes one attempt at
a time: it is handed out by :meth:`StepActorPool.acquire`, owns that attempt
until the component call has really ended, and only then puts itself back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pykka

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
