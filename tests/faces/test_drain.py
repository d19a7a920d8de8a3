"""Closing with a drain: running jobs finish, queued ones wait for the next engine."""

from __future__ import annotations

import os
import signal
import threading
from pathlib import Path

from actors_wf import COMPONENT, Engine, JobStatus
from tests.support.gate import Gate

WAIT = 10.0


def _engine(store: Path, gate: Gate) -> Engine:
    engine = Engine(store=store, max_concurrent_jobs=1)
    engine.registry.register(COMPONENT, "t.gate", None, gate)
    engine.registry.register(COMPONENT, "t.polite", None, lambda ctx: ctx.wait_cancelled(WAIT))
    engine.registry.register_workflow({"id": "g", "steps": [{"id": "a", "component": "t.gate"}]})
    engine.registry.register_workflow({"id": "p", "steps": [{"id": "a", "component": "t.polite"}]})
    return engine


def test_a_drain_lets_the_running_job_finish_and_leaves_the_queued_one_queued(tmp_path):
    gate = Gate()
    engine = _engine(tmp_path / "jobs.db", gate)
    running = engine.jobs_sync.create_job("g")
    engine.jobs_sync.start_job(running)
    assert gate.entered.wait(WAIT)
    queued = engine.jobs_sync.create_job("g")
    engine.jobs_sync.start_job(queued)
    closer = threading.Thread(target=engine.close, kwargs={"drain": WAIT})
    closer.start()
    gate.open.set()
    assert engine.wait_closed(WAIT)
    closer.join(WAIT)
    with Engine(store=tmp_path / "jobs.db") as again:
        assert again.state.get(running).status is JobStatus.COMPLETED  # it was let finish
        assert again.state.get(queued).status is JobStatus.QUEUED  # never started


def test_what_outlives_the_drain_is_stopped_and_recovered_by_the_next_engine(tmp_path):
    gate = Gate()
    engine = _engine(tmp_path / "jobs.db", gate)
    job = engine.jobs_sync.create_job("p")
    engine.jobs_sync.start_job(job)
    engine.close(drain=0.05)
    gate.open.set()
    with _engine(tmp_path / "jobs.db", gate) as again:
        assert again.state.get(job).status is JobStatus.RUNNING  # interrupted, as after a crash
        (recovered,) = again.recover()
        assert recovered == job
        again.jobs_sync.cancel_job(job)
        assert again.jobs_sync.wait(job, WAIT).status is JobStatus.CANCELLED


def test_sigterm_closes_an_engine_with_a_drain(tmp_path):
    gate = Gate()
    engine = _engine(tmp_path / "jobs.db", gate)
    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        engine.install_signal_handlers(drain=WAIT)
        job = engine.jobs_sync.create_job("g")
        engine.jobs_sync.start_job(job)
        assert gate.entered.wait(WAIT)
        os.kill(os.getpid(), signal.SIGTERM)
        gate.open.set()
        assert engine.wait_closed(WAIT)
    finally:
        for signum, handler in before.items():
            signal.signal(signum, handler)
    with Engine(store=tmp_path / "jobs.db") as again:
        assert again.state.get(job).status is JobStatus.COMPLETED
