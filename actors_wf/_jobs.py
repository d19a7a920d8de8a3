"""The JobManager facade: async commands to the JobManagerActor, and job queries.

Commands are message records encoded to bytes and sent to the actor; replies
come back as bytes. Awaiting never blocks the event loop: replies arrive
through :func:`await_reply` and job ends through ``asyncio.wrap_future``.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import Any

import pykka

from ._actor import NotifyingFuture, await_reply
from ._codec import decode, encode
from ._errors import EngineClosed, JobTimeout
from ._messages import Ack, CancelJob, CreateJob, JobCreated, Message, StartJob
from ._records import JobState
from ._runtime._job_manager import priority_value
from ._state._manager import StateManager
from ._status import JobStatus


class JobManager:
    """Create, start, cancel and wait for jobs (``engine.jobs``).

    Every command is a coroutine that never blocks the event loop.
    """

    def __init__(self, actor: pykka.ActorRef[Any], state: StateManager) -> None:
        self._actor = actor
        self._state = state

    def _send(self, message: Message) -> NotifyingFuture:
        try:
            future = self._actor.ask(encode(message), block=False)
        except pykka.ActorDeadError:  # pragma: no cover - ask() sets it on the future instead
            raise EngineClosed() from None
        assert isinstance(future, NotifyingFuture)
        return future

    async def _call(self, message: Message) -> Message:
        try:
            reply = await await_reply(self._send(message))
        except pykka.ActorDeadError:
            raise EngineClosed() from None
        return decode(reply)

    def call_sync(self, message: Message, timeout: float | None = None) -> Message:
        """Send a command and block for its reply (for code with no event loop)."""
        try:
            reply = self._send(message).get(timeout=timeout)
        except pykka.ActorDeadError:
            raise EngineClosed() from None
        except pykka.Timeout:
            raise TimeoutError(f"no reply to {type(message).__name__} within {timeout}s") from None
        return decode(reply)

    def wait_sync(self, job_id: str, timeout: float | None = None) -> JobState:
        """Block until the job ends and return its final state (see :meth:`wait`)."""
        try:
            return self._state.watch(job_id).result(timeout)
        except TimeoutError:
            raise JobTimeout(job_id, timeout or 0.0, self._state.find(job_id)) from None

    async def create_job(
        self,
        workflow_id: str,
        inputs: dict[str, Any] | None = None,
        priority: int | str = "MEDIUM",
    ) -> str:
        """Create a job of a registered workflow; it does not run until started.

        Args:
            workflow_id: a registered workflow's id.
            inputs: the job's inputs; checked strictly against the declared ones.
            priority: ``HIGH``, ``MEDIUM``, ``LOW`` or an int (larger runs first).

        Returns:
            The new job's id.

        Raises:
            ComponentNotFound: no such workflow.
            InvalidInputs: the inputs do not match the declaration.
            ValueError: the priority is not one of the above.
        """
        priority_value(priority)
        reply = await self._call(CreateJob(workflow_id, dict(inputs or {}), priority))
        assert isinstance(reply, JobCreated)
        return reply.job_id

    async def start_job(self, job_id: str) -> JobStatus:
        """Queue a created job to run.

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job was started already or has ended.
        """
        reply = await self._call(StartJob(job_id))
        assert isinstance(reply, Ack)
        return JobStatus(reply.status)

    async def cancel_job(self, job_id: str, force: bool = False) -> JobStatus:
        """Cancel a job; running steps are asked to stop. Cancelling twice is harmless.

        Returns:
            The job's status after the command (``CANCELLING`` while steps stop).

        Raises:
            JobNotFound: no such job.
            InvalidTransition: the job has completed or failed already.
        """
        reply = await self._call(CancelJob(job_id, force))
        assert isinstance(reply, Ack)
        return JobStatus(reply.status)

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

    def get_job(self, job_id: str) -> JobState:
        """The job's current state (never blocks on the actors).

        Raises:
            JobNotFound: no such job.
        """
        return self._state.get(job_id)

    def list_jobs(self) -> builtins.list[JobState]:
        """Every job's current state, oldest first."""
        return self._state.list_jobs()
