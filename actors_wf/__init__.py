"""actors_wf: an embeddable workflow engine built on the actor model.

The public API is this module (and :mod:`actors_wf.testing`); every module
below it is private. The folder tree is the layer diagram, imports point
down only, and ``tests/test_layers.py`` keeps it so::

    faces        __init__, testing, _engine (Engine), _job_manager (engine.jobs),
                 _orchestrator, _cli (the actors-wf command)
    _runtime/    the actors: job manager, job, step; executors, resources, clock
    _observe/    lifecycle events, metrics, tracing
    _state/      the job store: StateManager, updates, journal, memory, SQLite
    _registry/   components and workflows: entries, @component, the Registry
    _validation/ the Validator: reading, checking, reports
    _core/       records, errors, enums, the status table, codec, graph, plan
"""

import importlib
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    __version__: str
    from ._async_client import AsyncClient
    from ._client import Client, EventStream, JobSummaries
    from ._core._errors import (
        ActorsWfError,
        ComponentImportError,
        ComponentNotFound,
        DuplicateComponent,
        EngineClosed,
        EngineUnavailable,
        InvalidInputs,
        InvalidTransition,
        JobCancelled,
        JobFailed,
        JobNotFound,
        JobTimeout,
        MessageError,
        SignalRefused,
        SpecError,
        StaleWrite,
        StoreCorrupt,
        StoreError,
        StoreLocked,
        WorkflowInvalid,
        WorkflowNotFound,
    )
    from ._core._kinds import EventKind, FailureKind
    from ._core._messages import EventNote, HealthReply, JobSummary
    from ._core._records import Attempt, ErrorInfo, JobState, StepMap, StepState
    from ._core._spec import (
        ComponentDefinition,
        InputSpec,
        RetryPolicy,
        StepSpec,
        WaitFor,
        WorkflowSpec,
    )
    from ._core._status import JobStatus, StepStatus
    from ._engine import Engine
    from ._job_manager import JobManager, JobManagerSync
    from ._observe._events import Event
    from ._observe._metrics import ComponentMetrics, ExecutorMetrics, Metrics
    from ._orchestrator import ComponentExecutor, Orchestrator
    from ._registry._declare import component
    from ._registry._entry import COMPONENT, WORKFLOW, RegistryEntry
    from ._registry._registry import Registry
    from ._runtime._attempt import StepCancelledError, StepContext
    from ._runtime._clock import Clock, ManualClock, SystemClock
    from ._runtime._dask import DaskExecutor
    from ._runtime._executor import LogContextFilter
    from ._runtime._logs import JsonFormatter
    from ._state._manager import StateManager
    from ._state._retention import Retention
    from ._state._snapshot import Snapshot
    from ._state._store import JobPage
    from ._validation._problems import Problem, ValidationResult
    from ._validation._source import WorkflowLimits
    from ._validation._validator import Validator, load_workflow

__all__ = [
    "COMPONENT",
    "WORKFLOW",
    "ActorsWfError",
    "AsyncClient",
    "Attempt",
    "Client",
    "Clock",
    "ComponentDefinition",
    "ComponentExecutor",
    "ComponentImportError",
    "ComponentMetrics",
    "ComponentNotFound",
    "DaskExecutor",
    "DuplicateComponent",
    "Engine",
    "EngineClosed",
    "EngineUnavailable",
    "ErrorInfo",
    "Event",
    "EventKind",
    "EventNote",
    "EventStream",
    "ExecutorMetrics",
    "FailureKind",
    "HealthReply",
    "InputSpec",
    "InvalidInputs",
    "InvalidTransition",
    "JobCancelled",
    "JobFailed",
    "JobManager",
    "JobManagerSync",
    "JobNotFound",
    "JobPage",
    "JobState",
    "JobStatus",
    "JobSummaries",
    "JobSummary",
    "JobTimeout",
    "JsonFormatter",
    "LogContextFilter",
    "ManualClock",
    "MessageError",
    "Metrics",
    "Orchestrator",
    "Problem",
    "Registry",
    "RegistryEntry",
    "Retention",
    "RetryPolicy",
    "SignalRefused",
    "Snapshot",
    "SpecError",
    "StaleWrite",
    "StateManager",
    "StepCancelledError",
    "StepContext",
    "StepMap",
    "StepSpec",
    "StepState",
    "StepStatus",
    "StoreCorrupt",
    "StoreError",
    "StoreLocked",
    "SystemClock",
    "ValidationResult",
    "Validator",
    "WaitFor",
    "WorkflowInvalid",
    "WorkflowLimits",
    "WorkflowNotFound",
    "WorkflowSpec",
    "component",
    "load_workflow",
]

