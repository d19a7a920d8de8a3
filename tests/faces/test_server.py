"""The control socket and its client in this process (the daemon tests run them apart)."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import struct
import threading
import urllib.request
from pathlib import Path

import msgpack
import pytest

from actors_wf import COMPONENT, Engine, EngineUnavailable, JobStatus, JobTimeout
from actors_wf._client import Client, remote_error
from actors_wf._core._codec import decode, encode
from actors_wf._core._messages import ErrorReply, GetJob, JobReply
from actors_wf._server import ControlServer

WAIT = 10.0
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def served(tmp_path: Path):
    gate = threading.Event()
    with Engine() as engine:
        engine.registry.register(COMPONENT, "t.inc", None, lambda x: x + 1)
        engine.registry.register(COMPONENT, "t.gate", None, lambda: gate.wait(WAIT))
        engine.registry.register_workflow(
            {
                "id": "inc",
                "inputs": {"x": "int"},
                "steps": [{"id": "a", "component": "t.inc", "inputs": {"x": "$inputs.x"}}],
                "outputs": {"y": "$steps.a.output"},
            }
        )
        engine.registry.register_workflow(
            {"id": "gate", "steps": [{"id": "g", "component": "t.gate"}]}
        )
        server = ControlServer(engine, tmp_path / "s.sock").start()
        try:
            yield engine, server, gate
        finally:
            gate.set()
            server.close()


def test_commands_waits_events_and_errors_over_the_socket(served):
    _engine, server, _gate = served
    with Client(server.path) as client:
        assert client.run("inc", {"x": 1}, timeout=WAIT) == {"y": 2}
        with client.events(kinds=["step.started"]) as started:
            job = client.create_job("gate", start=True)
            assert started.get(WAIT).job_id == job
        with pytest.raises(JobTimeout):
            client.wait(job, 0.05)
        assert client.pause_job(job) is JobStatus.PAUSING
        assert client.resume_job(job) in (JobStatus.RUNNING, JobStatus.QUEUED)
        assert client.cancel_job(job, force=True) is JobStatus.CANCELLING
        assert client.wait(job, WAIT).status is JobStatus.CANCELLED
        with pytest.raises(Exception, match="cannot take 'retry_job'"):
            client.retry_job(job)
        assert client.get_job(job, outputs=False).outputs is None
        client.delete_job(job)
        page = client.list_jobs(limit=1)
        assert len(page) == 1 and page.cursor is not None
        assert client.purge(older_than=0, status="COMPLETED") == 1
        health = client.health()
        assert health.dropped_events == 0
        assert health.executors == {"thread": True, "process": True}


def test_frames_that_are_not_requests_end_their_connection_only(served):
    _engine, server, _ = served
    replies = []
    for frame in (
        struct.pack(">I", 20 << 20),  # over the limit
        _framed(msgpack.packb("not a list")),
        _framed(msgpack.packb([1, "not bytes"])),
    ):
        with socket.socket(socket.AF_UNIX) as sock:
            sock.connect(str(server.path))
            sock.sendall(frame)
            replies.append(_read_reply(sock))
    assert [decode(r).code for r in replies] == ["too_large", "bad_frame", "bad_frame"]
    with socket.socket(socket.AF_UNIX) as sock:  # garbage bytes as a command body
        sock.connect(str(server.path))
        sock.sendall(_framed(msgpack.packb([5, b"\xc1"])))
        assert decode(_read_reply(sock)).code == "bad_message"
    with Client(server.path) as client:
        assert client.health().version


def test_a_lost_connection_fails_what_waits_and_read_only_calls_reconnect(served, tmp_path):
    _engine, server, gate = served
    client = Client(server.path, reconnect=0.2)
    job = client.create_job("gate", start=True)
    result: dict[str, BaseException] = {}

    def waits() -> None:
        try:
            client.wait(job)
        except BaseException as exc:
            result["error"] = exc

    waiter = threading.Thread(target=waits)
    waiter.start()
    server.close()  # the daemon goes away, and does not come back
    waiter.join(WAIT)
    assert isinstance(result["error"], EngineUnavailable)
    with pytest.raises(EngineUnavailable):
        client.start_job(job)  # a command that changes a job is never sent again
    client.close()
    gate.set()


def test_an_error_reply_becomes_the_same_exception_class():
    from actors_wf import InvalidTransition, JobNotFound, StoreLocked

    assert isinstance(remote_error(ErrorReply("job_not_found", "no job 'x'")), JobNotFound)
    error = remote_error(ErrorReply("invalid_transition", "job x is COMPLETED"))
    assert isinstance(error, InvalidTransition) and str(error) == "job x is COMPLETED"
    assert isinstance(remote_error(ErrorReply("store_locked", "owned")), StoreLocked)
    assert type(remote_error(ErrorReply("something new", "?"))).__name__ == "ActorsWfError"


def test_handle_async_gives_the_replies_handle_gives(served):
    import asyncio

    engine, _, _ = served
    job = engine.jobs_sync.create_job("inc", {"x": 2})
    reply = asyncio.run(engine.handle_async(encode(GetJob(job))))
    assert reply == engine.handle(encode(GetJob(job)))
    assert isinstance(decode(reply), JobReply)
    refused = msgpack.unpackb(asyncio.run(engine.handle_async(b"\xc1")))
    assert refused["code"] == "bad_message"


def test_serve_runs_in_the_foreground_until_sigterm_with_http(tmp_path, capsys):
    from actors_wf._cli import main

    flows = tmp_path / "flows"
    flows.mkdir()
    (flows / "broken.yaml").write_text("id: broken\nsteps:\n  - {id: a, component: no.such}\n")
    sock = tmp_path / "d.sock"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = f"sqlite:///{tmp_path / 'jobs.db'}"
    args = ["serve", "--store", store, "--socket", str(sock), "--workflows", str(flows)]
    assert main(args) == 2  # a broken workflow file: the daemon refuses to start
    assert "no.such" in capsys.readouterr().err
    seen: dict[str, object] = {}
    ready = threading.Event()

    class Ready(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("ready: socket"):
                ready.set()

    logging.getLogger("actors_wf.daemon").addHandler(watcher := Ready())

    def drive() -> None:
        if not ready.wait(WAIT):
            os.kill(os.getpid(), signal.SIGTERM)
            return
        with Client(sock) as client:
            seen["health"] = client.health()
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/metrics", timeout=WAIT) as answer:
            seen["metrics"] = answer.read().decode()
        with urllib.request.urlopen(f"{base}/healthz", timeout=WAIT) as answer:
            seen["healthz"] = json.loads(answer.read())
        os.kill(os.getpid(), signal.SIGTERM)

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    driver = threading.Thread(target=drive)
    try:
        driver.start()
        extra = ["--skip-invalid", "--http", f"127.0.0.1:{port}", "--log-format", "json"]
        assert main([*args, *extra]) == 0
    finally:
        driver.join(WAIT)
        logging.getLogger("actors_wf.daemon").removeHandler(watcher)
        for signum, handler in before.items():
            signal.signal(signum, handler)
    assert seen["health"].store.endswith("jobs.db")
    assert "actors_wf_jobs" in seen["metrics"]
    assert seen["healthz"]["jobs"] == {}
    logged = capsys.readouterr().err
    assert '"message": "ready: socket' in logged


def _framed(body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + body


def _read_reply(sock: socket.socket) -> bytes:
    data = b""
    while len(data) < 4 or len(data) < 4 + struct.unpack(">I", data[:4])[0]:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    _, body = msgpack.unpackb(data[4:])
    return body


def test_the_async_client_has_the_same_commands(served):
    import asyncio

    from actors_wf import AsyncClient, JobNotFound

    _, server, gate = served

    async def main() -> None:
        async with await AsyncClient.connect(server.path) as client:
            assert await client.run("inc", {"x": 1}, timeout=WAIT) == {"y": 2}
            events = client.events(kinds=["step.started"])
            first = asyncio.ensure_future(events.__anext__())
            await asyncio.sleep(0)  # let the subscription go out before the job starts
            job = await client.create_job("gate")
            assert await client.start_job(job) is JobStatus.QUEUED
            assert (await asyncio.wait_for(first, WAIT)).job_id == job
            await events.aclose()
            results = await asyncio.gather(*(client.health() for _ in range(20)))
            assert len({r.version for r in results}) == 1
            assert await client.pause_job(job) is JobStatus.PAUSING
            assert await client.resume_job(job) in (JobStatus.RUNNING, JobStatus.QUEUED)
            assert await client.cancel_job(job, force=True) is JobStatus.CANCELLING
            assert (await client.wait(job, WAIT)).status is JobStatus.CANCELLED
            gate.set()
            with pytest.raises(Exception, match="cannot take 'retry_job'"):
                await client.retry_job(job)
            assert (await client.get_job(job)).job_id == job
            assert job in await client.describe(job)
            await client.delete_job(job)
            with pytest.raises(JobNotFound):
                await client.get_job(job)
            assert len(await client.list_jobs(limit=5)) == 1
            assert await client.purge(older_than=0) == 1
        with pytest.raises(EngineUnavailable):
            await AsyncClient.connect(server.path.with_name("none.sock"))

    asyncio.run(main())


def test_workflow_invalid_comes_back_with_its_located_problems(served):
    from actors_wf import WorkflowInvalid

    engine, server, _ = served
    engine.registry.register_workflow(
        {"id": "bad", "steps": [{"id": "a", "component": "no.such"}]}
    )
    with Client(server.path) as client, pytest.raises(WorkflowInvalid) as info:
        client.create_job("bad")
    assert [p.code for p in info.value.result.errors] == ["WF201"]
    assert info.value.result.errors[0].path == ("steps", 0, "component")
    assert "no.such" in str(info.value)


def test_a_client_that_stalls_inside_a_frame_loses_its_connection(served, monkeypatch):
    from actors_wf import _server

    _, server, _ = served
    monkeypatch.setattr(_server, "FRAME_TIMEOUT", 0.05)
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(WAIT)
        sock.connect(str(server.path))
        sock.sendall(struct.pack(">I", 100) + b"only ten b")
        assert sock.recv(100) == b""  # closed by the daemon
    with Client(server.path) as client:
        assert client.health().version


def test_a_read_only_call_after_the_daemon_restarted_reconnects(served):
    engine, server, _ = served
    client = Client(server.path, reconnect=WAIT)
    try:
        assert client.health().version
        server.close()  # nobody reads the client's socket now: it learns of it when it sends
        again = ControlServer(engine, server.path).start()
        try:
            assert client.health().version  # the send fails, the client connects afresh
        finally:
            again.close()
    finally:
        client.close()


def test_a_wait_longer_than_the_clients_reply_limit_is_not_cut_short(served):
    _, server, gate = served
    with Client(server.path, timeout=0.05) as client:
        job = client.create_job("gate", start=True)
        with pytest.raises(JobTimeout):  # the daemon's answer at 0.3 s, not "no reply"
            client.wait(job, 0.3)
        gate.set()
        assert client.run("inc", {"x": 1}) == {"y": 2}  # no limit given: none applies
