"""The engine's vocabularies: what happened (events) and why an attempt failed.

Both are string enums: a member equals its value (``EventKind.JOB_FAILED ==
"job.failed"``), so they read and log as plain text, and a misspelt member is
an error at import, not a comparison that is never true. Event kinds are
dotted and lower case, so none reads like a class (``JobFailed`` is an
error, ``job.failed`` an event).
"""

from __future__ import annotations

import enum


class EventKind(enum.StrEnum):
    """What happened to a job or a step: the ``kind`` of a lifecycle event."""

    JOB_CREATED = "job.created"
    JOB_QUEUED = "job.queued"
    JOB_STARTED = "job.started"
    JOB_PAUSED = "job.paused"
    JOB_RESUMED = "job.resumed"
    JOB_COMPLETED = "job.completed"
    JOB_FAILED = "job.failed"
    JOB_CANCELLED = "job.cancelled"
    #: the store could not be written: the job stopped, and ``recover()`` runs it on
    JOB_INTERRUPTED = "job.interrupted"
    STEP_STARTED = "step.started"
    STEP_SUCCEEDED = "step.succeeded"
    STEP_FAILED = "step.failed"
    STEP_RETRYING = "step.retrying"
    STEP_TIMED_OUT = "step.timed_out"

    __hash__ = str.__hash__  # a member and its value are one dict key


class FailureKind(enum.StrEnum):
    """Why an attempt failed when the engine says so: the ``type`` of its :class:`ErrorInfo`.

    A component's own exception is named by its class instead (``ValueError``,
    ``myapp.errors.Busy``).
    """

    STEP_TIMEOUT = "StepTimeout"
    #: timed out, did not stop, and its thread runs on: never retried beside itself
    STEP_ABANDONED = "StepAbandoned"
    COMPONENT_INPUT = "ComponentInputError"
    COMPONENT_OUTPUT = "ComponentOutputError"
    COMPONENT_NOT_IMPORTABLE = "ComponentNotImportable"
    PROCESS_CRASHED = "ProcessCrashed"
    #: the Dask worker running the attempt died (retried by the step's policy)
    WORKER_LOST = "WorkerLost"
    #: the executor could not run the attempt: its Dask scheduler is gone
    EXECUTOR_UNAVAILABLE = "ExecutorUnavailable"
    #: a reference (``$steps.a.output.x``) found nothing when the step started
    UNRESOLVED_REFERENCE = "UnresolvedReference"
    #: a step's ``when:`` could not be evaluated on the values it met
    CONDITION_FAILED = "ConditionFailed"
    #: a ``for_each`` did not name a list when its step was to start
    NOT_A_LIST = "NotAList"
    #: a wait_for step got no signal within its timeout
    SIGNAL_TIMEOUT = "SignalTimeout"
    #: a step's child job was cancelled from outside (not by the step's own job)
    CHILD_CANCELLED = "ChildCancelled"
    #: a step's child job failed without recording why
    CHILD_FAILED = "ChildFailed"
    #: the engine stopped while the attempt ran (recovery closes it so)
    INTERRUPTED = "Interrupted"
    WORKFLOW_INVALID = "WorkflowInvalid"

    __hash__ = str.__hash__
