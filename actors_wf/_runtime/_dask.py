"""Attempts on a Dask cluster: one ``client.submit`` per attempt, the engine's state kept here.

The JobActor and the journal stay the source of truth; Dask only runs the
call. Inputs and outputs cross as msgpack bytes (the codec the process mode
uses), so an output that cannot be stored is the same clear error in every
mode. Dask's own retries are off: the step's retry policy decides. The
outcome comes back on a done-callback, so no engine thread waits on a
remote attempt.

``distributed`` is imported when an executor is made, not before:
``actors_wf.DaskExecutor`` is importable without the ``dask`` extra.
"""

from __future__ import annotations

import time
from typing import Any

import msgpack

from .._core._messages import RunStep
from .._core._records import ErrorInfo
from .._registry._entry import RegistryEntry
from ._attempt import StepContext
from ._executor import Deliver, failed, input_problem, outcome

_EXTRA = "DaskExecutor needs the dask extra: pip install 'actors-wf[dask]'"


class DaskExecutor:
    """Runs the attempts of components whose ``isolation`` names it, on a Dask cluster.

    ``Engine(executors={"dask": DaskExecutor("tcp://scheduler:8786")})`` and
    ``@component("x.y", isolation="dask")``. Give a scheduler's ``address``,
    a ``client`` of your own (then you close it), or make a LocalCluster with
    :meth:`local`. The engine closes the executors it was given when it closes.

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

    @classmethod
    def local(cls, n_workers: int = 2, *, processes: bool = True) -> DaskExecutor:
        """An executor on a new LocalCluster of ``n_workers`` one-thread workers."""
        distributed = _distributed()
        cluster = distributed.LocalCluster(
            n_workers=n_workers,
            threads_per_worker=1,
            processes=processes,
            dashboard_address=None,
        )
        executor = cls(client=distributed.Client(cluster))
        executor._owns_client = True
        executor._cluster = cluster
        return executor

    def start(
        self, entry: RegistryEntry, msg: RunStep, ctx: StepContext, deliver: Deliver
    ) -> None:
        """Submit the attempt; its outcome goes to ``deliver`` when the Dask future is done."""
        started = time.time()
        bad_input = input_problem(entry, msg)
        if bad_input is not None:
            deliver(failed(msg, bad_input, started))
            return
        if entry.takes_context:
            error = ErrorInfo(
                "UnsupportedOnDask",
                f"component {msg.component!r} takes ctx, which Dask attempts do not have yet",
                step_id=msg.step_id,
            )
            deliver(failed(msg, error, started))
            return
        future = self.client.submit(
            call_on_worker,
            entry.implementation,
            msgpack.packb(msg.inputs),
            key=f"{msg.job_id}-{msg.step_id}-{msg.attempt}",
            pure=False,
            retries=0,
        )
        ctx.on_cancel(future.cancel)
        future.add_done_callback(lambda done: deliver(self._outcome(done, entry, msg, started)))

    @staticmethod
    def _outcome(future: Any, entry: RegistryEntry, msg: RunStep, started: float) -> bytes:
        if future.cancelled():
            error = ErrorInfo("CancelledError", "the attempt's Dask future was cancelled")
            return failed(msg, _on(error, msg), started)
        exc = future.exception()
        if exc is not None:  # the worker died, or the scheduler went away
            error = ErrorInfo("WorkerLost", f"{type(exc).__name__}: {exc}")
            return failed(msg, _on(error, msg), started)
        reply = msgpack.unpackb(future.result())
        if "error" in reply:
            return failed(msg, _on(ErrorInfo(**reply["error"]), msg), started)
        return outcome(entry, msg, reply["output"], started)

    def close(self) -> None:
        """Close the client and the LocalCluster this executor made (not a client it was given)."""
        if self._owns_client:
            self.client.close()
        if self._cluster is not None:
            self._cluster.close()


def call_on_worker(fn: Any, packed: bytes) -> bytes:
    """On a Dask worker: call the component and pack its output or its error, never raise."""
    try:
        packed_output: bytes = msgpack.packb({"output": fn(**msgpack.unpackb(packed))})
    except Exception as exc:
        error = ErrorInfo.from_exception(exc)
        fields = {"type": str(error.type), "message": error.message, "traceback": error.traceback}
        packed_error: bytes = msgpack.packb({"error": fields})
        return packed_error
    return packed_output


def _on(error: ErrorInfo, msg: RunStep) -> ErrorInfo:
    return ErrorInfo(error.type, error.message, error.traceback, msg.step_id)


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise ImportError(_EXTRA) from None
    return distributed
