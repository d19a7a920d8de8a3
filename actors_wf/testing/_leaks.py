"""What a test leaves running: threads, Pykka actors, child processes."""

from __future__ import annotations

import contextlib
import os
import select
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pykka

# Seconds to give what was asked to stop (an actor's thread, a worker process) to end.
EXIT_TIMEOUT = 10.0


def children() -> set[int]:
    """The process ids of this process' children (Linux: /proc), alive or not yet reaped."""
    found: set[int] = set()
    for task in Path(f"/proc/{os.getpid()}/task").glob("*"):
        with contextlib.suppress(OSError):
            found.update(int(pid) for pid in (task / "children").read_text().split())
    return found


def ends(pid: int, timeout: float) -> bool:
    """Whether ``pid`` exits within ``timeout``: a pidfd turns readable when it does."""
    try:
        fd = os.pidfd_open(pid)
    except (ProcessLookupError, OSError):
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


@contextlib.contextmanager
def assert_no_leaks(timeout: float = EXIT_TIMEOUT) -> Iterator[None]:
    """Check that the block leaves no thread, Pykka actor or child process running.

    What the block started gets up to ``timeout`` seconds in all to end (an
    actor's thread exits just after its stop is acknowledged; nothing here
    sleeps: it joins threads and waits on process descriptors).

    Raises:
        AssertionError: naming every thread, actor and process left running.
    """
    threads = set(threading.enumerate())
    actors = {id(ref) for ref in pykka.ActorRegistry.get_all()}
    kids = children()
    yield
    deadline = time.monotonic() + timeout
    left = [t for t in threading.enumerate() if t not in threads]
    for thread in left:
        thread.join(max(0.0, deadline - time.monotonic()))
    problems = [f"thread {t.name!r}" for t in left if t.is_alive()]
    problems += [
        f"actor {ref}"
        for ref in pykka.ActorRegistry.get_all()
        if id(ref) not in actors and ref.is_alive()
    ]
    problems += [
        f"child process {pid}"
        for pid in sorted(children() - kids)
        if not ends(pid, max(0.0, deadline - time.monotonic()))
    ]
    assert not problems, "left running: " + ", ".join(problems)
