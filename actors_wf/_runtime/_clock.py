"""Clocks: where the engine gets the time and schedules what happens later.

Retries wait out a backoff, attempts time out, cancelled attempts get a grace
period: all of it goes through a clock's ``call_later``, never ``time.sleep``
on a thread. :class:`SystemClock` runs callbacks on one timer thread;
:class:`ManualClock` runs them when a test advances it, so tests of timing
need no sleeps.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

Callback = Callable[[], None]
log = logging.getLogger("actors_wf.clock")


class Timer(Protocol):
    """A scheduled callback that can be called off."""

    def cancel(self) -> None:
        """Do not run the callback (no effect once it ran)."""


class Clock(Protocol):
    """What the engine needs of time."""

    def now(self) -> float:
        """Seconds on a monotonic scale."""

    def call_later(self, delay: float, callback: Callback) -> Timer:
        """Run ``callback`` once, ``delay`` seconds from now; it must not block."""

    def close(self) -> None:
        """Drop what is scheduled and stop any thread."""


class _Entry:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callback) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _Heap:
    """The scheduled callbacks, soonest first; thread-safe."""

    def __init__(self) -> None:
        self.items: list[tuple[float, int, _Entry]] = []
        self._seq = itertools.count()
        self.lock = threading.Condition()

    def push(self, entry: _Entry) -> None:
        with self.lock:
            heapq.heappush(self.items, (entry.when, next(self._seq), entry))
            self.lock.notify_all()

    def pop_due(self, now: float) -> list[_Entry]:
        with self.lock:
            due = []
            while self.items and self.items[0][0] <= now:
                due.append(heapq.heappop(self.items)[2])
            return [e for e in due if not e.cancelled]

    def next_when(self) -> float | None:
        return self.items[0][0] if self.items else None

    def clear(self) -> None:
        with self.lock:
            self.items.clear()
            self.lock.notify()


def _run(entries: list[_Entry]) -> None:
    for entry in entries:
        try:
            entry.callback()
        except Exception:  # a callback only tells an actor; never let one stop the clock
            log.exception("timer callback failed")


class SystemClock:
    """Real time; callbacks run on one thread, started on first use."""

    def __init__(self) -> None:
        self._heap = _Heap()
        self._thread: threading.Thread | None = None
        self._closed = False

    def now(self) -> float:
        """``time.monotonic()``."""
        return time.monotonic()

    def call_later(self, delay: float, callback: Callback) -> Timer:
        """Run ``callback`` on the timer thread after ``delay`` seconds."""
        entry = _Entry(self.now() + max(0.0, delay), callback)
        with self._heap.lock:
            if self._closed:
                entry.cancel()
                return entry
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="actors_wf-timers", daemon=True
                )
                self._thread.start()
        self._heap.push(entry)
        return entry

    def _loop(self) -> None:
        while True:
            with self._heap.lock:
                if self._closed:
                    return
                when = self._heap.next_when()
                wait = None if when is None else max(0.0, when - self.now())
                if wait is None or wait > 0:
                    self._heap.lock.wait(wait)
                    continue
            _run(self._heap.pop_due(self.now()))

    def close(self) -> None:
        """Drop the scheduled callbacks and stop the thread."""
        with self._heap.lock:
            self._closed = True
            thread, self._thread = self._thread, None
        self._heap.clear()
        if thread is not None:
            thread.join()


class ManualClock:
    """A clock that moves only when told: for tests of retries and timeouts.

    Example::

        clock = ManualClock()
        with Engine(clock=clock) as engine:
            ...                    # a step fails; its retry waits 2 s
            clock.advance(2.0)     # the retry starts now, no sleep needed
    """

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap = _Heap()
        self._lock = threading.Lock()

    def now(self) -> float:
        """The clock's current time."""
        return self._now

    def call_later(self, delay: float, callback: Callback) -> Timer:
        """Run ``callback`` when :meth:`advance` passes ``now() + delay``; at once if it is due."""
        entry = _Entry(self._now + max(0.0, delay), callback)
        if delay <= 0:
            _run([entry])
            return entry
        self._heap.push(entry)
        return entry

    def advance(self, seconds: float) -> None:
        """Move time forward and run, in order, every callback that falls due."""
        with self._lock:
            target = self._now + seconds
            while True:
                with self._heap.lock:
                    when = self._heap.next_when()
                if when is None or when > target:
                    break
                self._now = max(self._now, when)
                _run(self._heap.pop_due(self._now))
            self._now = target

    def wait_pending(self, count: int = 1, timeout: float | None = 10.0) -> bool:
        """Block until at least ``count`` callbacks are scheduled.

        The engine arms timers from its own threads; a test waits here for one
        before it advances the clock.

        Returns:
            Whether they were there before ``timeout`` seconds of real time.
        """
        with self._heap.lock:
            return self._heap.lock.wait_for(lambda: len(self.pending) >= count, timeout)

    @property
    def pending(self) -> list[float]:
        """When the scheduled callbacks are due, soonest first (for assertions)."""
        with self._heap.lock:
            return sorted(w for w, _, e in self._heap.items if not e.cancelled)

    def close(self) -> None:
        """Drop what is scheduled."""
        self._heap.clear()
