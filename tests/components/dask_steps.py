"""Components the Dask tests run on a LocalCluster's workers (importable there by name)."""

import os


def where(x: int) -> dict:
    """Which process ran the call, and its result."""
    from distributed import get_worker

    try:
        worker = get_worker().address
    except ValueError:
        worker = None
    return {"y": x + 1, "pid": os.getpid(), "worker": worker}


def local(x: int) -> dict:
    return {"y": x * 10, "pid": os.getpid()}


def boom(x: int) -> int:
    raise ValueError(f"no {x}")


def flaky(x: int, marker: str) -> int:
    """Fails the first time (a file marks the first call: workers are other processes)."""
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("1")
        raise ConnectionError("first try")
    return x


def _running(marker: str) -> None:
    """Write this worker's pid to ``marker``, then set the Dask Event of that name."""
    from distributed import Event

    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    Event(marker).set()


def waits(marker: str, ctx) -> str:
    """Takes ctx: says it runs, then waits for a cancel and says it saw it."""
    ctx.log.info("waiting on %s", os.path.basename(marker))
    try:
        raise LookupError("a handled error, logged")
    except LookupError:
        ctx.log.exception("with its traceback")
    _running(marker)
    if ctx.wait_cancelled(60):
        with open(marker + ".cancelled", "w") as f:
            f.write("1")
        ctx.check()
    return "never cancelled"


def stuck(marker: str) -> str:
    """Ignores every cancel: says it runs, then sleeps far past any test."""
    import time

    _running(marker)
    time.sleep(600)
    return "woke"


def dies_once(marker: str) -> int:
    """The first call kills its own worker process; the retry returns its pid."""
    import signal

    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write(str(os.getpid()))
        os.kill(os.getpid(), signal.SIGKILL)
    return os.getpid()


def beats(seconds: float, ctx) -> str:
    """Runs past its heartbeat timeout, beating as it goes."""
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ctx.heartbeat()
        ctx.check()
        time.sleep(0.05)
    return "alive"


def counted(name: str, counter: str, hold: str) -> str:
    """Appends its name to ``counter``; step b then waits while the file ``hold`` exists."""
    import time

    with open(counter, "a") as f:
        f.write(name + "\n")
    while name == "b" and os.path.exists(hold):
        time.sleep(0.05)
    return name


def unstorable(x: int) -> object:
    return {1, 2, x}


def gpus_left(x: int) -> dict:
    """How many of the worker's ``gpu`` are free while this call holds what it asked for."""
    from distributed import get_worker

    return {"x": x, "free": get_worker().state.available_resources.get("gpu")}


def blocks(marker: str, hold: str, counter: str) -> str:
    """Says it runs, then holds its worker while the file ``hold`` exists; counted."""
    import time

    _running(marker)
    while os.path.exists(hold):
        time.sleep(0.02)
    with open(counter, "a") as f:
        f.write("blocker\n")
    return "done"


def note(name: str, counter: str) -> str:
    with open(counter, "a") as f:
        f.write(name + "\n")
    return name
