"""actors-wf serve in a process of its own, driven by a Client over a real Unix socket."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import msgpack
import pytest

from actors_wf import EngineUnavailable, InvalidTransition, JobNotFound, JobStatus
from actors_wf._client import Client
from actors_wf._core._codec import encode
from actors_wf._core._messages import Health

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "tests" / "fixtures" / "daemon"
ACTORS_WF = Path(sys.executable).parent / "actors-wf"
WAIT = 30.0


class Daemon:
    """``actors-wf serve`` on a temp store; ``ready`` once it logged so."""

    def __init__(
        self, tmp: Path, *extra: str, drain: float = 5.0, sock: Path | None = None
    ) -> None:
        self.socket = sock or tmp / "d.sock"
        self.ran = tmp / "ran.log"
        self.lines: list[str] = []
        command = [
            str(ACTORS_WF), "serve", "--store", str(tmp / "jobs.db"), "--socket",
            str(self.socket), "-c", "tests.components.daemon", "--workflows", str(WORKFLOWS),
            "--drain", str(drain), "--log-format", "json", *extra,
        ]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(ROOT), "ACTORS_WF_TEST_LOG": str(self.ran)}
        self.proc = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        self._ready = threading.Event()
        self._line = threading.Condition()
        # A daemon thread: a daemon process left by a failed test must not keep pytest alive.
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        assert self._ready.wait(WAIT), f"the daemon did not start: {self.lines}"

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._line:
                self.lines.append(line)
                self._line.notify_all()
            if '"ready: socket' in line:
                self._ready.set()
        self._ready.set()

    def logged(self, text: str) -> None:
        """Wait until the daemon has logged a line holding ``text``."""
        with self._line:
            found = self._line.wait_for(lambda: any(text in line for line in self.lines), WAIT)
        assert found, f"the daemon never logged {text!r}"

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        code = self.proc.wait(WAIT)
        self._reader.join(WAIT)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code

    def runs(self, name: str) -> int:
        return sum(line.strip() == name for line in self.ran.read_text().splitlines())


@pytest.fixture
def daemons():
    """Start daemons with ``daemons(tmp, ...)``; whatever still runs at the end is killed."""
    started: list[Daemon] = []

    def start(*args: Any, **kwargs: Any) -> Daemon:
        started.append(Daemon(*args, **kwargs))
        return started[-1]

    yield start
    for running in started:
        if running.proc.poll() is None:
            running.stop(signal.SIGKILL)


@pytest.fixture
def daemon(tmp_path: Path, daemons):
    return daemons(tmp_path)


def test_a_client_in_another_process_runs_100_jobs_and_follows_their_events(daemon):
    with Client(daemon.socket) as client, client.events(kinds=["job.completed"]) as events:
        jobs = [client.create_job("inc", {"x": i}, start=True) for i in range(100)]
        states = [client.wait(job, WAIT) for job in jobs]
        assert [s.outputs for s in states] == [{"y": i + 1} for i in range(100)]
        completed = {events.get(WAIT).job_id for _ in range(100)}
        assert completed == set(jobs)
        listed = client.list_jobs("COMPLETED", limit=100)
        assert {j.job_id for j in listed} == set(jobs)
        assert client.run("inc", {"x": 41}, timeout=WAIT) == {"y": 42}
        with pytest.raises(JobNotFound):
            client.get_job("nobody")
        with pytest.raises(InvalidTransition, match="cannot take 'start_job'"):
            client.start_job(jobs[0])
        assert client.health().jobs == {"COMPLETED": 101}
        assert "d.inc" in client.describe(jobs[0])
        assert client.purge(older_than=0) == 101
    assert daemon.runs("inc") == 101
    assert daemon.stop() == 0


def test_a_daemon_killed_mid_job_is_replaced_and_the_client_waits_on(tmp_path, daemons):
    first = daemons(tmp_path)
    client = Client(first.socket, reconnect=WAIT)
    try:
        with client.events(kinds=["step.started"]) as started:
            job = client.create_job("two", {"x": 1}, start=True)
            assert [started.get(WAIT).step_id for _ in range(2)] == ["a", "b"]
        first.logged("hanging now")  # b's code runs: started is sent when b is launched
        result: dict[str, object] = {}
        waiter = threading.Thread(target=lambda: result.update(state=client.wait(job, WAIT)))
        waiter.start()
        assert first.stop(signal.SIGKILL) == -signal.SIGKILL
        second = daemons(tmp_path)  # recovers the job: b runs again, a does not
        waiter.join(WAIT)
        state = result["state"]
        assert state.status is JobStatus.COMPLETED and state.outputs == {"y": 20}
        assert (second.runs("inc"), second.runs("hang")) == (1, 2)
        assert second.stop() == 0
    finally:
        client.close()


def test_sigterm_drains_exits_0_and_the_jobs_resume_on_restart(tmp_path, daemons):
    first = daemons(tmp_path, drain=0.2)
    with Client(first.socket) as client, client.events(kinds=["step.started"]) as started:
        job = client.create_job("two", {"x": 2}, start=True)
        assert [started.get(WAIT).step_id for _ in range(2)] == ["a", "b"]
    assert first.stop(signal.SIGTERM) == 0
    assert any('"draining: waiting up to 0.2s for 1' in line for line in first.lines)
    second = daemons(tmp_path)
    with Client(second.socket) as client:
        assert client.wait(job, WAIT).outputs == {"y": 30}
    assert second.stop() == 0


def test_the_socket_is_its_owners_and_another_uid_is_refused(daemon, daemons, tmp_path):
    assert stat.S_IMODE(os.stat(daemon.socket).st_mode) == 0o600
    if os.getuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv to connect as another user")
    # A socket another user can reach through its folders and its file mode:
    # only SO_PEERCRED stands in the way.
    public = Path(tempfile.mkdtemp(prefix="actors-wf-"))
    try:
        public.chmod(0o755)
        other = daemons(tmp_path / "other", sock=public / "d.sock")
        os.chmod(other.socket, 0o666)
        probe = (
            "import socket,struct,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);"
            "s.sendall(struct.pack('>I', len(sys.argv[2])//2) + bytes.fromhex(sys.argv[2]));"
            "print(repr(s.recv(100)))"
        )
        frame = msgpack.packb([1, encode(Health())]).hex()
        done = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
             sys.executable, "-c", probe, str(other.socket), frame],
            capture_output=True, text=True, timeout=WAIT,
        )  # fmt: skip
        # Closed before a byte is read: the peer reads nothing, or its send or read fails.
        refused = ("ConnectionResetError", "BrokenPipeError")
        assert done.stdout.strip() == "b''" or any(e in done.stderr for e in refused), done
        with Client(other.socket) as client:  # its owner still gets in
            assert client.health().version
        assert other.stop() == 0
        assert any("refused a connection from pid" in line for line in other.lines)
    finally:
        shutil.rmtree(public, ignore_errors=True)


def test_garbage_half_frames_and_a_reader_that_never_reads_cost_only_their_connection(daemon):
    pid = daemon.proc.pid
    with Client(daemon.socket) as client:
        _run_300(client)  # the engine's own pools grow to what this load needs, first
        before = (_fds(pid), _threads(pid))
        rng = __import__("random").Random(7)
        for i in range(5000):
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(daemon.socket))
                junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
                if i % 2:
                    junk = struct.pack(">I", 1 << 20) + junk  # a frame cut short
                sock.sendall(junk)
            if i % 500 == 0:
                assert client.health().version  # answered throughout
        for _ in range(100):  # a big frame announced, then gone
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(daemon.socket))
                sock.sendall(struct.pack(">I", 15 << 20) + b"x" * 1000)
        lazy = Client(daemon.socket)
        stream = lazy.events()  # subscribed, never read
        _run_300(client)
        stream.close()
        lazy.close()
        assert client.health().jobs == {"COMPLETED": 600}
        after = (_fds(pid), _threads(pid))
    # 5,100 connections: a descriptor or a thread left by each would show in thousands;
    # the pools (idle step actors, worker threads, the events thread) may grow a few.
    assert after[0] <= before[0] + 2, (before, after)
    assert after[1] <= before[1] + 10, (before, after)
    assert daemon.stop() == 0


def _run_300(client: Client) -> None:
    jobs = [client.create_job("inc", {"x": i}, start=True) for i in range(300)]
    for job in jobs:
        assert client.wait(job, WAIT).status is JobStatus.COMPLETED


def _fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def _threads(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("Threads")))


def test_an_unreachable_daemon_is_engine_unavailable_and_exit_code_3(tmp_path, capsys):
    from actors_wf._cli import main

    with pytest.raises(EngineUnavailable, match="no daemon answers"):
        Client(tmp_path / "none.sock")
    assert main(["health", "--socket", str(tmp_path / "none.sock")]) == 3
    assert "no daemon answers" in capsys.readouterr().err


def test_the_client_commands(daemon, capsys):
    from actors_wf._cli import main

    sock = ["--socket", str(daemon.socket)]
    assert main(["submit", "inc", "-i", "x=4", "--wait", *sock]) == 0
    job_id, status = capsys.readouterr().out.split()
    assert status == "COMPLETED"
    assert main(["status", job_id, "--json", *sock]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"y": 5}
    assert main(["list", *sock]) == 0
    assert job_id in capsys.readouterr().out
    assert main(["cancel", job_id, *sock]) == 2  # finished: refused
    assert "cannot take 'cancel_job'" in capsys.readouterr().err
    assert main(["health", "--json", *sock]) == 0
    assert json.loads(capsys.readouterr().out)["jobs"] == {"COMPLETED": 1}
    assert main(["submit", "two", "-i", "x=1", *sock]) == 0
    hanging = capsys.readouterr().out.strip()
    assert main(["wait", hanging, "--timeout", "0.2", *sock]) == 2  # a timeout is refused
    assert main(["cancel", hanging, "--force", *sock]) == 0
    assert main(["wait", hanging, *sock]) == 1  # ended, not completed
    assert main(["purge", "--status", "CANCELLED", *sock]) == 0
    assert "deleted 1 finished job(s)" in capsys.readouterr().out
    assert main(["submit", "approve", *sock]) == 0
    waiting = capsys.readouterr().out.strip()
    assert main(["signal", waiting, "aproval", "-p", "{by: ada}", *sock]) == 2
    assert "did you mean 'approval'?" in capsys.readouterr().err
    assert main(["signal", waiting, "approval", "-p", "{by: ada}", *sock]) == 0
    assert main(["wait", waiting, "--json", *sock]) == 0
    shown = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert shown["outputs"] == {"by": "ada", "y": 2}
