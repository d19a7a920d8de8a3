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

import logging
from importlib import metadata

from ._client import AsyncClient, Client, EventStream, JobSummaries
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
from ._core._spec import ComponentDefinition, InputSpec, RetryPolicy, StepSpec, WorkflowSpec
from ._core._status import JobStatus, StepStatus
from ._engine import Engine
from ._job_manager import JobManager, JobManagerSync
from ._observe._events import Event
from ._observe._metrics import ComponentMetrics, Metrics
from ._orchestrator import ComponentExecutor, Orchestrator
from ._registry._declare import component
from ._registry._entry import COMPONENT, WORKFLOW, RegistryEntry
from ._registry._registry import Registry
from ._runtime._attempt import StepCancelledError, StepContext
from ._runtime._clock import Clock, ManualClock, SystemClock
from ._runtime._executor import LogContextFilter
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
    "DuplicateComponent",
    "Engine",
    "EngineClosed",
    "EngineUnavailable",
    "ErrorInfo",
    "Event",
    "EventKind",
    "EventNote",
    "EventStream",
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
    "WorkflowInvalid",
    "WorkflowLimits",
    "WorkflowNotFound",
    "WorkflowSpec",
    "component",
    "load_workflow",
]

try:
    __version__: str = metadata.version("actors-wf")
except metadata.PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+unknown"

# A library logs; the application decides where to (nothing printed until it configures logging).
logging.getLogger("actors_wf").addHandler(logging.NullHandler())
