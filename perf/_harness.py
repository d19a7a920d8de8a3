"""Timing helpers shared by the benchmarks: run, summarise, print a table."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable, Sequence

import attrs


@attrs.frozen
class Row:
    name: str
    runs: int
    median: float
    p95: float
    baseline: str = ""
    base_median: float | None = None
    bar: str = ""
    unit: str = "s"  # or "MiB": the figures are sizes, not times

    @property
    def ratio(self) -> str:
        if self.base_median is None or self.base_median == 0:
            return ""
        return f"{self.median / self.base_median:.2f}x"


def sample(fn: Callable[[], object], runs: int, *, warmup: int = 20) -> list[float]:
    """Time ``fn`` ``runs`` times (after ``warmup`` untimed runs); seconds each."""
    for _ in range(warmup):
        fn()
    gc.collect()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def interleaved(
    fns: Sequence[Callable[[], object]], runs: int, *, warmup: int = 1
) -> list[list[float]]:
    """Time each of ``fns`` once per round, ``runs`` rounds; seconds, one list per fn.

    On a machine whose speed drifts from minute to minute, a baseline timed
    in the same rounds as what it is compared with sees the same drift: the
    ratio holds where the absolute figures move.
    """
    for _ in range(warmup):
        for fn in fns:
            fn()
    gc.collect()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, own in zip(fns, times, strict=True):
            start = time.perf_counter()
            fn()
            own.append(time.perf_counter() - start)
    return times


def summarise(
    name: str,
    times: Sequence[float],
    *,
    baseline: tuple[str, Sequence[float]] | None = None,
    bar: str = "",
    unit: str = "s",
) -> Row:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]
    base_name, base_median = "", None
    if baseline is not None:
        base_name, base_median = baseline[0], statistics.median(baseline[1])
    median = statistics.median(times)
    return Row(name, len(times), median, p95, base_name, base_median, bar, unit)


def fmt(seconds: float | None, unit: str = "s") -> str:
    if seconds is None:
        return ""
    if unit != "s":
        return f"{seconds:.1f} {unit}"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def print_table(title: str, rows: Sequence[Row]) -> None:
    header = ("benchmark", "runs", "median", "p95", "baseline", "baseline median", "ratio", "bar")
    body = [
        (
            r.name,
            str(r.runs),
            fmt(r.median, r.unit),
            fmt(r.p95, r.unit),
            r.baseline,
            fmt(r.base_median, r.unit),
            r.ratio,
            r.bar,
        )
        for r in rows
    ]
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(header)]
    print(f"\n## {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(b, widths, strict=True)) + " |")
