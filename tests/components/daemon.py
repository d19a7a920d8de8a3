"""Components of the daemon tests, imported by the daemon process (``-c tests.components.daemon``).

Each appends its name to the file ``$ACTORS_WF_TEST_LOG``, so a test can
count how often a step really ran.
"""

import logging
import os
import threading

from actors_wf import component


def _ran(name: str) -> int:
    path = os.environ["ACTORS_WF_TEST_LOG"]
    with open(path, "a") as log:
        log.write(name + "\n")
    with open(path) as log:
        return sum(line.strip() == name for line in log)


@component("d.inc")
def inc(x: int) -> int:
    _ran("inc")
    return x + 1


@component("d.once_then_hang")
def once_then_hang(x: int) -> int:
    """Hangs the first time it runs (until its process dies), returns later."""
    if _ran("hang") == 1:
        logging.getLogger(__name__).warning("hanging now")  # a test waits for this line
        threading.Event().wait()
    return x * 10
