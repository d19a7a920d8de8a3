"""Resource slots shared by every job of an engine.

A step takes ``{"steps": 1}`` (the engine's ``max_concurrent_steps``) plus
what it declares (``resources: {db: 1}``), all at once or not at all, and gives
them back when its attempt ends. A JobActor whose step finds no room keeps the
step READY and registers what it needs; it is told (``ResourcesFree``) once
that fits in what is free, the oldest waiters first, and then tries again.
Nothing ever blocks.

Only the waiters the free room can start are told, not all of them: with 200
jobs at once on 40 slots, telling every waiter at every release came to 50-57
``ResourcesFree`` a step in some runs, and the engine collapsed to a tenth of
its speed (docs/performance.md). Room a waiter is told of is promised to it
until it tries to take it (or registers again, or is forgotten): another
release does not offer the same room twice, and another job does not take
it meanwhile. A waiter told may need something else by then; it then
registers again, which offers the room to the others, so free room is never
left unoffered while someone it fits waits.
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
        # owner -> the room a waiter was told of and has not yet tried to take
        self._promised: dict[str, Mapping[str, int]] = {}
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._watching = 0  # threads in wait_idle: only then does a release notify

    def try_acquire(self, need: Mapping[str, int], owner: str | None = None) -> bool:
        """Take all of ``need`` if there is room for all of it.

        Room promised to a waiter that was told of it is not free for others;
        ``owner``'s own promise ends here, whether it takes the room or not.
        """
        used, capacity = self._used, self.capacity
        with self._lock:
            promised = self._promised
            if promised:
                if owner is not None:
                    promised.pop(owner, None)
                held = dict(used)
                for other in promised.values():
                    for name, amount in other.items():
                        held[name] += amount
            else:
                held = used
            for name, amount in need.items():
                if held[name] + amount > capacity[name]:
                    return False
            for name, amount in need.items():
                used[name] += amount
            return True

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
            self._promised.pop(owner, None)
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
            self._promised.pop(owner, None)
            told = self._fitting()
        for notify in told:
            notify()

    def _fitting(self) -> list[Callable[[], None]]:
        """Under the lock: unregister and return the waiters the free room fits, oldest first."""
        if not self._waiters:
            return []  # the common case: nobody waits
        used, capacity, promised = self._used, self.capacity, self._promised
        if not promised:
            for name in used:
                if used[name] < capacity[name]:
                    break
            else:
                return []  # full: the next give-back offers its room
        free = {name: capacity[name] - amount for name, amount in used.items()}
        for need in promised.values():  # told already: theirs until they try
            for name, amount in need.items():
                free[name] -= amount
        told = []
        for who, (notify, need) in list(self._waiters.items()):
            if not any(amount > 0 for amount in free.values()):
                break
            if any(free[name] < amount for name, amount in need.items()):
                continue
            for name, amount in need.items():
                free[name] -= amount
            del self._waiters[who]
            promised[who] = need
            told.append(notify)
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
    def waiting(self) -> int:
        """Owners waiting for room, those told of it and yet to take it included."""
        with self._lock:
            return len(self._waiters) + len(self._promised)

    @property
    def in_use(self) -> dict[str, int]:
        """How much of each resource is taken now."""
        with self._lock:
            return dict(self._used)
