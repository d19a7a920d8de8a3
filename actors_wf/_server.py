"""The control socket: an engine driven by other programs over a Unix socket.

A frame is a 4-byte big-endian length and a msgpack array ``[request id,
body]``; the body is the bytes ``engine.handle`` takes (one codec, one set
of error codes), or one of the socket's own requests (``wait``,
``subscribe``, ``unsubscribe``, ``describe``, ``health``). A reply carries
the request's id, so one connection can have many requests in flight; a
subscription's events carry the id of its ``subscribe``.

The server runs on an asyncio loop in a thread of its own: a waiter is a
future, not a thread; a slow subscriber loses events (counted), never slows
the engine; a frame over the limit, garbage or a client that stalls costs
its own connection only. Peers are checked with ``SO_PEERCRED`` before a
byte is read: the same user, root, or the socket's group.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import logging
import os
import socket
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgpack

from ._core._codec import converter, decode, encode
from ._core._errors import JobTimeout
from ._core._messages import (
    Ack,
    CreateJob,
    Describe,
    Described,
    EventNote,
    GetJob,
    Health,
    HealthReply,
    JobCreated,
    JobReply,
    ListJobs,
    RunJob,
    Subscribe,
    Unsubscribe,
    Wait,
)
from ._handle import COMMANDS, MAX_MESSAGE, error_reply, refusal
from ._observe._events import Event

if TYPE_CHECKING:
    from ._engine import Engine

log = logging.getLogger("actors_wf.server")

_HEADER = struct.Struct(">I")
_REMOTE = (Wait, RunJob, Subscribe, Unsubscribe)
_AT_ONCE = (GetJob, ListJobs, Describe, Health)
# Bytes a connection may have waiting to be sent before its events are dropped.
SEND_BUFFER = 4 * 1024 * 1024
# Seconds a client may take to send the rest of a frame it began.
FRAME_TIMEOUT = 30.0


class ControlServer:
    """Serves an engine on a Unix socket, in a thread of its own.

    Args:
        engine: the engine to drive.
        path: the socket's path; an old socket file there is replaced.
        group: a group whose members may connect too (the socket is then 0660).
    """

    def __init__(
        self, engine: Engine, path: str | os.PathLike[str], group: str | None = None
    ) -> None:
        self.engine = engine
        self.path = Path(path)
        self.gid = grp.getgrnam(group).gr_gid if group is not None else None
        self.started = time.time()
        self.dropped = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._connections: set[_Connection] = set()
        self._thread = threading.Thread(target=self._run, name="actors_wf-control", daemon=True)

    def start(self) -> ControlServer:
        """Bind the socket and serve; returns once connections are accepted.

        Raises:
            OSError: the socket cannot be made.
        """
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        log.info("serving on %s", self.path)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(self._bind())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            self._loop.close()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.run_until_complete(self._shut())
        self._loop.close()

    async def _bind(self) -> asyncio.AbstractServer:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            if self.path.is_socket():
                self.path.unlink()
        mode = 0o660 if self.gid is not None else 0o600
        old = os.umask(0o777 & ~mode)  # made with its mode: no moment anyone else could connect
        try:
            server = await self._loop.create_unix_server(lambda: _Connection(self), self.path)
        finally:
            os.umask(old)
        if self.gid is not None:
            os.chown(self.path, -1, self.gid)
        return server

    async def _shut(self) -> None:
        self._server.close()
        for connection in list(self._connections):
            connection.drop()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()

    def close(self) -> None:
        """Stop accepting, drop every connection, remove the socket file."""
        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    def allowed(self, sock: socket.socket) -> bool:
        """Whether the peer on ``sock`` may drive the engine (``SO_PEERCRED``)."""
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid, uid, gid = struct.unpack("3i", creds)
        if uid in (0, os.getuid()):
            return True
        if self.gid is not None and (gid == self.gid or _in_group(uid, self.gid)):
            return True
        log.warning("refused a connection from pid %d (uid %d, gid %d)", pid, uid, gid)
        return False

    def health(self) -> HealthReply:
        """How the daemon is."""
        import actors_wf

        store = self.engine.state.store
        return HealthReply(
            actors_wf.__version__,
            time.time() - self.started,
            str(getattr(store, "path", "memory")),
            self.engine.state.counts(),
            getattr(store, "owner", None),
            self.dropped,
            self.engine.executors_available(),
        )


class _Connection(asyncio.Protocol):
    """One client: its requests in flight, its subscriptions.

    A protocol, not a stream reader: each chunk that arrives is cut into
    frames in the callback, and a read is answered there, with no task and
    no extra turn of the loop.
    """

    def __init__(self, server: ControlServer) -> None:
        self.server = server
        self.engine = server.engine
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.stalled: asyncio.TimerHandle | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        self.subscriptions: dict[int, Any] = {}

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self.server.allowed(transport.get_extra_info("socket")):
            transport.abort()  # before a byte is read
            return
        self.server._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server._connections.discard(self)
        if self.stalled is not None:
            self.stalled.cancel()
        for request in list(self.subscriptions):
            self.unsubscribe(request)
        for task in self.tasks:
            task.cancel()

    def closing(self) -> bool:
        """Whether the connection is gone or going."""
        return self.transport is None or self.transport.is_closing()

    def drop(self) -> None:
        """End the connection at once, whatever is in flight."""
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        while len(buffer) >= _HEADER.size and not self.closing():
            (size,) = _HEADER.unpack_from(buffer)
            if size > MAX_MESSAGE:
                limit = f"a frame of {size:,} bytes; the limit is {MAX_MESSAGE:,}"
                self.refuse(error_reply("too_large", limit))
                return
            end = _HEADER.size + size
            if len(buffer) < end:
                break
            frame = bytes(buffer[_HEADER.size : end])
            del buffer[:end]
            self.frame(frame)
        self.watch_stall()

    def watch_stall(self) -> None:
        """A frame begun must end: a client that stalls in one loses its connection."""
        if not self.buffer:
            if self.stalled is not None:
                self.stalled.cancel()
                self.stalled = None
        elif self.stalled is None:
            loop = asyncio.get_running_loop()
            self.stalled = loop.call_later(FRAME_TIMEOUT, self.drop)

    def refuse(self, reply: bytes) -> None:
        """Send ``reply`` and close: the stream can no longer be cut into frames."""
        self.send(0, reply)
        self.buffer.clear()
        assert self.transport is not None
        self.transport.close()

    def frame(self, frame: bytes) -> None:
        try:
            request, body = msgpack.unpackb(frame)
            if not isinstance(request, int) or not isinstance(body, bytes):
                raise ValueError("not [request id, body bytes]")
        except Exception as exc:
            self.refuse(error_reply("bad_frame", f"a frame must be [request id, body]: {exc}"))
            return
        try:
            command = decode(body) if body[:1] else None
        except Exception:
            command = None  # handle_async refuses it, with its reason
        if isinstance(command, _AT_ONCE):  # reads from the store: no task, no thread
            self.send(request, self.at_once(command))
            return
        task = asyncio.get_running_loop().create_task(self.answer(request, body, command))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def at_once(self, command: Any) -> bytes:
        try:
            if isinstance(command, Health):
                return encode(self.server.health())
            if isinstance(command, Describe):
                return encode(Described(self.engine.state.describe(command.job_id)))
            return self.engine._handler.read(command)
        except Exception as exc:
            return refusal(exc)

    async def answer(self, request: int, body: bytes, command: Any) -> None:
        if isinstance(command, _REMOTE):
            reply = await self.remote(request, command)
        elif isinstance(command, COMMANDS) and len(body) <= MAX_MESSAGE:
            reply = await self.engine._handler.handle_async(body, command)
        else:
            reply = await self.engine.handle_async(body)  # refused there, with its reason
        if reply is not None:
            self.send(request, reply)

    async def remote(self, request: int, command: Any) -> bytes | None:
        try:
            if isinstance(command, Wait):
                return encode(JobReply(await self.wait(command)))
            if isinstance(command, RunJob):
                return await self.run(command)
            if isinstance(command, Subscribe):
                self.subscribe(request, command)
                return None
            if isinstance(command, Unsubscribe):
                self.unsubscribe(command.request)
                return encode(Ack("", "UNSUBSCRIBED"))
            raise AssertionError(f"not a request to answer in a task: {command!r}")
        except Exception as exc:
            return refusal(exc)

    async def run(self, command: RunJob) -> bytes:
        create = CreateJob(command.workflow_id, command.inputs, command.priority, start=True)
        created = await self.engine.handle_async(encode(create))
        reply = decode(created)
        if not isinstance(reply, JobCreated):
            return created  # the refusal, as create_job gives it
        return encode(JobReply(await self.wait(Wait(reply.job_id, command.timeout))))

    async def wait(self, command: Wait) -> Any:
        future = asyncio.wrap_future(self.engine.state.watch(command.job_id))
        try:
            return await asyncio.wait_for(future, command.timeout)
        except TimeoutError:
            state = self.engine.state.find(command.job_id)
            raise JobTimeout(command.job_id, command.timeout or 0.0, state) from None

    def subscribe(self, request: int, command: Subscribe) -> None:
        loop = asyncio.get_running_loop()
        kinds = set(command.kinds) if command.kinds is not None else None

        def deliver(event: Event) -> None:  # on the engine's events thread
            if command.job_id not in (None, event.job_id):
                return
            if kinds is not None and event.kind.value not in kinds:
                return
            loop.call_soon_threadsafe(self.push, request, event)

        self.subscriptions[request] = self.engine.subscribe(deliver)

    def push(self, request: int, event: Event) -> None:
        if request not in self.subscriptions:
            return
        assert self.transport is not None
        if self.transport.get_write_buffer_size() > SEND_BUFFER:
            self.server.dropped += 1  # a client that does not read loses events, not the engine
            return
        note = EventNote(**converter.unstructure(event))
        self.send(request, encode(note))

    def unsubscribe(self, request: int) -> None:
        stop = self.subscriptions.pop(request, None)
        if stop is not None:
            stop()

    def send(self, request: int, body: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        frame = msgpack.packb([request, body])
        transport.write(_HEADER.pack(len(frame)) + frame)


def _in_group(uid: int, gid: int) -> bool:
    import pwd

    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        return False
    return name in grp.getgrgid(gid).gr_mem
