"""Kill an engine with SIGKILL mid-run; a new engine on the same file finishes the job."""

import os
import selectors
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from actors_wf import Engine, JobState, JobStatus, StateManager, StepStatus
from actors_wf._state._sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[2]
LINE_TIMEOUT = 30.0


def read_until(proc: subprocess.Popen, wanted: str) -> None:
    """Read the worker's output lines until ``wanted`` (waiting on the pipe, not sleeping).

    Reads the pipe's fd directly: a buffered ``readline`` could hold the wanted
    line in its buffer while ``select`` waits for more bytes that never come.
    """
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + LINE_TIMEOUT
    pending = b""
    try:
        while True:
            while b"\n" in pending:
                line, _, pending = pending.partition(b"\n")
                if line.decode().strip() == wanted:
                    return
            if not selector.select(timeout=max(0.0, deadline - time.monotonic())):
                raise TimeoutError(f"the worker did not print {wanted!r}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"the worker ended before {wanted!r}: {proc.stderr.read()}")
            pending += chunk
    finally:
        selector.close()


def _killed_at(tmp_path: Path, kill_at: str, *worker_args: str) -> tuple[Path, Path]:
    """Run the crash worker until it prints ``kill_at``, SIGKILL it; its store and side effects."""
    store = tmp_path / "jobs.db"
    counter = tmp_path / "side_effects.txt"
    env = {
        **os.environ,
        "AWF_COUNTER": str(counter),
        "AWF_HOLD_AT": kill_at,  # the step stays at that point until the kill
        "PYTHONPATH": str(ROOT),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.crash_worker", str(store), *worker_args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        read_until(proc, kill_at)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=LINE_TIMEOUT)
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return store, counter


def _stored(store: Path) -> tuple[JobState, set[str]]:
    """The one job the killed engine left, and the steps that had succeeded."""
    before = StateManager(SQLiteStore(store))
    (job,) = before.list_jobs()
    before.close()
    return job, {s for s, st in job.steps.items() if st.status is StepStatus.SUCCEEDED}


def _recovered(store: Path, counter: Path, job_id: str) -> JobState:
    """A new engine on the same file recovers the job; its end."""
    os.environ["AWF_COUNTER"] = str(counter)
    try:
        with Engine(store=store, components=["tests.components.crash"], recover=True) as engine:
            return engine.jobs.wait_sync(job_id, LINE_TIMEOUT)
    finally:
        del os.environ["AWF_COUNTER"]


@pytest.mark.parametrize("kill_at", ["done s0", "start s7", "done s12", "start s19"])
def test_killed_engine_is_finished_by_the_next_without_rerunning_succeeded_steps(
    tmp_path, kill_at
):
    store, counter = _killed_at(tmp_path, kill_at)

    job, succeeded = _stored(store)
    assert job.status is JobStatus.RUNNING

    final = _recovered(store, counter, job.job_id)

    assert final.status is JobStatus.COMPLETED
    assert final.outputs == {"n": 20}
    runs = Counter(counter.read_text().split())
    assert set(runs) == {f"s{i}" for i in range(20)}
    for step_id in succeeded:
        assert runs[step_id] == 1, f"{step_id} had succeeded before the kill and ran again"
    rerun = {s for s, n in runs.items() if n > 1}
    assert len(rerun) <= 1  # at most the step that was running when the process died


def test_a_map_killed_mid_way_reruns_no_item_that_had_succeeded(tmp_path):
    store, counter = _killed_at(tmp_path, "done each[13]", "map")
    job, succeeded = _stored(store)
    assert job.steps["each"].status is StepStatus.RUNNING
    assert len(succeeded) >= 10  # four at a time: most of the first fourteen had ended

    final = _recovered(store, counter, job.job_id)

    assert final.status is JobStatus.COMPLETED
    assert final.outputs == {"ns": [n + 1 for n in range(30)]}
    runs = Counter(counter.read_text().split())
    assert set(runs) == {f"each[{i}]" for i in range(30)}
    for step_id in succeeded:
        assert runs[step_id] == 1, f"{step_id} had succeeded before the kill and ran again"
    assert len({s for s, n in runs.items() if n > 1}) <= 4  # at most the four running
