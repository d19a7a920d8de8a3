"""The Engine facade: wires the actors and services together and owns their lifetime."""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import logging
import os
import signal
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import attrs

from ._core._errors import (
    EngineClosed,
    JobCancelled,
    JobFailed,
    JobNotFound,
)
from ._core._messages import (
    CreateJob,
    Drain,
    Draining,
    JobCreated,
    JobsRecovered,
    RecoverJobs,
)
from ._core._spec import BUILT_IN_EXECUTORS
from ._core._status import JobStatus
from ._handle import Handler
from ._job_manager import JobManager, JobManagerSync
from ._observe._events import Event, EventBus
from ._observe._metrics import ExecutorMetrics, Metrics, MetricsRecorder
from ._observe._tracing import Tracer
from ._orchestrator import ComponentExecutor, Orchestrator
from ._registry._imports import import_components
from ._registry._registry import Registry, RegistryActor
from ._runtime._clock import Clock, SystemClock
from ._runtime._executor import AsyncExecutor, ThreadExecutor
from ._runtime._job_manager_actor import JobManagerActor
from ._runtime._pool import LoopThreads, StepActorPool
from ._runtime._process import AttemptLock, ProcessExecutor, WorkerPool
from ._runtime._resources import STEPS, Resources
from ._runtime._services import Services
from ._state._manager import StateManager
from ._state._retention import Retention
from ._state._sqlite import SQLiteStore, open_store
from ._state._store import Store
from ._validation._source import DEFAULT_LIMITS, WorkflowLimits
from ._validation._validator import Validator

log = logging.getLogger("actors_wf.engine")


