"""Attempts on a Dask cluster: one Dask task per attempt, the engine's state kept here.

The JobActor and the journal stay the source of truth; Dask only runs the
call. Inputs and outputs cross as msgpack bytes (the codec the process mode
uses), so an output that cannot be stored is the same clear error in every
mode. Dask's own retries are off: the step's retry policy decides. The
outcome comes back on a done-callback, so no engine thread waits on a
remote attempt.

Attempts started together (a fan-out) are submitted in one batch
(``client.map`` with a key per attempt): one graph update for the
scheduler, not one per attempt. Results are fetched by one ``gather`` for
all that finished meanwhile. A component's heartbeats and ``ctx.log``
records come back as events on a topic of this executor's; a cancel
reaches a running component through a Dask ``Event`` named by the attempt,
which a thread on the worker waits on.

``distributed`` is imported when an executor is made, not before:
``actors_wf.DaskExecutor`` is importable without the ``dask`` extra.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
import traceback
import uuid
from functools import partial
from typing import Any

import msgpack

from .._core._kinds import FailureKind
from .._core._messages import RunStep
from .._core._plain import PLAIN_TYPES, plain_problem
from .._core._records import ErrorInfo
from .._registry._entry import RegistryEntry
from ._attempt import StepContext, call
from ._executor import LOG_CONTEXT, Deliver, failed, input_problem, outcome

log = logging.getLogger("actors_wf.dask")
_COMPONENT_LOG = logging.getLogger("actors_wf.component")

_EXTRA = "DaskExecutor needs the dask extra: pip install 'actors-wf[dask]'"
_BEAT_EVERY = 0.25  # seconds: heartbeats a component sends faster are dropped on the worker
_GATHER_EVERY = 0.005  # seconds: while more results are due, a gather waits this long for company
_DECLARED_FOR = 5.0  # seconds the workers' declared resources are taken as known


class _Remote:
    """One attempt on its way to, or on, the cluster."""

    __slots__ = (
        "cancelled",
        "ctx",
        "deliver",
        "delivered",
        "entry",
        "future",
        "how",
        "key",
        "killing",
        "msg",
        "packed",
        "started",
        "worker",
    )

    def __init__(
        self, entry: RegistryEntry, msg: RunStep, ctx: StepContext, deliver: Deliver
    ) -> None:
        self.entry = entry
        self.msg = msg
        self.ctx = ctx
        self.deliver = deliver
        self.started = time.time()
        self.key = f"{msg.job_id}-{msg.step_id}-{msg.attempt}"
        self.future: Any = None
        self.packed = b""
        self.how: tuple[Any, ...] = ()
        self.worker = ""
        self.cancelled = False
        self.killing = False
        self.delivered = False


class DaskExecutor:
    """Runs the attempts of components whose ``isolation`` names it, on a Dask cluster.

    ``Engine(executors={"dask": DaskExecutor("tcp://scheduler:8786")})`` and
    ``@component("x.y", isolation="dask")``. Give a scheduler's ``address``,
    a ``client`` of your own (then you close it), or make a LocalCluster with
    :meth:`local`. The engine closes the executors it was given when it closes.

    Attributes:
        client: the ``distributed.Client`` attempts are submitted with.
        attempts: attempts submitted so far.

    Raises:
        ImportError: ``distributed`` is not installed (the message names the extra).
        TypeError: neither or both of ``address`` and ``client``.
    """

    def __init__(self, address: str | None = None, *, client: Any = None) -> None:
        distributed = _distributed()
        if (address is None) == (client is None):
            raise TypeError(
                "DaskExecutor takes a scheduler address or client=, not both or neither"
            )
        self.client = client if client is not None else distributed.Client(address)
        self._owns_client = client is None
        self._cluster: Any = None
        self._restarts = False  # whether a worker running a stuck attempt may be restarted
        self._lock = threading.Lock()
        self._queue: list[_Remote] = []
        self._live: dict[str, _Remote] = {}
        self._ready: list[tuple[_Remote, Any]] = []
        self._gathering = False
        self._resources: set[str] = set()
        self._declared_at = -_DECLARED_FOR
        self._submitted = 0
        self._closed = False
        self._topic = f"actors-wf-{uuid.uuid4().hex[:12]}"
        self._subscribed_on: Any = None  # the scheduler connection the topic is subscribed on
        self._subscribe()

    @classmethod
    def local(cls, n_workers: int = 2, *, processes: bool = True, **cluster: Any) -> DaskExecutor:
        """An executor on a new LocalCluster of ``n_workers`` one-thread workers.

        ``cluster`` goes to Dask's LocalCluster as is (``resources={"gpu": 1}``
        declares a resource on every worker).

        Its scheduler leaves retries to the engine (``allowed-failures: 0``):
        a worker that dies mid-attempt fails that attempt with ``"WorkerLost"``
        and the step's retry policy decides. With ``processes``, a worker
        whose attempt will not stop is restarted.
        """
        distributed = _distributed()
        import dask

        with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
            cluster = distributed.LocalCluster(
                n_workers=n_workers,
                threads_per_worker=1,
                processes=processes,
                **{"dashboard_address": ":0", **cluster},  # any free port by default
            )
        executor = cls(client=distributed.Client(cluster))
        executor._owns_client = True
        executor._cluster = cluster
        executor._restarts = processes
        return executor

    @property
    def attempts(self) -> int:
        """Attempts submitted to the cluster since this executor was made."""
        return self._submitted

    @property
    def available(self) -> bool:
        """Whether the client is connected to its scheduler."""
        return not self._closed and self.client.status == "running"

    def start(
        self, entry: RegistryEntry, msg: RunStep, ctx: StepContext, deliver: Deliver
    ) -> None:
        """Queue the attempt for the next batch; its outcome goes to ``deliver`` once done."""
        attempt = _Remote(entry, msg, ctx, deliver)
        if not self.available:  # closed, or its scheduler is gone: fail, never wait unbounded
            why = "closed" if self._closed else f"not connected ({self.client.status})"
            error = ErrorInfo(FailureKind.EXECUTOR_UNAVAILABLE, f"the Dask executor is {why}")
            deliver(failed(msg, _on(error, msg), attempt.started))
            return
        bad_input = input_problem(entry, msg)
        if bad_input is not None:
            deliver(failed(msg, bad_input, attempt.started))
            return
        ctx.on_cancel(lambda: self._cancel(attempt))
        ctx.on_kill(lambda: self._kill(attempt))
        # Made here, on the StepActor's thread: the client's loop is the scheduler's too.
        attempt.packed = msgpack.packb(msg.inputs)
        attempt.how = self._how(attempt)
        with self._lock:
            self._queue.append(attempt)
            first = len(self._queue) == 1
        if first:  # the attempts started meanwhile go in the same batch
            self.client.loop.add_callback(self._flush)

    def _subscribe(self) -> None:
        """Hear workers' beats and logs; again after a reconnect, which Dask does not renew."""
        comm = self.client.scheduler_comm
        if comm is not self._subscribed_on:
            self._subscribed_on = comm
            self.client.subscribe_topic(self._topic, self._on_event)

    async def _flush(self) -> None:
        """On the client's loop: submit what is queued, one ``client.map`` per kind of task."""
        with self._lock:
            batch, self._queue = self._queue, []
        self._subscribe()
        groups: dict[tuple[Any, ...], list[_Remote]] = {}
        placements = [attempt.msg.placement or {} for attempt in batch]
        wanted = any(p.get("resources") for p in placements)
        declared = await self._declared() if wanted else set()
        for attempt, placement in zip(batch, placements, strict=True):
            asked = placement.get("resources") or {}
            placed = tuple(sorted((k, v) for k, v in asked.items() if k in declared))
            groups.setdefault((placed, placement.get("priority", 0)), []).append(attempt)
        for (resources, priority), attempts in groups.items():
            try:
                futures = self.client.map(
                    call_on_worker,
                    [a.entry.implementation for a in attempts],
                    [a.packed for a in attempts],
                    [a.how for a in attempts],
                    key=[a.key for a in attempts],
                    pure=False,
                    retries=0,
                    resources=dict(resources) or None,
                    priority=priority,
                )
            except Exception as exc:  # the client is closed or lost: fail these, hang none
                error = ErrorInfo(FailureKind.EXECUTOR_UNAVAILABLE, f"{type(exc).__name__}: {exc}")
                for attempt in attempts:
                    self._finish(
                        attempt, failed(attempt.msg, _on(error, attempt.msg), attempt.started)
                    )
                continue
            for attempt, future in zip(attempts, futures, strict=True):
                with self._lock:
                    attempt.future = future
                    self._live[attempt.key] = attempt
                    self._submitted += 1
                    cancelled = attempt.cancelled
                # Waited for on this loop: add_done_callback would hop to a thread per task.
                done = partial(self._done, attempt)
                self.client.loop.add_callback(_done_callback(), future, done)
                if cancelled:  # on this loop: the awaitable form
                    await self.client.cancel([future], asynchronous=True)

    async def _declared(self) -> set[str]:
        """The resources the cluster's workers declare: an attempt's others are the engine's own.

        Asked of the scheduler at most every few seconds, as workers come and go.
        """
        now = time.monotonic()
        if now - self._declared_at > _DECLARED_FOR:
            declared: set[str] = set()
            with contextlib.suppress(Exception):  # no scheduler: nothing is declared
                identity = await self.client.scheduler.identity(n_workers=-1)
                for worker in identity.get("workers", {}).values():
                    declared.update(worker.get("resources") or {})
            self._resources, self._declared_at = declared, now
        return self._resources

    def _how(self, attempt: _Remote) -> tuple[Any, ...]:
        msg, entry = attempt.msg, attempt.entry
        factory = bool(getattr(entry.definition, "factory", False))
        return (
            self._topic,
            attempt.key,
            msg.job_id,
            msg.step_id,
            msg.attempt,
            factory,
            entry.takes_context,
        )

    def _on_event(self, event: tuple[float, Any]) -> None:
        """On the client's loop: a component on a worker beat, or logged."""
        key, what, *rest = event[1]
        attempt = self._live.get(key)
        if attempt is None:
            return
        if what == "beat":
            attempt.ctx.heartbeat()
        elif what == "log":
            level, text, worker = rest
            msg = attempt.msg
            where = {"job_id": msg.job_id, "step_id": msg.step_id, "attempt": msg.attempt}
            _COMPONENT_LOG.log(level, text, extra={**where, "worker": worker})

    def _done(self, attempt: _Remote, future: Any) -> None:
        """On the client's loop: a result joins the next gather; a failure is delivered."""
        with self._lock:
            self._live.pop(attempt.key, None)
            if attempt.killing:
                return  # _restart reports it once its worker is gone
            finished = future.status == "finished"
            if finished:
                self._ready.append((attempt, future))
                idle, self._gathering = not self._gathering, True
        if not finished:
            self.client.loop.add_callback(self._fail, attempt, future)
        elif idle:
            self.client.loop.add_callback(self._gather)

    async def _fail(self, attempt: _Remote, future: Any) -> None:
        """On the client's loop: deliver the failure of a task that did not return."""
        self._finish(attempt, await self._failure(future, attempt))
        future.release()

    async def _gather(self) -> None:
        """On the client's loop: fetch finished attempts' results, all that are ready per request.

        One gather at a time: the results that finish while one is on its
        way make the next one. Fetched one by one, a fan-out's results
        would each wait for the one before.
        """
        while True:
            if self._live:  # more results are on their way: let a few join this request
                await asyncio.sleep(_GATHER_EVERY)
            with self._lock:
                ready, self._ready = self._ready, []
                if not ready:
                    self._gathering = False
                    return
            futures = [future for _, future in ready]
            try:
                results = await self.client.gather(futures, asynchronous=True)
            except Exception as exc:  # a result was lost with its worker before it was fetched
                lost = ErrorInfo(FailureKind.WORKER_LOST, f"{type(exc).__name__}: {exc}")
                results = [lost] * len(ready)
            for (attempt, future), result in zip(ready, results, strict=True):
                future.release()  # now, not when the step's state lets go: Dask batches it
                if isinstance(result, ErrorInfo):
                    packed = failed(attempt.msg, _on(result, attempt.msg), attempt.started)
                else:
                    packed = self._outcome(result, attempt)
                self._finish(attempt, packed)

    async def _failure(self, future: Any, attempt: _Remote) -> bytes:
        msg, started = attempt.msg, attempt.started
        if future.cancelled():
            if attempt.cancelled:
                error = ErrorInfo("CancelledError", "the attempt's Dask task was cancelled")
            else:  # cancelled by Dask: the client lost its scheduler
                error = ErrorInfo(
                    FailureKind.EXECUTOR_UNAVAILABLE,
                    "the Dask scheduler went away while the attempt ran; it may have run",
                )
            return failed(msg, _on(error, msg), started, attempt.worker)
        # The task never returned (call_on_worker does not raise).
        exc = await future.exception(asynchronous=True)
        where = f" on {attempt.worker}" if attempt.worker else ""
        error = ErrorInfo(
            FailureKind.WORKER_LOST,
            f"the Dask worker{where} was lost mid-attempt ({type(exc).__name__}: {exc})",
        )
        return failed(msg, _on(error, msg), started, attempt.worker)

    @staticmethod
    def _outcome(packed: bytes, attempt: _Remote) -> bytes:
        msg, started = attempt.msg, attempt.started
        reply = msgpack.unpackb(packed)
        worker = reply.get("worker", "")
        if "error" in reply:
            return failed(msg, _on(ErrorInfo(**reply["error"]), msg), started, worker)
        if "bad_output" in reply:
            error = ErrorInfo(
                FailureKind.COMPONENT_OUTPUT,
                f"step {msg.step_id!r} ({msg.component}): {reply['bad_output']}",
            )
            return failed(msg, _on(error, msg), started, worker)
        return outcome(attempt.entry, msg, reply["output"], started, worker)

    def _cancel(self, attempt: _Remote) -> None:
        """Ask the attempt to stop: drop it if no worker runs it yet, else tell its component."""
        with self._lock:
            attempt.cancelled = True
            queued = attempt in self._queue
            if queued:
                self._queue.remove(attempt)
            future = attempt.future
        if queued:
            error = ErrorInfo("CancelledError", "cancelled before it was sent to Dask")
            self._finish(attempt, failed(attempt.msg, _on(error, attempt.msg), attempt.started))
        elif future is not None:  # None: being submitted, and _flush cancels it
            self.client.loop.add_callback(self._stop, attempt, future, False)

    def _kill(self, attempt: _Remote) -> bool:
        """Force the attempt off the cluster.

        ``True``: it cannot run on (it had not started, or its worker is
        restarted) and its end is reported. ``False`` on a cluster this
        executor does not own: its result is dropped, but a call already
        running runs on (the step is then abandoned, never retried beside it).
        """
        future = attempt.future
        if future is None:
            return True  # dropped, or being dropped by _flush: its outcome follows
        if not self._restarts:
            future.cancel()
            return False
        with self._lock:
            attempt.killing = True
        self.client.loop.add_callback(self._stop, attempt, future, True)
        return True

    async def _stop(self, attempt: _Remote, future: Any, kill: bool) -> None:
        """On the client's loop: cancel a task no worker runs yet, else stop or restart it."""
        worker = await self._running_on(attempt.key)
        if worker is not None:
            attempt.worker = worker
        if worker is not None and not kill:
            if attempt.entry.takes_context:  # it can hear the request: ctx.cancelled
                with contextlib.suppress(Exception):  # the scheduler is gone: nothing to tell
                    await self.client.scheduler.event_set(name=_event_name(attempt.key))
            return  # a plain call cannot: the grace period ends in a kill
        with contextlib.suppress(Exception):  # on this loop: the awaitable form
            await self.client.cancel([future], asynchronous=True)
        if not kill:
            return  # _done reports it
        why = "was cancelled before it ran"
        if worker is not None:
            why = f"was stopped: its Dask worker {worker} was restarted"
            try:
                await self.client.scheduler.restart_workers(
                    workers=[worker],
                    timeout=30,
                    on_error="return",
                    stimulus_id=f"actors-wf-kill-{attempt.key}-{time.time()}",
                )
            except Exception:
                log.warning("could not restart Dask worker %s", worker, exc_info=True)
        error = ErrorInfo("CancelledError", f"the attempt {why}")
        self._finish(attempt, failed(attempt.msg, _on(error, attempt.msg), attempt.started))

    async def _running_on(self, key: str) -> str | None:
        """The worker whose thread runs the task ``key`` now; ``None`` if none does."""
        try:
            stacks = await self.client.scheduler.call_stack(keys=[key])
        except Exception:  # the task is over and forgotten, or the scheduler is gone
            return None
        return next((w for w, running in stacks.items() if key in running), None)

    def _finish(self, attempt: _Remote, outcome_: bytes) -> None:
        """Deliver the attempt's outcome, once whichever path comes first."""
        with self._lock:
            if attempt.delivered:
                return
            attempt.delivered = True
        attempt.deliver(outcome_)

    def close(self) -> None:
        """Close the client and the LocalCluster this executor made (not a client it was given)."""
        self._closed = True
        with contextlib.suppress(Exception):
            self.client.unsubscribe_topic(self._topic)
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def call_on_worker(fn: Any, packed: bytes, how: tuple[Any, ...]) -> bytes:
    """On a Dask worker: call the component and pack its output or its error, never raise."""
    from distributed import get_worker

    topic, key, job_id, step_id, attempt, factory, takes_context = how
    worker = get_worker()
    address = worker.address
    ctx = StepContext(
        job_id,
        step_id,
        attempt,
        on_heartbeat=_beats(worker, topic, key),
        log=_ForwardedLog(worker, topic, key),
    )
    watcher = _CancelWatch(ctx, key) if takes_context else None
    token = LOG_CONTEXT.set((job_id, step_id, attempt))
    try:
        output = call(
            fn, msgpack.unpackb(packed), ctx, factory=factory, takes_context=takes_context
        )
    except BaseException as exc:  # the component's failure is this attempt's result
        error = ErrorInfo.from_exception(exc)
        fields = {"type": str(error.type), "message": error.message, "traceback": error.traceback}
        return _packed({"error": fields, "worker": address})
    finally:
        LOG_CONTEXT.reset(token)
        if watcher is not None:
            watcher.stop()
    try:
        return _packed({"output": output, "worker": address})
    except (TypeError, ValueError, OverflowError):  # the engine words it as for a thread
        problem = plain_problem(output) or f"{type(output).__name__} cannot be stored"
        return _packed({"bad_output": f"{problem}; return plain data ({PLAIN_TYPES})"})


