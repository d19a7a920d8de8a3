"""Resource slots shared by every job of an engine.

A step takes ``{"steps": 1}`` (the engine's ``max_concurrent_steps``) plus
what it declares (``resources: {db: 1}``), all at once or not at all, and gives
them back when its attempt ends. A JobActor whose step finds no room keeps the
step READY and registers what it needs; it is told (``ResourcesFree``) once
that fits in what is free, the oldest waiters first, and then tries again.
Nothing ever blocks.

Only the waiters the free room can start are told, not all of them: with 200
jobs waiting for 64 slots, telling every waiter at every release woke ~136
actors per step, of which one could start, and the engine fell into a state
of ~40 context switches per step that it did not leave (docs/performance.md).
A waiter told may find the room taken or need something else by then; it
then registers again, which offers the room to the others, so the free room
is never left unoffered while someone it fits waits.
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
        # owner -> (notify, need), oldest first
        self._waiters: OrderedDict[str, tuple[Callable[[], None], Mapping[str, int]]] = (
            OrderedDict()
        )
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

    def release(self, need: Mapping[str, int]) -> None:
        """Give ``need`` back and tell the waiters it lets start, oldest first."""
        self.give_back(need)
        self.offer()

    def give_back(self, need: Mapping[str, int]) -> None:
        """Give ``need`` back without telling anyone yet: the giver calls :meth:`offer` next.

        A JobActor gives a step's room back, tries its own next steps in it,
        and offers what is left once it has handled the message: a chain that
        goes on in its own slot then wakes nobody.
        """
        with self._lock:
            for name, amount in need.items():
                self._used[name] -= amount
            if self._watching:
                self._idle.notify_all()

    def others_wait(self, owner: str) -> bool:
        """Whether anyone but ``owner`` waits for room.

        Read without the lock: one who registers after a give-back finds the
        room free himself, at registering.
        """
        waiters = self._waiters
        return len(waiters) > 1 or (bool(waiters) and owner not in waiters)

    def offer(self) -> None:
        """Tell the waiters that what is free now lets start, oldest first."""
        with self._lock:
            told = self._fitting()
        for notify in told:
            notify()

    def wait(self, owner: str, notify: Callable[[], None], need: Mapping[str, int]) -> None:
        """Call ``notify()`` once, when ``need`` fits in what is free (one registration per owner).

        Registering again keeps the owner's place and updates its need. The
        room free now is offered at once: to the owner itself if it fits (it
        was given back since the owner looked), else to the waiters it fits.
        """
        with self._lock:
            registered = self._waiters.get(owner)
            self._waiters[owner] = (notify if registered is None else registered[0], need)
            told = self._fitting()
        for tell in told:
            tell()

    def forget(self, owner: str) -> None:
        """Drop an owner's registration (its job ended, paused or will not use the room).

        Room it was told of and did not take is offered to the other waiters.
        """
        with self._lock:
            self._waiters.pop(owner, None)
            told = self._fitting()
        for notify in told:
            notify()

    def _fitting(self) -> list[Callable[[], None]]:
        """Under the lock: unregister and return the waiters the free room fits, oldest first."""
        if not self._waiters:
            return []  # the common case: nobody waits
        used, capacity = self._used, self.capacity
        for name in used:
            if used[name] < capacity[name]:
                break
        else:
            return []  # full: the next give-back offers its room
        free = {name: capacity[name] - amount for name, amount in used.items()}
        told = []
        for who, (notify, need) in list(self._waiters.items()):
            if any(free[name] < amount for name, amount in need.items()):
                continue
            for name, amount in need.items():
                free[name] -= amount
            del self._waiters[who]
            told.append(notify)
            if not any(amount > 0 for amount in free.values()):
                break
        return told

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
