"""The component the daemon benchmark's daemon imports (``-c perf.remote_components``)."""

from actors_wf import component


@component("bench.noop")
def noop(x: int = 0) -> int:
    """One step's worth of nothing."""
    return x + 1