# A name is imported on first use (PEP 562): a client of a daemon, or the
# `actors-wf status` command, does not pay for the engine it never starts.
_WHERE = {
    "ActorsWfError": "._core._errors",
    "AsyncClient": "._async_client",
    "Attempt": "._core._records",
    "Client": "._client",
    "Clock": "._runtime._clock",
    "component": "._registry._declare",
    "COMPONENT": "._registry._entry",
    "ComponentDefinition": "._core._spec",
    "ComponentExecutor": "._orchestrator",
    "ComponentImportError": "._core._errors",
    "ComponentMetrics": "._observe._metrics",
    "ExecutorMetrics": "._observe._metrics",
    "ComponentNotFound": "._core._errors",
    "DuplicateComponent": "._core._errors",
    "Engine": "._engine",
    "EngineClosed": "._core._errors",
    "EngineUnavailable": "._core._errors",
    "ErrorInfo": "._core._records",
    "Event": "._observe._events",
    "EventKind": "._core._kinds",
    "EventNote": "._core._messages",
    "EventStream": "._client",
    "FailureKind": "._core._kinds",
    "HealthReply": "._core._messages",
    "InputSpec": "._core._spec",
    "InvalidInputs": "._core._errors",
    "InvalidTransition": "._core._errors",
    "SignalRefused": "._core._errors",
    "JobCancelled": "._core._errors",
    "JobFailed": "._core._errors",
    "JobManager": "._job_manager",
    "JobManagerSync": "._job_manager",
    "JobNotFound": "._core._errors",
    "JobPage": "._state._store",
    "JobState": "._core._records",
    "JobStatus": "._core._status",
    "JobSummaries": "._client",
    "JobSummary": "._core._messages",
    "JobTimeout": "._core._errors",
    "load_workflow": "._validation._validator",
    "LogContextFilter": "._runtime._executor",
    "JsonFormatter": "._runtime._logs",
    "DaskExecutor": "._runtime._dask",
    "ManualClock": "._runtime._clock",
    "MessageError": "._core._errors",
    "Metrics": "._observe._metrics",
    "Orchestrator": "._orchestrator",
    "Problem": "._validation._problems",
    "Registry": "._registry._registry",
    "RegistryEntry": "._registry._entry",
    "Retention": "._state._retention",
    "RetryPolicy": "._core._spec",
    "Snapshot": "._state._snapshot",
    "SpecError": "._core._errors",
    "StaleWrite": "._core._errors",
    "StateManager": "._state._manager",
    "StepCancelledError": "._runtime._attempt",
    "StepContext": "._runtime._attempt",
    "StepMap": "._core._records",
    "StepSpec": "._core._spec",
    "WaitFor": "._core._spec",
    "StepState": "._core._records",
    "StepStatus": "._core._status",
    "StoreCorrupt": "._core._errors",
    "StoreError": "._core._errors",
    "StoreLocked": "._core._errors",
    "SystemClock": "._runtime._clock",
    "ValidationResult": "._validation._problems",
    "Validator": "._validation._validator",
    "WORKFLOW": "._registry._entry",
    "WorkflowInvalid": "._core._errors",
    "WorkflowLimits": "._validation._source",
    "WorkflowNotFound": "._core._errors",
    "WorkflowSpec": "._core._spec",
}


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value: Any = _version()
    elif name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name], __name__), name)
    else:
        raise AttributeError(f"module 'actors_wf' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__, "__version__"})


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("actors-wf")
    except metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0.0.0+unknown"


# A library logs; the application decides where to (nothing printed until it configures logging).
logging.getLogger("actors_wf").addHandler(logging.NullHandler())
