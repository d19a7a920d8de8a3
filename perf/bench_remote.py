"""The daemon over its control socket, beside a bare echo over the same kind of socket."""

from __future__ import annotations

import asyncio
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import msgpack

from actors_wf import COMPONENT, Client, Engine
from actors_wf._core._codec import encode
from actors_wf._core._messages import GetJob
from actors_wf._server import ControlServer

from ._harness import Row, interleaved, summarise
from .bench_foundation import noop

_HEADER = struct.Struct(">I")
ACTORS_WF = Path(sys.executable).parent / "actors-wf"


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp, Engine() as engine:
        engine.registry.register(COMPONENT, "bench.noop", None, noop)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "s", "component": "bench.noop"}]}
        )
        server = ControlServer(engine, Path(tmp) / "d.sock").start()
        echo = _Echo(Path(tmp) / "echo.sock")
        try:
            return _rows(engine, server, echo)
        finally:
            echo.close()
            server.close()


def _rows(engine: Engine, server: ControlServer, echo: _Echo) -> list[Row]:
    client = Client(server.path)
    job = client.create_job("one", start=True)
    client.wait(job, 10)
    frame = msgpack.packb([1, encode(GetJob(job))])
    raw = socket.socket(socket.AF_UNIX)
    raw.connect(str(echo.path))

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
        concurrent = _concurrent(server.path, 50, 20)
        cold = _cold(server.path, job)
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
