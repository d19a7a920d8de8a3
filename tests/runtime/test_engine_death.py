"""An engine that dies, or is never closed, leaves no process running and nothing stuck."""

import os
import select
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from actors_wf import COMPONENT, Engine, JobStatus, StoreError, StoreLocked
from actors_wf._runtime._process import AttemptLock
from tests.components import isolated as comps
from tests.support.processes import ends

ROOT = Path(__file__).resolve().parents[2]
WAIT = 30.0


def _engine_process(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path]:
    pid_file = tmp_path / "worker.pid"
    os.mkfifo(f"{pid_file}.fifo")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.support.engine_script",
            str(tmp_path / "jobs.db"),
            str(pid_file),
            mode,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )
    return proc, pid_file


def _wait_running(pid_file: Path) -> int:
    """The worker's pid once its attempt runs (waiting on a FIFO it writes, not sleeping)."""
    fd = os.open(f"{pid_file}.fifo", os.O_RDONLY | os.O_NONBLOCK)
    try:
        readable, _, _ = select.select([fd], [], [], WAIT)
        assert readable, "the attempt never started"
    finally:
        os.close(fd)
    return int(pid_file.read_text())


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)  # the engine alone: its workers are in sessions of their own
    proc.wait(WAIT)
    proc.stdout.close()
    proc.stderr.close()


def test_workers_die_with_their_engine_killed_by_sigkill(tmp_path):
    proc, pid_file = _engine_process(tmp_path, "orphan")
    try:
        worker = _wait_running(pid_file)
    finally:
        _kill(proc)
    assert ends(worker), f"worker {worker} outlived its engine"
    assert not Path(f"/proc/{worker}").exists() or comps._running(worker) is False


def test_recovery_never_runs_an_attempt_beside_the_dead_engines_one(tmp_path):
    proc, pid_file = _engine_process(tmp_path, "orphan")
    try:
        _wait_running(pid_file)
    finally:
        _kill(proc)
    # At once, without waiting for the old worker: recovery waits for it itself.
    with Engine(store=tmp_path / "jobs.db") as engine:
        engine.registry.register(
            COMPONENT, "p.once", {"isolation": "process"}, comps.one_at_a_time
        )
        engine.registry.register(COMPONENT, "t.hang", None, lambda: None)
        (job,) = engine.recover()
        state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.COMPLETED
    assert state.steps["s"].output == "alone"  # the old attempt had ended when this one began


def test_a_second_engine_in_this_process_is_refused_naming_the_owner(tmp_path):
    with Engine(store=tmp_path / "jobs.db"):
        with pytest.raises(StoreLocked, match=f"pid {os.getpid()} on ") as info:
            Engine(store=tmp_path / "jobs.db", recover=True)
        assert info.value.owner["alive"] is True
    with Engine(store=tmp_path / "jobs.db"):  # let go on close
        pass
    # The engine that failed to start left no thread running (the autouse fixture checks).


def test_a_second_engine_waits_for_the_first_and_takes_over_when_it_is_killed(tmp_path, caplog):
    proc, pid_file = _engine_process(tmp_path, "orphan")
    try:
        _wait_running(pid_file)
        with pytest.raises(StoreLocked) as info:
            Engine(store=tmp_path / "jobs.db", recover=True)
        assert (info.value.owner["pid"], info.value.owner["alive"]) == (proc.pid, True)
        result: dict[str, Any] = {}

        def second() -> None:
            with Engine(store=tmp_path / "jobs.db", wait_for_store=WAIT) as engine:
                result["took over"] = True
                engine.registry.register(
                    COMPONENT, "p.once", {"isolation": "process"}, comps.one_at_a_time
                )
                engine.registry.register(COMPONENT, "t.hang", None, lambda: None)
                (job,) = engine.recover()
                result["state"] = engine.jobs_sync.wait(job, WAIT)

        waiting = threading.Thread(target=second)
        waiting.start()
    finally:
        _kill(proc)
    waiting.join(2 * WAIT)
    assert result["took over"]
    state = result["state"]
    assert state.status is JobStatus.COMPLETED
    assert state.steps["s"].output == "alone"  # never beside the first engine's attempt
    assert "StaleWrite" not in caplog.text


def test_an_engine_never_closed_does_not_keep_the_interpreter_alive(tmp_path):
    proc, _ = _engine_process(tmp_path, "unclosed")
    try:
        out, err = proc.communicate(timeout=WAIT)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
    assert proc.returncode == 0, err.decode()
    assert out.decode().strip() == "leaving"


def test_the_attempt_lock_is_held_until_the_last_process_holding_it_has_exited(tmp_path):
    path = tmp_path / "jobs.db-lock"
    old = AttemptLock(path)
    # A worker of the old engine: it holds the engine's lock file open.
    worker = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        stdin=subprocess.PIPE,
        pass_fds=[old.fd],
    )
    old.close()  # the old engine is gone; its worker is not
    new = AttemptLock(path)
    try:
        with pytest.raises(StoreError, match="still held after 0.1s"):
            new.exclusive(0.1)
        worker.stdin.close()  # the worker ends
        worker.wait(WAIT)
        new.exclusive(WAIT)  # now it is ours
    finally:
        new.close()
    assert oct(path.stat().st_mode & 0o777) == "0o600"
