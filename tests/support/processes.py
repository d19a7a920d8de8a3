"""Waiting on other processes without polling: the kit's pidfd wait, with the tests' timeout."""

from actors_wf.testing._leaks import ends as _ends

WAIT = 30.0


def ends(pid: int, timeout: float = WAIT) -> bool:
    """Whether ``pid`` ends within ``timeout``; a SIGKILL on a loaded machine takes a moment."""
    return _ends(pid, timeout)
