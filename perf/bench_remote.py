"""The daemon over its control socket, beside a bare echo over the same kind of socket."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import msgpack

from actors_wf import COMPONENT, Client, Engine
from actors_wf._core._codec import encode
from actors_wf._core._messages import GetJob

from ._harness import Row, interleaved, summarise
from .bench_foundation import noop

_HEADER = struct.Struct(">I")
ACTORS_WF = Path(sys.executable).parent / "actors-wf"
ROOT = Path(__file__).resolve().parents[1]
ONE = {"id": "one", "steps": [{"id": "s", "component": "bench.noop"}]}


def run() -> list[Row]:
    """The daemon and the echo each in a process of their own, as a client meets them."""
    with (
        tempfile.TemporaryDirectory() as tmp,
        Engine(store=Path(tmp) / "local.db") as engine,  # the daemon's store is SQLite too
    ):
        engine.registry.register(COMPONENT, "bench.noop", None, noop)
        engine.registry.register_workflow(ONE)
        flows = Path(tmp) / "flows"
        flows.mkdir()
        (flows / "one.json").write_text(json.dumps(ONE))
        sock = Path(tmp) / "d.sock"
        daemon = subprocess.Popen(
            [str(ACTORS_WF), "serve", "--store", str(Path(tmp) / "jobs.db"), "--socket",
             str(sock), "-c", "perf.remote_components", "--workflows", str(flows)],
            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        echo = subprocess.Popen(
            [sys.executable, "-m", "perf.bench_remote", str(Path(tmp) / "echo.sock")],
            stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
        )  # fmt: skip
        try:
            _ready(daemon, echo)
            return _rows(engine, sock, Path(tmp) / "echo.sock")
        finally:
            for proc in (daemon, echo):
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)


def _ready(daemon: subprocess.Popen[str], echo: subprocess.Popen[str]) -> None:
    assert daemon.stderr is not None and echo.stdout is not None
    for line in daemon.stderr:
        if "ready: socket" in line:
            break
    threading.Thread(target=daemon.stderr.read, daemon=True).start()  # drain its log
    echo.stdout.readline()


def _rows(engine: Engine, sock: Path, echo: Path) -> list[Row]:
    client = Client(sock)
    job = client.create_job("one", start=True)
    client.wait(job, 10)
    frame = msgpack.packb([1, encode(GetJob(job))])
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(str(echo))

    def bounce() -> None:
        raw.sendall(_HEADER.pack(len(frame)) + frame)
        _read(raw)

    try:
        gets = interleaved([lambda: client.get_job(job), bounce], 2000, warmup=50)
        runs = interleaved(
            [lambda: client.run("one", timeout=10), lambda: engine.run("one", timeout=10), bounce],
            300,
            warmup=20,
        )
        concurrent = _concurrent(sock, 50, 20)
        calm, abused = _health_under_abuse(client, sock)
        cold = _cold(sock, job)
    finally:
        client.close()
        raw.close()
    local_plus_echo = [a + b for a, b in zip(runs[1], runs[2], strict=True)]
    return [
        summarise("get_job over the socket", gets[0], baseline=("echo, same socket", gets[1]),
                  bar="<= 3x"),
        summarise(
            "submit and wait, a 1-step job, over the socket",
            runs[0],
            baseline=("in-process run + echo", local_plus_echo),
            bar="<= 1.5x",
        ),
        summarise(f"50 clients at once: {concurrent:,.0f} jobs/s (1-step jobs)", [1 / concurrent]),
        summarise(f"health while garbage arrives (max {max(abused) * 1e3:.1f} ms)", abused,
                  baseline=("health, calm", calm), bar="max < 100 ms"),
        summarise("`actors-wf status JOB`, a whole cold process", cold[0],
                  baseline=("python -c pass", cold[1])),
    ]  # fmt: skip


def _concurrent(path: Path, clients: int, jobs: int) -> float:
    start = threading.Barrier(clients + 1)

    def work() -> None:
        with Client(path) as client:
            start.wait()
            for _ in range(jobs):
                client.run("one", timeout=30)

    threads = [threading.Thread(target=work) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return clients * jobs / (time.perf_counter() - began)


def _health_under_abuse(client: Client, path: Path) -> tuple[list[float], list[float]]:
    """Health round trips, calm, then while another process sends garbage (see ``_abuse``)."""
    calm = [_timed(client.health) for _ in range(300)]
    abuser = subprocess.Popen(
        [sys.executable, "-m", "perf.bench_remote", "abuse", str(path)],
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    abused = []
    while abuser.poll() is None:
        abused.append(_timed(client.health))
    assert abuser.returncode == 0
    return calm, abused


def _abuse(path: Path) -> None:
    """5,000 garbage or half frames and 100 big frames cut off, each on a connection of its
    own, as the daemon test sends them."""
    rng = random.Random(7)
    for i in range(5100):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(path))
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            if i >= 5000:
                junk = _HEADER.pack(15 << 20) + b"x" * 1000  # a big frame, then gone
            elif i % 2:
                junk = _HEADER.pack(1 << 20) + junk  # a frame cut short
            sock.sendall(junk)


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cold(path: Path, job: str) -> list[list[float]]:
    status = [str(ACTORS_WF), "status", job, "--socket", str(path)]
    bare = [sys.executable, "-c", "pass"]
    return interleaved(
        [lambda: subprocess.run(status, check=True, capture_output=True),
         lambda: subprocess.run(bare, check=True)],
        10,
    )  # fmt: skip


class _Echo:
    """Frames back as they came, on an asyncio Unix socket server in a thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._loop = asyncio.new_event_loop()
        ready = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(ready,), daemon=True)
        self._thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                while True:
                    header = await reader.readexactly(_HEADER.size)
                    writer.write(header + await reader.readexactly(_HEADER.unpack(header)[0]))
            except (asyncio.IncompleteReadError, ConnectionError):
                writer.close()

        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(asyncio.start_unix_server(serve, self.path))
        ready.set()
        self._loop.run_forever()
        self._server.close()
        tasks = asyncio.all_tasks(self._loop)
        for task in tasks:
            task.cancel()
        self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        self._loop.close()

    def close(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()


def _read(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < _HEADER.size:
        data += sock.recv(65536)
    size = _HEADER.unpack(data[: _HEADER.size])[0]
    while len(data) < _HEADER.size + size:
        data += sock.recv(65536)
    return data


if __name__ == "__main__" and sys.argv[1] == "abuse":
    _abuse(Path(sys.argv[2]))
elif __name__ == "__main__":  # the echo server, in a process of its own
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    _echo = _Echo(Path(sys.argv[1]))
    print("ready", flush=True)
    signal.sigwait({signal.SIGTERM})
    _echo.close()
