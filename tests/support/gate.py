"""A component that blocks until the test opens it."""

import threading

WAIT = 10.0


class Gate:
    """Blocks each call until ``open`` is set; ``entered`` tells that a call began."""

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.open = threading.Event()

    def __call__(self) -> int:
        self.entered.set()
        assert self.open.wait(WAIT)
        return 1
