"""The asyncio client of a daemon's control socket: :class:`Client`'s methods, awaited.

Its own module: a program (or ``actors-wf status``) that uses the blocking
client does not import asyncio.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import itertools
import os
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any

import msgpack

from ._client import (
    _DEFAULT,
    _END,
    _HEADER,
    _RETRY,
    JobSummaries,
    _answer,
    _create,
    _forever,
    _limit,
    _listing,
    _outputs,
    _purge,
)
from ._core._codec import decode_trusted, encode
from ._core._errors import ActorsWfError, EngineUnavailable
from ._core._messages import (
    Ack,
    CancelJob,
    DeleteJob,
    Describe,
    Described,
    EventNote,
    GetJob,
    Health,
    HealthReply,
    JobCreated,
    JobList,
    JobReply,
    Message,
    PauseJob,
    Purged,
    ResumeJob,
    RetryJob,
    RunJob,
    SignalJob,
    StartJob,
    Subscribe,
    Unsubscribe,
    Wait,
)
from ._core._records import JobState
from ._core._status import JobStatus


class AsyncClient:
    """:class:`Client` for asyncio: the same methods, as coroutines; the loop never blocks.

    Make one with ``await AsyncClient.connect(path)``; many coroutines may
    share it. A lost connection fails what waits with :class:`EngineUnavailable`;
    read-only calls reconnect as :class:`Client`'s do.
    """

    def __init__(self, path: str, timeout: float, reconnect: float) -> None:
        self.path = path
        self.timeout = timeout
        self.reconnect = reconnect
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[bytes]] = {}
        self._streams: dict[int, asyncio.Queue[Any]] = {}
        self._writer: asyncio.StreamWriter | None = None
        self._reader: asyncio.Task[None] | None = None

    @classmethod
    async def connect(
        cls,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 30.0,
        reconnect: float = 10.0,
    ) -> AsyncClient:
        """Connect to a daemon (``ACTORS_WF_SOCKET`` by default).

        Raises:
            EngineUnavailable: no daemon answers on the socket.
        """
        path = socket_path or os.environ.get("ACTORS_WF_SOCKET")
        if not path:
            raise EngineUnavailable("no socket given, and ACTORS_WF_SOCKET is not set")
        client = cls(os.fspath(path), timeout, reconnect)
        await client._connect()
        return client

    async def _connect(self) -> None:
        try:
            reader, writer = await asyncio.open_unix_connection(self.path, limit=1 << 26)
        except OSError as exc:
            raise EngineUnavailable(f"no daemon answers on {self.path}: {exc.strerror}") from None
        self._writer = writer
        self._reader = asyncio.create_task(self._read(reader, writer))

    async def _read(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
                request, body = msgpack.unpackb(await reader.readexactly(size))
                future = self._pending.pop(request, None)
                if future is not None and not future.done():
                    future.set_result(body)
                elif request in self._streams:
                    self._streams[request].put_nowait(body)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if self._writer is writer:
                self._writer = None
            writer.close()
            lost = EngineUnavailable(f"the connection to {self.path} was lost")
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(lost)
            self._pending.clear()
            for stream in self._streams.values():
                stream.put_nowait(_END)
            self._streams.clear()

    def _send(self, command: Message, stream: asyncio.Queue[Any] | None = None) -> int:
        if self._writer is None:
            raise EngineUnavailable(f"not connected to {self.path}")
        request = next(self._ids)
        if stream is None:
            self._pending[request] = asyncio.get_running_loop().create_future()
        else:
            self._streams[request] = stream
        frame = msgpack.packb([request, encode(command)])
        self._writer.write(_HEADER.pack(len(frame)) + frame)
        return request

    async def _call(
        self,
        command: Message,
        *,
        read_only: bool = False,
        timeout: float | object | None = _DEFAULT,
    ) -> Message:
        deadline = time.monotonic() + self.reconnect
        while True:
            try:
                if self._writer is None:
                    await self._connect()
                future = self._pending[self._send(command)]
                body = await asyncio.wait_for(future, _limit(timeout, self.timeout))
                break
            except EngineUnavailable:
                if not read_only or time.monotonic() >= deadline:
                    raise
                await asyncio.sleep(_RETRY)  # the daemon restarts: try its socket again shortly
            except TimeoutError:
                raise EngineUnavailable(
                    f"no reply from {self.path} within {self.timeout:g}s"
                ) from None
        return _answer(body)

    async def close(self) -> None:
        """Close the connection."""
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def create_job(
        self,
        workflow_id: str,
        inputs: dict[str, Any] | None = None,
        priority: int | str = "MEDIUM",
        *,
        start: bool = False,
    ) -> str:
        """See :meth:`Client.create_job`."""
        reply = await self._call(_create(workflow_id, inputs, priority, start))
        assert isinstance(reply, JobCreated)
        return reply.job_id

    async def _status(self, command: Message) -> JobStatus:
        reply = await self._call(command)
        assert isinstance(reply, Ack)
        return JobStatus(reply.status)

    async def start_job(self, job_id: str) -> JobStatus:
        """See :meth:`Client.start_job`."""
        return await self._status(StartJob(job_id))

    async def pause_job(self, job_id: str) -> JobStatus:
        """See :meth:`Client.pause_job`."""
        return await self._status(PauseJob(job_id))

    async def resume_job(self, job_id: str) -> JobStatus:
        """See :meth:`Client.resume_job`."""
        return await self._status(ResumeJob(job_id))

    async def cancel_job(self, job_id: str, force: bool = False) -> JobStatus:
        """See :meth:`Client.cancel_job`."""
        return await self._status(CancelJob(job_id, force))

    async def signal(self, job_id: str, name: str, payload: Any = None) -> JobStatus:
        """See :meth:`Client.signal`."""
        return await self._status(SignalJob(job_id, name, payload))

    async def retry_job(self, job_id: str) -> JobStatus:
        """See :meth:`Client.retry_job`."""
        return await self._status(RetryJob(job_id))

    async def get_job(self, job_id: str, outputs: bool = True) -> JobState:
        """See :meth:`Client.get_job`."""
        reply = await self._call(GetJob(job_id, outputs), read_only=True)
        assert isinstance(reply, JobReply)
        return reply.state

    async def wait(self, job_id: str, timeout: float | None = None) -> JobState:
        """See :meth:`Client.wait`."""
        command = Wait(job_id, timeout)
        reply = await self._call(command, read_only=True, timeout=_forever(timeout))
        assert isinstance(reply, JobReply)
        return reply.state

    async def run(
        self, workflow_id: str, inputs: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """See :meth:`Client.run`."""
        command = RunJob(workflow_id, dict(inputs or {}), timeout=timeout)
        reply = await self._call(command, timeout=_forever(timeout))
        assert isinstance(reply, JobReply)
        return _outputs(reply.state)

    async def list_jobs(
        self,
        status: JobStatus | str | None = None,
        workflow_id: str | None = None,
        *,
        limit: int | None = None,
        before: str | None = None,
    ) -> JobSummaries:
        """See :meth:`Client.list_jobs`."""
        reply = await self._call(_listing(status, workflow_id, limit, before), read_only=True)
        assert isinstance(reply, JobList)
        return JobSummaries(reply.jobs, reply.cursor)

    async def delete_job(self, job_id: str) -> None:
        """See :meth:`Client.delete_job`."""
        await self._call(DeleteJob(job_id))

    async def purge(
        self,
        older_than: float | datetime.timedelta | None = None,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
    ) -> int:
        """See :meth:`Client.purge`."""
        reply = await self._call(_purge(older_than, status))
        assert isinstance(reply, Purged)
        return reply.count

    async def describe(self, job_id: str) -> str:
        """See :meth:`Client.describe`."""
        reply = await self._call(Describe(job_id), read_only=True)
        assert isinstance(reply, Described)
        return reply.text

    async def health(self) -> HealthReply:
        """See :meth:`Client.health`."""
        reply = await self._call(Health(), read_only=True)
        assert isinstance(reply, HealthReply)
        return reply

    async def events(
        self, job_id: str | None = None, kinds: Iterable[str] | None = None
    ) -> AsyncIterator[EventNote]:
        """The daemon's events from now on; leaving the ``async for`` unsubscribes."""
        stream: asyncio.Queue[Any] = asyncio.Queue()
        request = self._send(Subscribe(job_id, tuple(kinds) if kinds else None), stream)
        try:
            while True:
                body = await stream.get()
                if body is _END:
                    return
                note = decode_trusted(body)
                if isinstance(note, EventNote):
                    yield note
        finally:
            self._streams.pop(request, None)
            with contextlib.suppress(ActorsWfError):
                self._send(Unsubscribe(request))
