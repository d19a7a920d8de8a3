"""actors_wf: an embeddable workflow engine built on the actor model.

The public API lives here; every module below it is private. The layers, from
the bottom: errors, type names, status table and spec records; state records
and messages; the codec and the loader; the registry; the state manager and
events; the runtime actors; the :class:`Engine` facade and the CLI.
"""

from ._core._errors import (
    ActorsWfError,
    ComponentImportError,
    ComponentNotFound,
    DuplicateComponent,
    EngineClosed,
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
    WorkflowInvalid,
    WorkflowNotFound,
)
from ._core._kinds import EventKind, FailureKind
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
from ._state._snapshot import Snapshot
from ._validation._problems import Problem, ValidationResult
from ._validation._source import WorkflowLimits
from ._validation._validator import Validator, load_workflow

__all__ = [
    "COMPONENT",
    "WORKFLOW",
    "ActorsWfError",
    "Attempt",
    "Clock",
    "ComponentDefinition",
    "ComponentExecutor",
    "ComponentImportError",
    "ComponentMetrics",
    "ComponentNotFound",
    "DuplicateComponent",
    "Engine",
    "EngineClosed",
    "ErrorInfo",
    "Event",
    "EventKind",
    "FailureKind",
    "InputSpec",
    "InvalidInputs",
    "InvalidTransition",
    "JobCancelled",
    "JobFailed",
    "JobManager",
    "JobManagerSync",
    "JobNotFound",
    "JobState",
    "JobStatus",
    "JobTimeout",
    "LogContextFilter",
    "ManualClock",
    "MessageError",
    "Metrics",
    "Orchestrator",
    "Problem",
    "Registry",
    "RegistryEntry",
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
