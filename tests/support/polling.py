"""Waiting for a condition no event announces, on a real wait with a deadline."""

import threading
from collections.abc import Callable


def until(holds: Callable[[], bool], timeout: float) -> bool:
    """Whether ``holds()`` came true within ``timeout`` seconds (checked every 20 ms)."""
    waiter = threading.Event()
    for _ in range(int(timeout / 0.02)):
        if holds():
            return True
        waiter.wait(0.02)
    return holds()