class Engine:
    """An embedded workflow engine. Use it as a context manager.

    Leaving the ``with`` block (or :meth:`close`) stops every actor and thread
    the engine started. ``engine.registry`` holds components and workflows,
    ``engine.jobs`` runs jobs, ``engine.validator`` checks workflows and
    ``engine.state`` reads job states. Jobs still running are asked to stop; their waiters
    get :class:`EngineClosed`.

    Args:
        store: where job states are kept: memory by default, or a SQLite file
            (``"sqlite:///jobs.db"``, ``"sqlite:///jobs.db?durability=power"``
            or a path). A SQLite store is owned by one engine at a time: a
            second one gets :class:`StoreLocked` naming the owner.
        wait_for_store: seconds to wait for the store's owner to exit (a
            rolling restart) before :class:`StoreLocked`; 0 by default.
        components: module paths to import at start; their ``@component``
            declarations become available to this engine.
        recover: resume the unfinished jobs of the store at start (see
            :meth:`recover`): a daemon restarts with one line.
        max_concurrent_jobs: jobs running at once; more wait in the queue.
        max_concurrent_steps: step attempts running at once over all jobs
            (twice ``max_workers`` by default); more wait READY.
        resources: named capacities steps declare they hold while they run,
            e.g. ``{"db": 4, "gpu": 1}``.
        max_workers: threads that run component code.
        shutdown_timeout: seconds :meth:`close` waits for running components.
        cancel_grace: seconds a cancelled or timed-out attempt gets to stop
            on its own before it is forced (killed in process mode).
        clock: where time comes from (retries, timeouts); a
            :class:`ManualClock` makes tests of timing need no sleeps.
        tracing: make OpenTelemetry spans (a job, its step attempts) when
            ``opentelemetry-api`` is installed.
        tracer: an OpenTelemetry tracer to use instead of the global one.
        priority_aging: priority points a queued job gains per second it
            waits (0.1: a LOW job, 10, passes a MEDIUM one, 50, after 400 s).
        workflow_limits: how large a workflow source may be (bytes, values
            with aliases expanded, nesting, steps); past it, it is refused.
        retention: which finished jobs to delete, in the background (see
            :class:`Retention`). By default a SQLite store keeps every job
            (or follows ``?max_age=SECONDS&max_finished=N`` in its URL) and
            the memory store keeps the last 10,000 finished ones.
        job_ids: makes the id of each new job (a uuid4 hex by default); the
            ids must be unique in the store. ``actors_wf.testing.engine``
            uses it for ids a test can predict.
        executors: more places to run attempts, by name: a component with
            ``isolation: NAME`` runs there (``{"dask": DaskExecutor(...)}``).
            The engine closes them when it closes.

    Example::

        with Engine() as engine:
            engine.registry.register_workflow(path="hello.yaml")
            print(engine.run("hello", {"name": "Ada"}))
    """

    def __init__(
        self,
        *,
        store: Store | str | os.PathLike[str] | None = None,
        components: Iterable[str] = (),
        recover: bool = False,
        max_concurrent_jobs: int = 100,
        max_concurrent_steps: int | None = None,
        resources: Mapping[str, int] | None = None,
        max_workers: int = 32,
        shutdown_timeout: float = 10.0,
        cancel_grace: float = 5.0,
        clock: Clock | None = None,
        tracing: bool = True,
        tracer: Any = None,
        priority_aging: float = 0.1,
        workflow_limits: WorkflowLimits = DEFAULT_LIMITS,
        wait_for_store: float | None = None,
        retention: Retention | None = None,
        job_ids: Callable[[], str] | None = None,
        executors: Mapping[str, Any] | None = None,
    ) -> None:
        import_components(components)
        self._shutdown_timeout = shutdown_timeout
        self._command_timeout = 30.0
        self._closed = False
        self._closed_event = threading.Event()
        if retention is None and isinstance(store, str):
            retention = Retention.from_url(store)
        if isinstance(store, str | os.PathLike):
            store = open_store(store, wait_for_lease=wait_for_store)
        self.retention = retention
        self.state = StateManager(store)
        try:
            self._start(
                max_concurrent_jobs,
                max_concurrent_steps,
                resources,
                max_workers,
                cancel_grace,
                clock,
                tracer is not None or (tracing and Tracer.available()),
                tracer,
                priority_aging,
                workflow_limits,
                job_ids,
                executors,
            )
            if recover:
                self.recover()
            if retention is not None:
                self.clock.call_later(retention.interval, self._retain)
        except BaseException:
            self.close()  # what started stops: a failed start keeps nothing running
            raise
        _OPEN.add(self)
        log.debug("engine started")

    def _start(
        self,
        max_concurrent_jobs: int,
        max_concurrent_steps: int | None,
        resources: Mapping[str, int] | None,
        max_workers: int,
        cancel_grace: float,
        clock: Clock | None,
        traced: bool,
        tracer: Any,
        priority_aging: float,
        limits: WorkflowLimits,
        job_ids: Callable[[], str] | None,
        executors: Mapping[str, Any] | None,
    ) -> None:
        self._metrics = MetricsRecorder()
        self._events = EventBus(
            record=Tracer(tracer).record if traced else None, count=self._metrics.count_step
        )
        self._executor = ThreadExecutor(max_workers)
        self._asyncs = AsyncExecutor()
        self.clock: Clock = clock if clock is not None else SystemClock()
        store = self.state.store
        lock = AttemptLock(Path(f"{store.path}-lock")) if isinstance(store, SQLiteStore) else None
        self._workers = WorkerPool(max_idle=max_workers, lock=lock)
        self._registry_actor = RegistryActor.start()
        self.registry = Registry(self._registry_actor, limits=limits)
        step_slots = max_concurrent_steps or 2 * max_workers
        self._steps = StepActorPool(max_idle=step_slots)
        self._loops = LoopThreads(max_idle=max_concurrent_jobs)
        self.resources = Resources({**(resources or {}), STEPS: step_slots})
        self._executors = dict(executors or {})
        taken = BUILT_IN_EXECUTORS & set(self._executors)
        if taken:
            raise ValueError(f"executors: {sorted(taken)} name a built-in isolation mode")
        self.validator = Validator(
            self.registry, self.resources.capacity, limits, {*BUILT_IN_EXECUTORS, *self._executors}
        )
        self._services = Services(
            self.state,
            self.registry,
            self._executor,
            self._events,
            self._steps,
            self.validator,
            self.clock,
            cancel_grace,
            ProcessExecutor(self._executor, self._workers),
            self.resources,
            job_ids=job_ids,
            asyncs=self._asyncs,
            executors=self._executors,
            loops=self._loops,
        )
        self._manager = JobManagerActor.start(
            self._services, max_concurrent_jobs=max_concurrent_jobs, aging=priority_aging
        )
        self.jobs = JobManager(self._manager, self.state)
        self.jobs_sync = JobManagerSync(self._manager, self.state)
        self._handler = Handler(self.state, self.jobs, self._check_open, self._command_timeout)
        self.orchestrator = Orchestrator(self)
        self.component_executor = ComponentExecutor(self.orchestrator)

    def __enter__(self) -> Engine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call ``callback(event)`` for every lifecycle event, on a dispatcher thread.

        Returns:
            A function that unsubscribes.
        """
        return self._events.subscribe(callback)

    async def events(
        self, job_id: str | None = None, *, buffer: int = 1000
    ) -> AsyncIterator[Event]:
        """Lifecycle events as an async iterator (of one job, or all).

        ``async for event in engine.events(job_id): ...``; leave the loop to
        unsubscribe. The buffer is bounded: when the consumer falls behind,
        new events are dropped and counted in ``metrics().events_dropped``,
        and the engine never waits.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Event] = asyncio.Queue(buffer)

        def offer(event: Event) -> None:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._events.dropped += 1

        def push(event: Event) -> None:
            if job_id is None or event.job_id == job_id:
                with contextlib.suppress(RuntimeError):  # the loop has closed
                    loop.call_soon_threadsafe(offer, event)

        unsubscribe = self._events.subscribe(push)
        try:
            while True:
                yield await queue.get()
        finally:
            unsubscribe()

    def handle(self, message: bytes) -> bytes:
        """Take one command as msgpack bytes and return the reply as msgpack bytes.

        Commands: ``create_job``, ``start_job``, ``pause_job``, ``resume_job``,
        ``cancel_job``, ``retry_job``, ``get_job``, ``list_jobs``, ``delete_job``,
        ``purge_jobs`` (see docs/messages.md). Deletes run in the caller's
        thread, a batch per transaction, never holding up the job actors.
        Bad input of any kind (not msgpack, an unknown type, wrong fields, a
        missing job, a payload over 16 MiB) gets an ``error`` reply with a
        ``code`` and a ``message``; it never raises and never stops the engine.
        """
        return self._handler(message)

    async def handle_async(self, message: bytes) -> bytes:
        """:meth:`handle` for asyncio callers: the same replies, and the event loop never waits."""
        return await self._handler.handle_async(message)

    def metrics(self) -> Metrics:
        """The engine's figures now; ``.to_prometheus()`` gives them for a scrape.

        Jobs by status, step attempts by outcome and component, timing
        percentiles (p50/p95/p99) per component, throughput, the resources
        held and the jobs waiting for them, and on a SQLite store the saves
        written and the transactions they took.
        """
        figures = self._metrics.snapshot(self.state.counts(), self._events.dropped)
        # Counted where they ran (a step's executor: may override its component's
        # isolation); threads take the rest, so the hot path counts nothing.
        ran = {"process": self._services.processes.attempts if self._services.processes else 0}
        ran.update({name: getattr(e, "attempts", 0) for name, e in self._executors.items()})
        started = sum(counted.started for counted in figures.components.values())
        ran["thread"] = max(started - sum(ran.values()), 0)
        available = self.executors_available()
        executors = {name: ExecutorMetrics(n, available[name]) for name, n in ran.items()}
        commits, transactions = getattr(self.state.store, "commits", (None, None))
        return attrs.evolve(
            figures,
            executors=executors,
            store_commits=commits,
            store_transactions=transactions,
            resources_in_use=self.resources.in_use,
            resources_capacity=dict(self.resources.capacity),
            jobs_waiting_for_resources=self.resources.waiting,
        )

    def executors_available(self) -> dict[str, bool]:
        """Per executor name, whether it can run attempts now (a Dask one: is it connected)."""
        named = {name: bool(getattr(e, "available", True)) for name, e in self._executors.items()}
        return {**dict.fromkeys(sorted(BUILT_IN_EXECUTORS), True), **named}

    def run(
        self,
        workflow_id: str,
        inputs: dict[str, Any] | None = None,
        *,
        timeout: float | None = None,
        priority: int | str = "MEDIUM",
    ) -> dict[str, Any]:
        """Run a job to its end and return its outputs (blocking; for scripts).

        Raises:
            JobFailed: carrying the step, the error type, message and traceback.
            JobCancelled: the job was cancelled meanwhile.
            JobTimeout: it did not end within ``timeout`` seconds.
            ComponentNotFound, InvalidInputs: as ``create_job``.
        """
        self._check_open()
        message = CreateJob(workflow_id, dict(inputs or {}), priority, start=True)
        reply = self.jobs.call_sync(message)
        assert isinstance(reply, JobCreated)
        state = self.jobs.wait_sync(reply.job_id, timeout)
        if state.status is JobStatus.COMPLETED:
            return dict(state.outputs or {})
        if state.status is JobStatus.CANCELLED:
            raise JobCancelled(state.job_id)
        assert state.error is not None
        raise JobFailed(state.job_id, state.error)

    def recover(self) -> list[str]:
        """Resume every unfinished job in the store; return the ids of those queued again.

        Succeeded steps keep their outputs and are not run again; steps that
        were running when the last engine stopped are run again
        (at-least-once); paused jobs stay paused; a job whose components are
        no longer registered fails with that reason. Idempotent.
        """
        self._check_open()
        if self._workers.lock is not None:
            # No attempt of the last engine may still run beside one recovery starts.
            self._workers.lock.exclusive(RECOVER_WAIT)
        reply = self.jobs.call_sync(RecoverJobs())
        assert isinstance(reply, JobsRecovered)
        return list(reply.job_ids)

    def apply_retention(self) -> int:
        """Delete now every finished job the retention policy no longer keeps; return how many.

        The engine does this by itself every ``Retention.interval`` seconds,
        one batch at a time; this runs the policy to its end at once.
        """
        self._check_open()
        return self.state.retain(self.retention) if self.retention is not None else 0

    def _retain(self) -> None:
        """One batch of the retention policy (on the clock's thread), then the next run."""
        assert self.retention is not None
        if self._closed:
            return
        try:
            deleted = self.state.retain(self.retention, max_batches=1)
        except Exception as exc:  # a store that cannot be written: the next run tries again
            log.warning("retention: %s", exc)
            deleted = 0
        if deleted:
            log.info("retention: deleted %d finished job(s)", deleted)
        more = deleted >= self.retention.batch
        if not self._closed:
            self.clock.call_later(_NEXT_BATCH if more else self.retention.interval, self._retain)

    def _check_open(self) -> None:
        if self._closed:
            raise EngineClosed()

    def close(self, timeout: float | None = None, *, drain: float | None = None) -> None:
        """Stop every actor, thread and worker process of this engine; safe to call twice.

        Args:
            timeout: seconds to wait for running components (``shutdown_timeout``
                by default). An engine still open when the interpreter exits is
                closed by an ``atexit`` hook with a short wait
                (:data:`EXIT_TIMEOUT` seconds).
            drain: first let running jobs finish, for up to this many seconds,
                starting no queued job (they stay QUEUED in the store). What
                still runs then is stopped and stays RUNNING in the store, so
                that the next engine's ``recover`` runs it on.
        """
        if self._closed:
            return
        if drain is not None and "_manager" in vars(self):
            self._drain(drain)
        self._closed = True
        _OPEN.discard(self)
        parts = vars(self)  # a start that failed half-way stops what it had started
        if "_manager" in parts:
            self._manager.stop(block=True)  # its JobActors with it
        if "_loops" in parts:
            self._loops.close()
        if "clock" in parts:
            self.clock.close()
        if "_workers" in parts:
            self._workers.close()  # kills attempts still running in processes
        for executor in parts.get("_executors", {}).values():
            executor.close()  # what the engine was given, it closes (a DaskExecutor's cluster)
        if "_executor" in parts:
            self._executor.shutdown(self._shutdown_timeout if timeout is None else timeout)
            self._asyncs.shutdown(self._shutdown_timeout if timeout is None else timeout)
        if "_steps" in parts:
            self._steps.close()
        if "_registry_actor" in parts:
            self._registry_actor.stop(block=True)
        self.state.close()
        if "_events" in parts:
            self._events.close()
        self._closed_event.set()
        log.debug("engine closed")

    def _drain(self, seconds: float) -> None:
        try:
            reply = self.jobs.call_sync(Drain(), timeout=self._command_timeout)
        except (EngineClosed, TimeoutError):
            return
        assert isinstance(reply, Draining)
        waits = []
        for job_id in reply.job_ids:
            with contextlib.suppress(JobNotFound):
                waits.append(self.state.watch(job_id))
        log.info("draining: waiting up to %gs for %d running job(s)", seconds, len(waits))
        _, left = concurrent.futures.wait(waits, timeout=seconds)
        if left:
            log.warning("drained for %gs: %d job(s) still running are stopped", seconds, len(left))

    def install_signal_handlers(self, drain: float = 30.0) -> None:
        """Make SIGTERM and SIGINT close this engine with ``drain`` (call from the main thread).

        The close runs in a thread of its own; :meth:`wait_closed` waits for
        it. A daemon's main loop is then ``engine.wait_closed()``.
        """

        def on_signal(signum: int, frame: Any) -> None:
            log.info("%s: closing, draining for up to %gs", signal.Signals(signum).name, drain)
            threading.Thread(
                target=self.close, kwargs={"drain": drain}, name="actors-wf-drain"
            ).start()

        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, on_signal)

    def wait_closed(self, timeout: float | None = None) -> bool:
        """Block until the engine has closed (by a signal, say); ``False`` on timeout."""
        return self._closed_event.wait(timeout)


# Engines not closed yet: the interpreter's exit closes them (their threads are daemons).
_OPEN: weakref.WeakSet[Engine] = weakref.WeakSet()
EXIT_TIMEOUT = 2.0
# Seconds a recovery waits for the processes of the store's last engine to be gone.
RECOVER_WAIT = 10.0
# Seconds between two batches of retention while there is more to delete.
_NEXT_BATCH = 0.05


@atexit.register
def _close_left_open() -> None:
    for engine in list(_OPEN):
        engine.close(EXIT_TIMEOUT)
