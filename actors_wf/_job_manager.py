"""The JobManager facades: async (``engine.jobs``) and blocking (``engine.jobs_sync``).

Commands are message records encoded to bytes and sent to the
JobManagerActor; replies come back as bytes. Both faces build the same
messages and read the same replies (``_Commands``); they differ only in how
they wait. Awaiting never blocks the event loop: replies arrive through
:func:`await_reply` and job ends through ``asyncio.wrap_future``.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

import attrs
import pykka

from ._core._actor import NotifyingFuture, await_reply
from ._core._codec import decode_trusted, encode
from ._core._errors import EngineClosed, JobTimeout, SignalRefused, did_you_mean
from ._core._messages import (
    Ack,
    CancelJob,
    CreateJob,
    JobCreated,
    Message,
    PauseJob,
    ResumeJob,
    RetryJob,
    StartJob,
)
from ._core._records import JobState
from ._core._status import JobStatus
from ._core._types import parse_type
from ._runtime._job_manager_actor import priority_value
from ._state._manager import StateManager
from ._state._store import JobPage, MemoryStore

_T = TypeVar("_T")


class _Commands:
    """What both faces share: the messages, the replies, the reads."""

    def __init__(self, actor: pykka.ActorRef[Any], state: StateManager) -> None:
        self._actor = actor
        self._state = state

    def _send(self, message: Message | bytes) -> NotifyingFuture:
        data = message if isinstance(message, bytes) else encode(message)
        future = self._actor.ask(data, block=False)
        assert isinstance(future, NotifyingFuture)
        return future

    def call_bytes(self, message: Message | bytes, timeout: float | None = None) -> bytes:
        """Send a command (a record or its bytes) and block for the reply's bytes."""
        try:
            reply: bytes = self._send(message).get(timeout=timeout)
        except pykka.ActorDeadError:
            raise EngineClosed() from None
        except pykka.Timeout:
            what = "the command" if isinstance(message, bytes) else type(message).__name__
            raise TimeoutError(f"no reply to {what} within {timeout}s") from None
        return reply

    async def call_async(self, message: Message | bytes) -> bytes:
        """Send a command and await the reply's bytes without blocking the event loop."""
        try:
            reply: bytes = await await_reply(self._send(message))
        except pykka.ActorDeadError:
            raise EngineClosed() from None
        return reply

    def call_sync(self, message: Message, timeout: float | None = None) -> Message:
        """Send a command and block for its reply (for code with no event loop)."""
        return decode_trusted(self.call_bytes(message, timeout))

    def wait_sync(self, job_id: str, timeout: float | None = None) -> JobState:
        """Block until the job ends and return its final state (``JobManager.wait``, blocking)."""
        try:
            return self._state.watch(job_id).result(timeout)
        except TimeoutError:
            raise JobTimeout(job_id, timeout or 0.0, self._state.find(job_id)) from None

    @staticmethod
    def _create(
        workflow_id: str, inputs: dict[str, Any] | None, priority: int | str, start: bool
    ) -> CreateJob:
        priority_value(priority)  # a clear ValueError here, before any message
        return CreateJob(workflow_id, dict(inputs or {}), priority, start)

    @staticmethod
    def _job_id(reply: Message) -> str:
        assert isinstance(reply, JobCreated)
        return reply.job_id

    @staticmethod
    def _status(reply: Message) -> JobStatus:
        assert isinstance(reply, Ack)
        return JobStatus(reply.status)

    def signal_job(self, job_id: str, name: str, payload: Any = None) -> JobStatus:
        """Send a signal; blocking (see :meth:`JobManager.signal`)."""
        check_signal(self._state.get(job_id), name, payload)

        def add(state: JobState) -> JobState:
            if state.status.is_terminal:
                raise SignalRefused(job_id, name, f"the job has ended ({state.status.value})")
            kept = {**state.signals, name: [*state.signals.get(name, ()), payload]}
            return attrs.evolve(state, signals=kept)

        # Through the job's one writer: its JobActor when it runs, the store when it rests.
        return self._state.update_state(job_id, add).status


def check_signal(job: JobState, name: str, payload: Any) -> None:
    """A step of the job's workflow waits for ``name`` and takes ``payload``'s type.

    Raises:
        SignalRefused: no such signal in the workflow, or a payload of the wrong type.
    """
    waits = {s.id: s.wait_for for s in job.workflow.steps if s.wait_for is not None}
    names = {w.signal for w in waits.values()}
    if name not in names:
        known = ", ".join(sorted(names)) or "none: no step waits for a signal"
        raise SignalRefused(
            job.job_id,
            name,
            f"no step of workflow {job.workflow_id!r} waits for it{did_you_mean(name, names)};"
            f" its signals: {known}",
        )
    for step_id, wait_for in waits.items():
        if wait_for.signal == name:
            problem = parse_type(wait_for.type).problem(payload, "the payload")
            if problem is not None:
                raise SignalRefused(job.job_id, name, f"{problem} (step {step_id!r})")


