"""Run every benchmark and print its table: `python -m perf [name ...]`."""

from __future__ import annotations

import platform
import sys

from . import (
    bench_async,
    bench_dask,
    bench_foundation,
    bench_jobs,
    bench_maps,
    bench_orchestration,
    bench_remote,
    bench_saturation,
    bench_startup,
    bench_state,
    bench_store,
    bench_testing,
    bench_throughput,
    bench_validation,
)
from ._harness import print_table

BENCHMARKS = {
    "foundation": ("Registry and end-to-end jobs", bench_foundation.run),
    "validation": ("Validation", bench_validation.run),
    "state": ("State and durability", bench_state.run),
    "orchestration": ("Orchestration", bench_orchestration.run),
    "jobs": ("Job management under load", bench_jobs.run),
    "store": ("The store at scale: history and job size", bench_store.run),
    "remote": ("The daemon over its control socket", bench_remote.run),
    "testing": ("The test kit's state machine", bench_testing.run),
    "async": ("async def components", bench_async.run),
    "startup": ("Start-up of a cold process", bench_startup.run),
    "maps": ("for_each: a map beside the same number of ordinary steps", bench_maps.run),
    "dask": ("Steps on a Dask LocalCluster beside raw Dask", bench_dask.run),
    "throughput": ("Many jobs at once, beside a bare actor baseline", bench_throughput.run),
    "saturation": ("More jobs than step slots", bench_saturation.run),
}


def main(names: list[str]) -> None:
    print(f"python {platform.python_version()} on {platform.machine()}, {platform.node()}")
    for name, (title, fn) in BENCHMARKS.items():
        if names and name not in names:
            continue
        result = fn()
        if isinstance(result, str):  # a benchmark with columns of its own prints its table
            print(f"\n## {title}\n\n{result}")
        else:
            print_table(title, result)


if __name__ == "__main__":
    main(sys.argv[1:])
