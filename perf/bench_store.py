"""The store a daemon lives on for a year: costs against history and job size.

Every figure is a ratio to a baseline timed in the same rounds (alternating):
a store of 1,000 jobs against one of a million, a 10-step job against a
10,000-step one, a step's 4 MiB output in memory against SQLite.
"""

from __future__ import annotations

import os
import random
import sqlite3
import subprocess
import sys
import tempfile
from pathlib import Path

import attrs

from actors_wf import COMPONENT, Engine, StateManager
from actors_wf._runtime._job_manager_actor import new_job_state
from actors_wf._state._sqlite import SQLiteStore
from actors_wf._validation._validator import load_workflow

from ._harness import Row, interleaved, summarise
from .bench_foundation import linear, noop

SMALL = 1_000
BIG = int(os.environ.get("ACTORS_WF_BENCH_JOBS", "1000000"))
# The big file takes a minute to write; it is kept between runs.
CACHE = Path(tempfile.gettempdir()) / "actors_wf_bench"


def run() -> list[Row]:
    CACHE.mkdir(exist_ok=True)
    small, big = _store_of(SMALL), _store_of(BIG)
    rows = _open_and_recover(small, big)
    rows += _rss(small, big)
    rows += _reads(small, big)
    with tempfile.TemporaryDirectory() as tmp:
        rows += _big_output(Path(tmp))
        rows.append(_save_by_job_size(Path(tmp)))
    return rows


def _store_of(count: int) -> Path:
    """A store of ``count`` finished 3-step jobs, written in bulk from one real job's rows."""
    path = CACHE / f"finished-{count}.db"
    if path.exists():
        return path
    template = CACHE / "template.db"
    template.unlink(missing_ok=True)
    with Engine(store=template) as engine:
        engine.registry.register(COMPONENT, "bench.noop", None, noop)
        engine.registry.register_workflow(linear(3))
        engine.run("linear3", timeout=30)
    db = sqlite3.connect(template)
    job = db.execute("SELECT * FROM jobs").fetchone()
    steps = db.execute("SELECT n, state FROM steps").fetchall()
    journal = db.execute("SELECT * FROM journal").fetchall()
    db.close()
    partial = path.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    os.replace(template, partial)
    for suffix in ("-wal", "-shm", "-owner", "-lock"):
        Path(f"{template}{suffix}").unlink(missing_ok=True)
    db = sqlite3.connect(partial, isolation_level=None)
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    db.execute("BEGIN")
    for i in range(1, count):  # the template job is the first
        job_id = f"{i:012d}"
        created = job[5] + i * 0.001
        db.execute(
            "INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (job_id, job[1], job[2], job[3], created, created, job[6], job[7], job[8], job[9]),
        )
        db.executemany("INSERT INTO steps VALUES (?, ?, ?)", [(job_id, n, s) for n, s in steps])
        db.executemany(
            "INSERT INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(job_id, *row[1:]) for row in journal],
        )
    db.execute("COMMIT")
    db.close()
    os.replace(partial, path)
    return path


def _open_and_recover(small: Path, big: Path) -> list[Row]:
    def opens(path: Path) -> object:
        with Engine(store=path, recover=True):
            return None

    times = interleaved([lambda: opens(small), lambda: opens(big)], 15)
    return [
        summarise(f"open + recover, {SMALL:,} finished jobs", times[0]),
        summarise(
            f"open + recover, {BIG:,} finished jobs",
            times[1],
            baseline=(f"{SMALL:,} jobs", times[0]),
            bar="<= 2x, < 100 ms",
        ),
    ]


_RSS = (
    "import sys; from actors_wf import Engine; e = Engine(store=sys.argv[1], recover=True); "
    "e.metrics(); print([int(l.split()[1]) for l in open('/proc/self/status') "
    "if l.startswith('VmRSS')][0]); e.close()"
)