def _packed(reply: dict[str, Any]) -> bytes:
    packed: bytes = msgpack.packb(reply)
    return packed


def _beats(worker: Any, topic: str, key: str) -> Any:
    last = [0.0]

    def beat() -> None:
        now = time.monotonic()
        if now - last[0] >= _BEAT_EVERY:
            last[0] = now
            worker.log_event(topic, (key, "beat"))

    return beat


class _ForwardedLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """``ctx.log`` on a worker: each record goes to the engine's log, with the worker's address."""

    def __init__(self, worker: Any, topic: str, key: str) -> None:
        super().__init__(_COMPONENT_LOG, {})
        self.worker, self.topic, self.key = worker, topic, key

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        """Send the record to the engine (its level decides there)."""
        text = str(msg) % args if args else str(msg)
        if kwargs.get("exc_info"):  # ctx.log.exception(...): the traceback travels as text
            text += "\n" + traceback.format_exc().rstrip()
        self.worker.log_event(self.topic, (self.key, "log", level, text, self.worker.address))

    def isEnabledFor(self, level: int) -> bool:
        """Every level: the engine's logger filters."""
        return True


class _CancelWatch:
    """On the worker: a thread that waits on the attempt's Dask Event and cancels its ctx."""

    def __init__(self, ctx: StepContext, key: str) -> None:
        from distributed import Event, get_client

        # The client is found here, on the task's thread: the waiting thread has no worker context.
        client = get_client()
        self.event: Any = Event(_event_name(key), client=client)  # type: ignore[no-untyped-call]
        self.done = False
        self.ctx = ctx
        self.thread = threading.Thread(target=self._wait, name=f"cancel-{key}", daemon=True)
        self.thread.start()

    def _wait(self) -> None:
        with contextlib.suppress(Exception):  # the scheduler went away: nothing will come
            self.event.wait()
            if not self.done:
                self.ctx.cancel()

    def stop(self) -> None:
        """The call returned: wake the waiting thread, and leave no event behind."""
        self.done = True
        with contextlib.suppress(Exception):
            self.event.set()
            self.thread.join(5)
            self.event.clear()


def _event_name(key: str) -> str:
    return f"actors-wf-cancel-{key}"


def _on(error: ErrorInfo, msg: RunStep) -> ErrorInfo:
    return ErrorInfo(error.type, error.message, error.traceback, msg.step_id)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError(_EXTRA) from None
    return distributed


def _done_callback() -> Any:
    """Dask's coroutine that waits for a future on the client's loop, then calls back there."""
    return _distributed().client.done_callback
