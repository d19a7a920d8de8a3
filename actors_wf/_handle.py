"""Commands as msgpack bytes in, replies as msgpack bytes out: ``engine.handle``.

One codec and one set of error codes for every caller that speaks bytes
(``engine.handle`` in the process, a control socket outside it).
"""

from __future__ import annotations

from collections.abc import Callable

from ._core._codec import decode, encode
from ._core._errors import ActorsWfError, MessageError
from ._core._messages import (
    Ack,
    CancelJob,
    CreateJob,
    DeleteJob,
    ErrorReply,
    GetJob,
    ListJobs,
    PauseJob,
    Purged,
    PurgeJobs,
    ResumeJob,
    RetryJob,
    StartJob,
)
from ._job_manager import JobManager
from ._state._manager import StateManager

# The commands a caller may send; the engine's own messages are not among them.
COMMANDS = (
    CreateJob,
    StartJob,
    PauseJob,
    ResumeJob,
    CancelJob,
    RetryJob,
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
        """The reply to ``message`` (see ``Engine.handle``)."""
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
        try:
            self._check_open()
            if isinstance(command, DeleteJob):
                self._state.delete_job(command.job_id)
                return encode(Ack(command.job_id, "DELETED"))
            if isinstance(command, PurgeJobs):
                return encode(Purged(self._state.purge(command.older_than, command.status)))
            # The checked bytes go on as they came; the actor's reply bytes go back.
            reply = self._jobs.call_bytes(message, timeout=self._timeout)
            if len(reply) > MAX_MESSAGE:
                hint = "; ask with outputs=false" if isinstance(command, GetJob) else ""
                return error_reply(
                    "too_large",
                    f"the reply has {len(reply):,} bytes; the limit is {MAX_MESSAGE:,}{hint}",
                )
            return reply
        except ActorsWfError as exc:
            return error_reply(exc.code, str(exc))
        except TimeoutError as exc:
            return error_reply("timeout", str(exc))
        except (ValueError, TypeError, LookupError) as exc:
            return error_reply("invalid", str(exc))


def error_reply(code: str, message: str) -> bytes:
    """An ``error`` reply with a stable ``code`` and a message for people."""
    return encode(ErrorReply(code, message))
