"""Commands as msgpack bytes in, replies as msgpack bytes out: ``engine.handle``.

One codec and one set of error codes for every caller that speaks bytes
(``engine.handle`` in the process, a control socket outside it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from ._core._codec import converter, decode, encode
from ._core._errors import ActorsWfError, MessageError, WorkflowInvalid
from ._core._messages import (
    Ack,
    CancelJob,
    CreateJob,
    DeleteJob,
    ErrorReply,
    GetJob,
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
    SignalJob,
    StartJob,
)
from ._job_manager import JobManager
from ._state._manager import StateManager
from ._state._store import JobPage

# The commands a caller may send; the engine's own messages are not among them.
COMMANDS = (
    CreateJob,
    StartJob,
    PauseJob,
    ResumeJob,
    CancelJob,
    RetryJob,
    SignalJob,
    GetJob,
    ListJobs,
    DeleteJob,
    PurgeJobs,
)
# The largest message taken and reply given, in bytes.
MAX_MESSAGE = 16 * 1024 * 1024


class Handler:
    """Runs one command given as bytes and returns the reply as bytes; never raises."""

    def __init__(
        self,
        state: StateManager,
        jobs: JobManager,
        check_open: Callable[[], None],
        timeout: float,
    ) -> None:
        self._state = state
        self._jobs = jobs
        self._check_open = check_open
        self._timeout = timeout

    def __call__(self, message: bytes) -> bytes:
        """The reply to ``message`` (see ``Engine.handle``); blocks the caller."""
        command = self._check(message)
        if isinstance(command, bytes):
            return command
        try:
            local = self._local(command)
            if local is not None:
                return self._fits(command, local)
            # The checked bytes go on as they came; the actor's reply bytes go back.
            return self._fits(command, self._jobs.call_bytes(message, timeout=self._timeout))
        except Exception as exc:
            return refusal(exc)

    async def handle_async(self, message: bytes, command: Message | None = None) -> bytes:
        """The same reply, awaited: no thread waits for the actor (``Engine.handle_async``).

        ``command``: ``message`` decoded already (by the control socket).
        """
        checked = self._check(message) if command is None else command
        if isinstance(checked, bytes):
            return checked
        command = checked
        try:
            if isinstance(command, GetJob | ListJobs):  # reads: the store's cache, at once
                return self.read(command)
            if isinstance(command, DeleteJob | PurgeJobs | SignalJob):  # off the event loop
                local = await asyncio.to_thread(self._local, command)
                assert local is not None
                return local
            self._check_open()
            reply = await asyncio.wait_for(self._jobs.call_async(message), self._timeout)
            return self._fits(command, reply)
        except TimeoutError:
            return error_reply("timeout", f"no reply within {self._timeout:g}s")
        except Exception as exc:
            return refusal(exc)

    def _check(self, message: bytes) -> Message | bytes:
        """The command in ``message``, or the error reply that refuses it."""
        if len(message) > MAX_MESSAGE:
            return error_reply(
                "too_large",
                f"the message has {len(message):,} bytes; the limit is {MAX_MESSAGE:,}",
            )
        try:
            command = decode(message)
        except MessageError as exc:
            return error_reply(exc.code, str(exc))
        if not isinstance(command, COMMANDS):
            names = ", ".join(sorted(c.TAG for c in COMMANDS))
            return error_reply(
                "not_a_command", f"{type(command).TAG!r} is not a command; send one of: {names}"
            )
        return command

    def read(self, command: GetJob | ListJobs) -> bytes:
        """The reply to a read, from the store (raises what refuses it)."""
        local = self._local(command)
        assert local is not None
        return self._fits(command, local)

    def _local(self, command: Message) -> bytes | None:
        """Run the commands that go to the store, not to an actor, in the calling thread.

        Reads never wait on an actor (as ``engine.jobs_sync.get_job`` does not).
        """
        self._check_open()
        if isinstance(command, GetJob):
            state = self._state.get(command.job_id)
            return encode(JobReply(state if command.outputs else state.without_outputs()))
        if isinstance(command, ListJobs):
            jobs = self._state.list_jobs(
                command.status, command.workflow_id, limit=command.limit, before=command.before
            )
            summaries = tuple(
                JobSummary(j.job_id, j.workflow_id, j.status.value, j.priority, j.created_at)
                for j in jobs
            )
            return encode(JobList(summaries, jobs.cursor if isinstance(jobs, JobPage) else None))
        if isinstance(command, DeleteJob):
            self._state.delete_job(command.job_id)
            return encode(Ack(command.job_id, "DELETED"))
        if isinstance(command, PurgeJobs):
            return encode(Purged(self._state.purge(command.older_than, command.status)))
        if isinstance(command, SignalJob):
            status = self._jobs.signal_job(command.job_id, command.name, command.payload)
            return encode(Ack(command.job_id, status.value))
        return None

    @staticmethod
    def _fits(command: Message, reply: bytes) -> bytes:
        if len(reply) <= MAX_MESSAGE:
            return reply
        hint = "; ask with outputs=false" if isinstance(command, GetJob) else ""
        return error_reply(
            "too_large", f"the reply has {len(reply):,} bytes; the limit is {MAX_MESSAGE:,}{hint}"
        )


def refusal(exc: Exception) -> bytes:
    """The error reply for an exception a command raised (re-raised if it is not a refusal)."""
    if isinstance(exc, WorkflowInvalid):
        result = exc.result
        data = {
            "workflow_id": result.workflow_id,
            "source_name": result.source_name,
            "problems": [converter.unstructure(p) for p in result.problems],
        }
        return encode(ErrorReply(exc.code, str(exc), data))
    if isinstance(exc, ActorsWfError):
        return error_reply(exc.code, str(exc))
    if isinstance(exc, TimeoutError):
        return error_reply("timeout", str(exc))
    if isinstance(exc, ValueError | TypeError | LookupError):
        return error_reply("invalid", str(exc))
    raise exc


def error_reply(code: str, message: str) -> bytes:
    """An ``error`` reply with a stable ``code`` and a message for people."""
    return encode(ErrorReply(code, message))