class JobManager(_Commands):
    """Create, start, pause, resume, cancel, retry and wait for jobs (``engine.jobs``).

    Every command is a coroutine that never blocks the event loop. A command
    a job cannot take raises :class:`InvalidTransition` listing the commands
    it can.
    """

    async def _call(self, message: Message) -> Message:
        try:
            reply = await await_reply(self._send(message))
        except pykka.ActorDeadError:
            raise EngineClosed() from None
        return decode_trusted(reply)

    async def create_job(
        self,
        workflow_id: str,
        inputs: dict[str, Any] | None = None,
        priority: int | str = "MEDIUM",
        *,
        start: bool = False,
    ) -> str:
        """Create a job of a registered workflow; it does not run until started.

        Args:
            workflow_id: a registered workflow's id.
            inputs: the job's inputs; checked strictly against the declared ones.
            priority: ``HIGH``, ``MEDIUM``, ``LOW`` or an int (larger runs first).
            start: queue it to run at once (one message, as ``start_job`` after).

        Returns:
            The new job's id.

        Raises:
            ComponentNotFound: no such workflow.
            WorkflowInvalid: the workflow has errors (nothing runs).
            InvalidInputs: the inputs do not match the declaration.
            ValueError: the priority is not one of the above.
        """
        return self._job_id(await self._call(self._create(workflow_id, inputs, priority, start)))

    async def start_job(self, job_id: str) -> JobStatus:
        """Queue a created job to run.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job was started already or has ended.
        """
        return self._status(await self._call(StartJob(job_id)))

    async def pause_job(self, job_id: str) -> JobStatus:
        """Pause: no new step starts and no retry fires; running steps finish.

        Returns:
            ``PAUSING`` while steps still run (then ``PAUSED``), or ``PAUSED``.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job cannot be paused (it has ended, say).
        """
        return self._status(await self._call(PauseJob(job_id)))

    async def resume_job(self, job_id: str) -> JobStatus:
        """Resume a paused job where it stopped.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job is not paused.
        """
        return self._status(await self._call(ResumeJob(job_id)))

    async def cancel_job(self, job_id: str, force: bool = False) -> JobStatus:
        """Cancel a job; cancelling twice is harmless.

        Running steps are asked to stop, and forced after the grace period (at
        once with ``force``).

        Returns:
            The job's status after the command (``CANCELLING`` while steps stop).

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job has completed or failed already.
        """
        return self._status(await self._call(CancelJob(job_id, force)))

    async def retry_job(self, job_id: str) -> JobStatus:
        """Run a FAILED job again from its failed steps, keeping what succeeded.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job has not failed.
        """
        return self._status(await self._call(RetryJob(job_id)))

    async def get_job(self, job_id: str, outputs: bool = True) -> JobState:
        """The job's current state, from the state store (never waits on an actor).

        A SQLite read runs in a thread, so the event loop never waits on the
        disk; a memory store is read at once.

        Args:
            job_id: the job.
            outputs: ``False`` leaves the job's and its steps' outputs out (``None``).

        Raises:
            JobNotFound: no such job.
        """
        state = await self._read(self._state.get, job_id)
        return state if outputs else state.without_outputs()

    async def list_jobs(
        self,
        status: JobStatus | str | None = None,
        workflow_id: str | None = None,
        *,
        limit: int | None = None,
        before: str | None = None,
    ) -> builtins.list[JobState]:
        """Jobs of one status and/or one workflow, as ``jobs_sync.list_jobs``, awaited.

        Raises:
            ValueError: ``status`` is not a job status, or ``before`` is not a cursor.
        """
        return await self._read(
            self._state.list_jobs, status, workflow_id, limit=limit, before=before
        )

    async def _read(self, read: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        if isinstance(self._state.store, MemoryStore):
            return read(*args, **kwargs)
        return await asyncio.to_thread(read, *args, **kwargs)

    async def signal(self, job_id: str, name: str, payload: Any = None) -> JobStatus:
        """Send a signal to a job: a step waiting for ``name`` gets ``payload`` as its output.

        A signal sent before any step waits for it is kept with the job,
        durably, and the first step that comes to wait for it takes it.
        Returns the job's status.

        Raises:
            JobNotFound: no such job.
            SignalRefused: no step of the workflow waits for that signal, the
                payload does not fit the declared type, or the job has ended.
        """
        return await asyncio.to_thread(self.signal_job, job_id, name, payload)

    async def iter_jobs(
        self,
        status: JobStatus | str | None = None,
        workflow_id: str | None = None,
        *,
        page: int = 100,
    ) -> AsyncIterator[JobState]:
        """Every job of one status and/or workflow, newest first, a page at a time.

        Each page is one indexed query, read in a thread: the event loop never waits on it.
        """
        before = None
        while True:
            jobs = await asyncio.to_thread(
                self._state.list_jobs, status, workflow_id, limit=page, before=before
            )
            for job in jobs:
                yield job
            before = jobs.cursor if isinstance(jobs, JobPage) else None
            if before is None:
                return

    async def delete_job(self, job_id: str) -> None:
        """Delete a finished job with its journal and outputs (one transaction).

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job has not finished.
        """
        await asyncio.to_thread(self._state.delete_job, job_id)

    async def purge(
        self,
        older_than: float | datetime.timedelta | None = None,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
    ) -> int:
        """Delete finished jobs, in small transactions; return how many.

        Args:
            older_than: only jobs that finished at least this long ago (seconds
                or a ``timedelta``); ``0`` or ``None``: every finished job.
            status: only jobs of this (finished) status, or these.

        Raises:
            ValueError: a status that is not a finished one.
        """
        return await asyncio.to_thread(self._state.purge, older_than, status)

    async def wait(self, job_id: str, timeout: float | None = None) -> JobState:
        """Wait until the job ends and return its final state.

        Raises:
            JobNotFound: no such job.
            JobTimeout: it did not end within ``timeout`` seconds (a ``TimeoutError``).
            EngineClosed: the engine closed first.
        """
        future = asyncio.wrap_future(self._state.watch(job_id))
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise JobTimeout(job_id, timeout or 0.0, self._state.find(job_id)) from None


class JobManagerSync(_Commands):
    """The same commands as :class:`JobManager`, blocking (``engine.jobs_sync``).

    For code with no event loop; every method behaves as its async twin.
    """

    def get_job(self, job_id: str, outputs: bool = True) -> JobState:
        """The job's current state (read from the state store; never waits on an actor).

        Args:
            job_id: the job.
            outputs: ``False`` leaves the job's and its steps' outputs out (``None``).

        Raises:
            JobNotFound: no such job.
        """
        state = self._state.get(job_id)
        return state if outputs else state.without_outputs()

    def list_jobs(
        self,
        status: JobStatus | str | None = None,
        workflow_id: str | None = None,
        *,
        limit: int | None = None,
        before: str | None = None,
    ) -> builtins.list[JobState]:
        """Jobs of one status and/or one workflow (never waits on an actor; blocking).

        Without ``limit``, every one, oldest first: it reads the whole store,
        which is fine for scripts and small stores. With ``limit`` (a daemon's
        way), a :class:`JobPage` of at most that many, newest first, from one
        indexed query; pass its ``cursor`` as ``before`` for the next page.

        Raises:
            ValueError: ``status`` is not a job status, or ``before`` is not a cursor.
        """
        return self._state.list_jobs(status, workflow_id, limit=limit, before=before)

    def signal(self, job_id: str, name: str, payload: Any = None) -> JobStatus:
        """Send a signal (see :meth:`JobManager.signal`), blocking."""
        return self.signal_job(job_id, name, payload)

    def create_job(
        self,
        workflow_id: str,
        inputs: dict[str, Any] | None = None,
        priority: int | str = "MEDIUM",
        *,
        start: bool = False,
    ) -> str:
        """See :meth:`JobManager.create_job`."""
        return self._job_id(self.call_sync(self._create(workflow_id, inputs, priority, start)))

    def start_job(self, job_id: str) -> JobStatus:
        """See :meth:`JobManager.start_job`."""
        return self._status(self.call_sync(StartJob(job_id)))

    def pause_job(self, job_id: str) -> JobStatus:
        """See :meth:`JobManager.pause_job`."""
        return self._status(self.call_sync(PauseJob(job_id)))

    def resume_job(self, job_id: str) -> JobStatus:
        """See :meth:`JobManager.resume_job`."""
        return self._status(self.call_sync(ResumeJob(job_id)))

    def cancel_job(self, job_id: str, force: bool = False) -> JobStatus:
        """See :meth:`JobManager.cancel_job`."""
        return self._status(self.call_sync(CancelJob(job_id, force)))

    def retry_job(self, job_id: str) -> JobStatus:
        """See :meth:`JobManager.retry_job`."""
        return self._status(self.call_sync(RetryJob(job_id)))

    def wait(self, job_id: str, timeout: float | None = None) -> JobState:
        """See :meth:`JobManager.wait`."""
        return self.wait_sync(job_id, timeout)

    def delete_job(self, job_id: str) -> None:
        """See :meth:`JobManager.delete_job`."""
        self._state.delete_job(job_id)

    def purge(
        self,
        older_than: float | datetime.timedelta | None = None,
        status: JobStatus | str | Iterable[JobStatus | str] | None = None,
    ) -> int:
        """See :meth:`JobManager.purge`."""
        return self._state.purge(older_than, status)
