"""Clients of a daemon's control socket (``actors-wf serve``): the commands of ``engine.jobs``.

Requests go out as frames ``[request id, command bytes]`` (see ``_server``);
no thread of its own reads the replies: a caller that waits reads the socket
and hands each reply to whoever waits for it, so several threads can share
one client. A refusal comes back as the same
exception class an engine in the process raises.
"""

from __future__ import annotations

import contextlib
import datetime
import itertools
import os
import queue
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import Any

import msgpack

from ._core import _errors
from ._core._codec import converter, decode_trusted, encode
from ._core._errors import (
    ActorsWfError,
    EngineUnavailable,
    JobCancelled,
    JobFailed,
    WorkflowInvalid,
)
from ._core._messages import (
    Ack,
    CancelJob,
    CreateJob,
    DeleteJob,
    Describe,
    Described,
    ErrorReply,
    EventNote,
    GetJob,
    Health,
    HealthReply,
    JobCreated,
    JobList,
    JobReply,
    JobSummary,
    ListJobs,
    Message,
    PauseJob,
    Purged,
    PurgeJobs,
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
from ._validation._problems import Problem, ValidationResult
from ._validation._report import text_report

_HEADER = struct.Struct(">I")
_END = object()  # the connection ended: no more events
_DEFAULT = object()  # a call's reply limit: the client's timeout


class Client:
    """Drive the engine of a daemon over its control socket; blocking, thread-safe.

    Args:
        socket_path: the daemon's socket; ``ACTORS_WF_SOCKET`` by default.
        timeout: seconds a command waits for its reply.
        reconnect: seconds a read-only call (``get_job``, ``wait``,
            ``list_jobs``, ``describe``, ``health``) keeps trying to reach a
            daemon that went away (a restart); commands that change a job are
            never sent twice behind the caller's back.

    Raises:
        EngineUnavailable: no daemon answers on the socket.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        timeout: float = 30.0,
        reconnect: float = 10.0,
    ) -> None:
        path = socket_path or os.environ.get("ACTORS_WF_SOCKET")
        if not path:
            raise EngineUnavailable("no socket given, and ACTORS_WF_SOCKET is not set")
        self.path = os.fspath(path)
        self.timeout = timeout
        self.reconnect = reconnect
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._pending: dict[int, Future[bytes]] = {}
        self._streams: dict[int, queue.SimpleQueue[Any]] = {}
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._reading = threading.Lock()  # held by the thread reading the socket now
        self._turn = threading.Condition()  # a reply came, or the reader let go
        self._connect()

    # -- the connection ----------------------------------------------------------------

    def _connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise EngineUnavailable(f"no daemon answers on {self.path}: {exc.strerror}") from None
        self._buffer = bytearray()
        self._sock = sock

    def _await(self, done: Callable[[], bool], timeout: float | None) -> bool:
        """Wait until ``done()``; ``False`` on timeout.

        No thread of its own reads the socket: a thread that waits reads it
        while no other does (and hands each reply to whoever waits for it),
        so a reply reaches its caller without a hop between threads.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while not done():
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if self._reading.acquire(blocking=False):
                try:
                    if not done():
                        self._read_some(left)
                finally:
                    with self._turn:
                        self._reading.release()
                        self._turn.notify_all()
            else:
                with self._turn:
                    if not done() and self._reading.locked():
                        self._turn.wait(left)
        return True

    def _read_some(self, timeout: float | None) -> None:
        """Read what the socket has (waiting up to ``timeout``) and deliver whole frames."""
        sock = self._sock
        if sock is None:
            return
        try:
            readable, _, _ = select.select([sock], [], [], timeout)
            if not readable:
                return
            data = sock.recv(1 << 20)
        except (OSError, ValueError):
            data = b""
        if not data:
            self._lost(sock)
            return
        buffer = self._buffer
        buffer += data
        while len(buffer) >= _HEADER.size:
            size = _HEADER.unpack_from(buffer)[0]
            if len(buffer) < _HEADER.size + size:
                break
            request, body = msgpack.unpackb(bytes(buffer[_HEADER.size : _HEADER.size + size]))
            del buffer[: _HEADER.size + size]
            self._deliver(request, body)

    def _deliver(self, request: int, body: bytes) -> None:
        with self._lock:
            future = self._pending.pop(request, None)
            stream = self._streams.get(request)
        if future is not None:
            future.set_result(body)
        elif stream is not None:
            stream.put(body)
        with self._turn:
            self._turn.notify_all()

    def _lost(self, sock: socket.socket) -> None:
        with self._lock:
            if self._sock is sock:
                self._sock = None
            pending, self._pending = self._pending, {}
            streams, self._streams = self._streams, {}
        sock.close()
        lost = EngineUnavailable(f"the connection to {self.path} was lost")
        for future in pending.values():
            future.set_exception(lost)
        for stream in streams.values():
            stream.put(_END)
        with self._turn:
            self._turn.notify_all()

    def _send(
        self, command: Message, stream: queue.SimpleQueue[Any] | None = None
    ) -> tuple[int, Future[bytes]]:
        """Send ``command``: its request id and the future of its reply (a stream has none)."""
        request = next(self._ids)
        future: Future[bytes] = Future()
        body = encode(command)
        frame = msgpack.packb([request, body])
        with self._lock:
            sock = self._sock
            if sock is None:
                raise EngineUnavailable(f"not connected to {self.path}")
            if stream is None:
                self._pending[request] = future
            else:
                self._streams[request] = stream
            try:
                sock.sendall(_HEADER.pack(len(frame)) + frame)
                return request, future
            except OSError:
                self._pending.pop(request, None)
                self._streams.pop(request, None)
        self._lost(sock)  # the daemon is gone: the next call connects afresh
        raise EngineUnavailable(f"the connection to {self.path} was lost")

    def _call(
        self,
        command: Message,
        *,
        read_only: bool = False,
        timeout: float | object | None = _DEFAULT,
    ) -> Message:
        deadline = time.monotonic() + self.reconnect
        while True:
            try:
                if self._sock is None:
                    self._connect()
                _, future = self._send(command)
                if not self._await(future.done, _limit(timeout, self.timeout)):
                    raise TimeoutError
                body = future.result(0)
                break
            except EngineUnavailable:
                if not read_only or time.monotonic() >= deadline:
                    raise
                time.sleep(_RETRY)  # the daemon restarts: try its socket again shortly
            except TimeoutError:
                raise EngineUnavailable(
                    f"no reply from {self.path} within {self.timeout:g}s"
                ) from None
        return _answer(body)

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            self._lost(sock)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the commands ------------------------------------------------------------------

    def create_job(
        self,
        workflow_id: str,
        inputs: dict[str, Any] | None = None,
        priority: int | str = "MEDIUM",
        *,
        start: bool = False,
    ) -> str:
        """Create a job of a workflow the daemon knows (queued at once with ``start``)."""
        reply = self._call(_create(workflow_id, inputs, priority, start))
        assert isinstance(reply, JobCreated)
        return reply.job_id

    def start_job(self, job_id: str) -> JobStatus:
        """Queue a created job."""
        return self._status(StartJob(job_id))

    def pause_job(self, job_id: str) -> JobStatus:
        """Pause a job (``PAUSING`` while its steps finish)."""
        return self._status(PauseJob(job_id))

    def resume_job(self, job_id: str) -> JobStatus:
        """Resume a paused job."""
        return self._status(ResumeJob(job_id))

    def cancel_job(self, job_id: str, force: bool = False) -> JobStatus:
        """Cancel a job; ``force`` skips the grace period."""
        return self._status(CancelJob(job_id, force))

    def signal(self, job_id: str, name: str, payload: Any = None) -> JobStatus:
        """Send a signal to a job (see ``engine.jobs.signal``); kept until a step waits for it."""
        return self._status(SignalJob(job_id, name, payload))

    def retry_job(self, job_id: str) -> JobStatus:
        """Run a FAILED job again from its failed steps."""
        return self._status(RetryJob(job_id))

    def _status(self, command: Message) -> JobStatus:
        reply = self._call(command)
        assert isinstance(reply, Ack)
        return JobStatus(reply.status)

    def get_job(self, job_id: str, outputs: bool = True) -> JobState:
        """The job's state (``outputs=False``: without its outputs)."""
        reply = self._call(GetJob(job_id, outputs), read_only=True)
        assert isinstance(reply, JobReply)
        return reply.state

    def wait(self, job_id: str, timeout: float | None = None) -> JobState:
        """Wait until the job ends (across a restart of the daemon) and return its state.

        Raises:
            JobTimeout: it did not end within ``timeout`` seconds.
        """
        reply = self._call(Wait(job_id, timeout), read_only=True, timeout=_forever(timeout))
        assert isinstance(reply, JobReply)
        return reply.state

    def run(
        self, workflow_id: str, inputs: dict[str, Any] | None = None, timeout: float | None = None
    ) -> dict[str, Any]:
        """Run a job to its end and return its outputs.

        Raises:
            JobFailed: carrying the failing step's error.
            JobCancelled: the job was cancelled meanwhile.
            JobTimeout: it did not end within ``timeout`` seconds.
        """
        command = RunJob(workflow_id, dict(inputs or {}), timeout=timeout)
        reply = self._call(command, timeout=_forever(timeout))
        assert isinstance(reply, JobReply)
        return _outputs(reply.state)

    def list_jobs(
        self,
        status: JobStatus | str | None = None,
        workflow_id: str | None = None,
        *,
        limit: int | None = None,
        before: str | None = None,
    ) -> JobSummaries:
        """Summaries of jobs: every one, oldest first, or (``limit``) a page, newest first."""
        reply = self._call(_listing(status, workflow_id, limit, before), read_only=True)
        assert isinstance(reply, JobList)
        return JobSummaries(reply.jobs, reply.cursor)

    def delete_job(self, job_id: str) -> None:
        """Delete a finished job with its journal and outputs."""
        self._call(DeleteJob(job_id))

    def purge(
        self,
        older_than: float | datetime.timedelta | None = None,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
    ) -> int:
        """Delete finished jobs; return how many."""
        reply = self._call(_purge(older_than, status))
        assert isinstance(reply, Purged)
        return reply.count

    def describe(self, job_id: str) -> str:
        """A readable dump of the job (``actors-wf inspect``'s)."""
        reply = self._call(Describe(job_id), read_only=True)
        assert isinstance(reply, Described)
        return reply.text

    def health(self) -> HealthReply:
        """The daemon's version, uptime, store, jobs by status and store owner."""
        reply = self._call(Health(), read_only=True)
        assert isinstance(reply, HealthReply)
        return reply

    def events(self, job_id: str | None = None, kinds: Iterable[str] | None = None) -> EventStream:
        """The daemon's lifecycle events from now on (of one job, of some kinds).

        Subscribed when this returns, so nothing that happens next is missed.
        The stream ends when the connection does; ``close()`` (or a ``with``
        block) unsubscribes.
        """
        return EventStream(self, Subscribe(job_id, tuple(kinds) if kinds else None))


class EventStream:
    """An iterator of :class:`EventNote` from a daemon; a context manager that unsubscribes."""

    def __init__(self, client: Client, subscribe: Subscribe) -> None:
        self._client = client
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._request, _ = client._send(subscribe, self._queue)
        self._closed = False

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> EventNote:
        while not self._closed:
            self._client._await(self._arrived, None)
            body = self._queue.get()
            if body is _END:
                self._closed = True
                break
            note = decode_trusted(body)
            if isinstance(note, EventNote):
                return note
        raise StopIteration

    def get(self, timeout: float | None = None) -> EventNote | None:
        """The next event, or ``None`` after ``timeout`` seconds or at the end of the stream."""
        if not self._client._await(self._arrived, timeout):
            return None
        body = self._queue.get()
        if body is _END:
            self._closed = True
            return None
        note = decode_trusted(body)
        return note if isinstance(note, EventNote) else None

    def _arrived(self) -> bool:
        return not self._queue.empty()

    def close(self) -> None:
        """Unsubscribe."""
        if self._closed:
            return
        self._closed = True
        with self._client._lock:
            self._client._streams.pop(self._request, None)
        with contextlib.suppress(ActorsWfError):
            self._client._send(Unsubscribe(self._request))

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class JobSummaries(list[JobSummary]):
    """Job summaries from :meth:`Client.list_jobs`, with the ``cursor`` to the next page."""

    def __init__(self, jobs: Iterable[JobSummary] = (), cursor: str | None = None) -> None:
        super().__init__(jobs)
        self.cursor = cursor


def remote_error(reply: ErrorReply) -> ActorsWfError:
    """The exception an engine in this process would have raised, carrying the reply's message."""
    if reply.code == WorkflowInvalid.code and reply.data is not None:
        problems = tuple(converter.structure(p, Problem) for p in reply.data["problems"])
        result = ValidationResult(
            reply.data.get("workflow_id"), problems, reply.data.get("source_name", "<dict>")
        )
        return WorkflowInvalid(result, text_report(result, color=False))
    cls = _BY_CODE.get(reply.code, ActorsWfError)
    error = cls.__new__(cls)
    Exception.__init__(error, reply.message)
    return error


def _errors_by_code() -> dict[str, type[ActorsWfError]]:
    found: dict[str, type[ActorsWfError]] = {}
    for value in vars(_errors).values():
        if isinstance(value, type) and issubclass(value, ActorsWfError):
            code = getattr(value, "code", None)
            if isinstance(code, str):
                found.setdefault(code, value)  # the first, the most general, of a shared code
    return found


def _answer(body: bytes) -> Message:
    """A reply from the daemon (its own encoding: trusted), or the error it carries, raised."""
    reply = decode_trusted(body)
    if isinstance(reply, ErrorReply):
        raise remote_error(reply)
    return reply


def _create(
    workflow_id: str, inputs: dict[str, Any] | None, priority: int | str, start: bool
) -> CreateJob:
    return CreateJob(workflow_id, dict(inputs or {}), priority, start)


def _listing(
    status: JobStatus | str | None, workflow_id: str | None, limit: int | None, before: str | None
) -> ListJobs:
    wanted = JobStatus(status).value if status is not None else None
    return ListJobs(wanted, workflow_id, limit, before)


def _outputs(state: JobState) -> dict[str, Any]:
    """A finished job's outputs, or the error ``Engine.run`` raises."""
    if state.status is JobStatus.COMPLETED:
        return dict(state.outputs or {})
    if state.status is JobStatus.CANCELLED or state.error is None:
        raise JobCancelled(state.job_id)
    raise JobFailed(state.job_id, state.error)


def _purge(
    older_than: float | datetime.timedelta | None,
    status: JobStatus | str | Iterable[JobStatus | str] | None,
) -> PurgeJobs:
    age = older_than.total_seconds() if isinstance(older_than, datetime.timedelta) else older_than
    wanted = None
    if status is not None:
        many = [status] if isinstance(status, JobStatus | str) else list(status)
        wanted = tuple(JobStatus(s).value for s in many)
    return PurgeJobs(age, wanted)


def _limit(timeout: float | object | None, default: float) -> float | None:
    """A call's reply limit: the client's default, or one given (``None``: no limit)."""
    if timeout is _DEFAULT:
        return default
    assert timeout is None or isinstance(timeout, float | int)
    return timeout


def _forever(timeout: float | None) -> float | None:
    """How long the reply of a wait may take: its own timeout and a margin, or no limit."""
    return None if timeout is None else timeout + 5.0


_BY_CODE = _errors_by_code()
# Seconds between two tries to reach a daemon that went away.
_RETRY = 0.05
