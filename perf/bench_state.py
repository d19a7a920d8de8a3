"""State: snapshots, jobs on the SQLite store, and journal throughput."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import msgpack

from actors_wf import (
    COMPONENT,
    Attempt,
    Engine,
    Snapshot,
    StateManager,
    StepState,
    StepStatus,
)
from actors_wf._core._codec import converter
from actors_wf._runtime._job_manager_actor import new_job_state
from actors_wf._state._sqlite import SQLiteStore
from actors_wf._state._transitions import Transition
from actors_wf._validation._validator import load_workflow

from ._harness import Row, sample, summarise
from .bench_foundation import linear, noop


def big_state(steps: int = 100, seed: int = 0) -> Any:
    """A job of a 100-step workflow whose steps have each run once and returned a dict.

    Jobs of one workflow share its spec object, as jobs made from the registry do.
    """
    spec = _SPECS.get(steps) or _SPECS.setdefault(steps, load_workflow(linear(steps)))
    state = new_job_state(spec, {}, 50)
    done = {sid: _ran(s, i, seed) for i, (sid, s) in enumerate(state.steps.items())}
    return attrs.evolve(state, steps=done)


_SPECS: dict[int, Any] = {}


def _ran(step: StepState, i: int, seed: int) -> StepState:
    start = 1_700_000_000.0 + seed + i / 1000
    return attrs.evolve(
        step,
        status=StepStatus.SUCCEEDED,
        attempts=(Attempt(1, start, start + 0.0005),),
        output={"value": i, "label": f"step {i} of run {seed}"},
    )


def _progress(state: Any, count: int) -> list[Any]:
    """``count`` successive states of a running job: one step moves between two."""
    states = []
    ids = list(state.steps)
    for n in range(count):
        sid = ids[n % len(ids)]
        state = state.with_step(_ran(state.steps[sid], n % len(ids), n + 1))
        states.append(state)
    return states


def _snapshots(rows: list[Row]) -> None:
    runs = 500
    state = big_state()
    plain = converter.unstructure(Snapshot(state.job_id, 1, time.time(), state))
    raw = sample(lambda: msgpack.unpackb(msgpack.packb(plain)), runs)

    def round_trips(states: list[Any]) -> Callable[[], None]:
        it = iter(states)

        def one() -> None:
            state = next(it)
            Snapshot.from_bytes(Snapshot(state.job_id, 1, time.time(), state).to_bytes())

        return one

    # Distinct jobs of one workflow: no step of one was converted before.
    cold = [big_state(seed=1_000 + n) for n in range(runs + 20)]
    running = _progress(state, runs + 20)
    rows.append(
        summarise(
            "snapshot of a running 100-step job, 1 step moved since the last",
            sample(round_trips(running), runs),
            baseline=("msgpack of the same dict", raw),
            bar="< 0.5 ms",
        )
    )
    rows.append(
        summarise(
            "first snapshot of a 100-step job (no step converted yet)",
            sample(round_trips(cold), runs),
            baseline=("msgpack of the same dict", raw),
            bar="< 0.5 ms",
        )
    )


def run() -> list[Row]:
    rows: list[Row] = []
    _snapshots(rows)
    with tempfile.TemporaryDirectory() as tmp:
        rows += _jobs_by_store(Path(tmp))
        rows.append(_journal(Path(tmp) / "journal.db"))
    return rows


def _jobs_by_store(tmp: Path) -> list[Row]:
    results = {}
    for name, store in (
        ("memory", None),
        ("sqlite", f"sqlite:///{tmp / 'process.db'}"),
        ("sqlite, power-safe", f"sqlite:///{tmp / 'power.db'}?durability=power"),
    ):
        with Engine(store=store) as engine:
            engine.registry.register(COMPONENT, "bench.noop", None, noop)
            engine.registry.register_workflow(linear(5))
            results[name] = sample(lambda e=engine: e.run("linear5", timeout=10), 200)
    memory = ("memory store", results["memory"])
    return [
        summarise("5-step job, memory store", results["memory"]),
        summarise(
            "5-step job, SQLite (default: survives a kill)",
            results["sqlite"],
            baseline=memory,
            bar="< 8 ms",
        ),
        summarise(
            "5-step job, SQLite power-safe (fsync each commit)",
            results["sqlite, power-safe"],
            baseline=memory,
        ),
    ]


def _journal(path: Path) -> Row:
    manager = StateManager(SQLiteStore(path))
    job = manager.save(big_state(5))
    count = 5000
    start = time.perf_counter()
    times = []
    for i in range(count):
        entry = Transition(job.job_id, "s0", "start", "READY", "RUNNING", cause=f"bench {i}")
        t0 = time.perf_counter()
        job = manager.save(job, [entry])
        times.append(time.perf_counter() - t0)
    elapsed = time.perf_counter() - start
    manager.close()
    blob = msgpack.packb(converter.unstructure(job))
    raw = _raw_sqlite(path.with_name("raw.db"), blob, count)
    return summarise(
        f"journal append + state write, SQLite: {count / elapsed:,.0f}/s",
        times,
        baseline=("sqlite3 by hand, same rows", raw),
        bar=">= 5,000/s",
    )


def _raw_sqlite(path: Path, blob: bytes, count: int) -> list[float]:
    """The same two writes per commit, by hand: the floor this machine's SQLite sets."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE jobs (job_id TEXT PRIMARY KEY, version INTEGER, state BLOB)")
    db.execute(
        "CREATE TABLE journal (seq INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT, "
        "version INTEGER, at REAL, step_id TEXT, event TEXT, from_status TEXT, "
        "to_status TEXT, cause TEXT)"
    )
    db.execute("INSERT INTO jobs VALUES ('j', 0, ?)", (blob,))
    times = []
    for i in range(count):
        t0 = time.perf_counter()
        db.execute("BEGIN")
        db.execute(
            "UPDATE jobs SET version = ?, state = ? WHERE job_id = 'j' AND version = ?",
            (i + 1, blob, i),
        )
        db.executemany(
            "INSERT INTO journal (job_id, version, at, step_id, event, from_status, "
            "to_status, cause) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [("j", i + 1, time.time(), "s0", "start", "READY", "RUNNING", "bench")],
        )
        db.execute("COMMIT")
        times.append(time.perf_counter() - t0)
    db.close()
    return times
