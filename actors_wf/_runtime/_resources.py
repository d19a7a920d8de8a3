"""Resource slots shared by every job of an engine.

A step takes ``{"steps": 1}`` (the engine's ``max_concurrent_steps``) plus
what it declares (``resources: {db: 1}``), all at once or not at all, and gives
them back when its attempt ends. A JobActor whose step finds no room keeps the
step READY and is told (``ResourcesFree``) when something was given back, in
the order the waiters came; it then tries again. Nothing ever blocks.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

STEPS = "steps"


class Resources:
    """Counted capacities; thread-safe."""

    def __init__(self, capacity: Mapping[str, int]) -> None:
        self.capacity = dict(capacity)
        self._used = dict.fromkeys(self.capacity, 0)
        self._waiters: OrderedDict[str, Callable[[], None]] = OrderedDict()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._watching = 0  # threads in wait_idle: only then does a release notify

    def try_acquire(self, need: Mapping[str, int]) -> bool:
        """Take all of ``need`` if there is room for all of it."""
        used, capacity = self._used, self.capacity
        with self._lock:
            for name, amount in need.items():
                if used[name] + amount > capacity[name]:
                    return False
            for name, amount in need.items():
                used[name] += amount
            return True

    def release(self, need: Mapping[str, int], owner: str | None = None) -> None:
        """Give ``need`` back and tell the waiters, oldest first.

        ``owner``, the one giving back, is not told: it is about to try again
        itself. It stays registered, so a later release still tells it.
        """
        with self._lock:
            for name, amount in need.items():
                self._used[name] -= amount
            if self._watching:
                self._idle.notify_all()
            if not self._waiters:
                return  # the common case: nobody waits
            waiters = [self._waiters.pop(who) for who in list(self._waiters) if who != owner]
        for notify in waiters:
            notify()

    def wait(self, owner: str, notify: Callable[[], None]) -> None:
        """Call ``notify()`` once, at the next release (one registration per owner)."""
        with self._lock:
            self._waiters.setdefault(owner, notify)

    def forget(self, owner: str) -> None:
        """Drop an owner's waiting registration (its job ended)."""
        with self._lock:
            self._waiters.pop(owner, None)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing is taken; ``False`` if something still is after ``timeout`` s."""
        with self._lock:
            self._watching += 1
            try:
                return self._idle.wait_for(lambda: not any(self._used.values()), timeout)
            finally:
                self._watching -= 1

    @property
    def in_use(self) -> dict[str, int]:
        """How much of each resource is taken now."""
        with self._lock:
            return dict(self._used)
