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


_calls_file = os.environ.get("AWF_DASK_CALLS", "")


def flaky(x: int, marker: str) -> int:
    """Fails the first time (a file marks the first call: workers are other processes)."""
    if not os.path.exists(marker):
        with open(marker, "w") as f:
            f.write("1")
        raise ConnectionError("first try")
    return x
