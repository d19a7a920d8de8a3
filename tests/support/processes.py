"""Waiting on other processes without polling."""

import os
import select

WAIT = 30.0


def ends(pid: int, timeout: float = WAIT) -> bool:
    """Whether ``pid`` ends within ``timeout``: a pidfd turns readable when it exits
    (as a zombie too), so nothing polls; a SIGKILL on a loaded machine may take a moment."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)