def _rss(small: Path, big: Path) -> list[Row]:
    def rss(path: Path) -> float:
        out = subprocess.run([sys.executable, "-c", _RSS, str(path)], capture_output=True)
        return int(out.stdout) / 1024

    sizes = [[rss(small), rss(big)] for _ in range(3)]
    smalls, bigs = [s[0] for s in sizes], [s[1] for s in sizes]
    return [
        summarise(f"RSS after open + metrics(), {SMALL:,} jobs", smalls, unit="MiB"),
        summarise(
            f"RSS after open + metrics(), {BIG:,} jobs",
            bigs,
            baseline=(f"{SMALL:,} jobs", smalls),
            bar="within 20 MiB",
            unit="MiB",
        ),
    ]


def _reads(small: Path, big: Path) -> list[Row]:
    stores = [StateManager(SQLiteStore(p, read_only=True)) for p in (small, big)]
    picks = [random.Random(1), random.Random(1)]
    counts = (SMALL, BIG)

    def get(i: int) -> object:
        return stores[i].get(f"{picks[i].randrange(1, counts[i]):012d}")

    try:
        pages = interleaved(
            [lambda: stores[0].list_jobs(limit=100), lambda: stores[1].list_jobs(limit=100)], 50
        )
        gets = interleaved([lambda: get(0), lambda: get(1)], 500)
    finally:
        for store in stores:
            store.close()
    return [
        summarise(
            f"list_jobs(limit=100), {BIG:,} jobs",
            pages[1],
            baseline=(f"{SMALL:,} jobs", pages[0]),
            bar="<= 2x",
        ),
        summarise(
            f"get_job (not cached), {BIG:,} jobs",
            gets[1],
            baseline=(f"{SMALL:,} jobs", gets[0]),
            bar="<= 2x",
        ),
    ]


def _big_output(tmp: Path) -> list[Row]:
    def big(n: int) -> str:
        return "x" * n

    engines = [Engine(), Engine(store=tmp / "big.db")]
    floor = sqlite3.connect(tmp / "floor.db", isolation_level=None)
    floor.execute("PRAGMA journal_mode=WAL")
    floor.execute("PRAGMA synchronous=NORMAL")
    floor.execute("CREATE TABLE t (v BLOB)")
    blob = b"x" * (4 << 20)

    def bare() -> None:
        floor.execute("INSERT INTO t VALUES (?)", (blob,))

    try:
        for engine in engines:
            engine.registry.register(COMPONENT, "bench.big", None, big)
            engine.registry.register_workflow(
                {
                    "id": "big",
                    "steps": [{"id": "a", "component": "bench.big", "inputs": {"n": 4 << 20}}],
                }
            )
        runs = [lambda e=e: e.run("big", timeout=30) for e in engines]
        times = interleaved([*runs, bare], 20)
    finally:
        for engine in engines:
            engine.close()
        floor.close()
    return [
        summarise(
            "a step with a 4 MiB output, SQLite",
            times[1],
            baseline=("memory", times[0]),
            bar="<= 3x",
        ),
        summarise(
            "a step with a 4 MiB output, SQLite",
            times[1],
            baseline=("bare 4 MiB SQLite insert", times[2]),
        ),
    ]


def _save_by_job_size(tmp: Path) -> Row:
    """One step's result saved, in a 10-step and in a 10,000-step job (both on SQLite)."""
    manager = StateManager(SQLiteStore(tmp / "size.db"))
    jobs = {
        size: manager.save(new_job_state(load_workflow(linear(size)), {}, 0)) for size in SIZES
    }
    rounds = iter(range(10**9))

    def save(size: int) -> None:
        job, n = jobs[size], next(rounds)
        step_id = f"s{n % size}"
        step = attrs.evolve(job.steps[step_id], output=n)
        jobs[size] = manager.save(attrs.evolve(job, steps=job.steps.updated({step_id: step})))

    try:
        times = interleaved([lambda: save(SIZES[0]), lambda: save(SIZES[1])], 300)
    finally:
        manager.close()
    return summarise(
        "a step's save in a 10,000-step job, SQLite",
        times[1],
        baseline=("10-step job", times[0]),
        bar="<= 2x",
    )


SIZES = (10, 10_000)
