"""A step's settings (resources, retry policy, time limits) and the retry decision.

A step's spec wins over its component's definition, field by field; the
merge is made once per step of a workflow, not per step of every job.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from .._core._kinds import FailureKind
from .._core._records import ErrorInfo
from .._core._spec import BUILT_IN_EXECUTORS, ComponentDefinition, RetryPolicy, StepSpec
from ._resources import STEPS


@attrs.frozen
class StepSettings:
    """A step's resources, retry policy and time limits, merged from spec and component."""

    need: dict[str, int]
    retry: RetryPolicy
    timeout: float | None
    total_timeout: float | None
    heartbeat_timeout: float | None
    placed: dict[str, int] | None = None  # the resources besides a step slot, if any
    elsewhere: bool = False  # it names an executor, or its component runs on a named one


def merged_settings(spec: StepSpec, definition: ComponentDefinition) -> StepSettings:
    """A step's settings: merged once per step of a workflow, not per step of every job."""
    key = (id(spec), id(definition))
    cached = _SETTINGS.get(key)
    if cached is not None and cached[0] is spec and cached[1] is definition:
        return cached[2]
    declared = spec.resources or definition.resources
    settings = StepSettings(
        need={STEPS: 1, **declared},
        retry=spec.retry or definition.retry or _NO_RETRY,
        timeout=spec.timeout or definition.timeout,
        total_timeout=spec.total_timeout or definition.total_timeout,
        heartbeat_timeout=spec.heartbeat_timeout or definition.heartbeat_timeout,
        placed=dict(declared) or None,
        elsewhere=spec.executor is not None or definition.isolation not in BUILT_IN_EXECUTORS,
    )
    if len(_SETTINGS) >= _SETTINGS_KEPT:
        _SETTINGS.clear()
    _SETTINGS[key] = (spec, definition, settings)  # kept alive: no id is reused meanwhile
    return settings


# (step spec, definition) by identity -> settings. The jobs of one workflow
# share its plan's step specs, and a definition changes only by registering
# the component again (a new object, so a new entry).
_SETTINGS: dict[tuple[int, int], tuple[StepSpec, ComponentDefinition, StepSettings]] = {}
_SETTINGS_KEPT = 10_000
# The settings of a step whose component is missing (its StepActor reports that).
NO_DEFINITION = ComponentDefinition()
_NO_RETRY = RetryPolicy()


# Retrying these cannot help: the same inputs give the same error, or the old
# attempt may still run (abandoned), and two attempts must never run at once.
_NEVER_RETRIED = frozenset(
    {FailureKind.STEP_ABANDONED, FailureKind.COMPONENT_INPUT, FailureKind.UNRESOLVED_REFERENCE}
)


def _named(error_type: str, names: tuple[str, ...]) -> bool:
    """Whether ``pkg.mod.Error`` matches one of ``names`` (qualified or not)."""
    short = error_type.rpartition(".")[2]
    return any(name in (error_type, short) for name in names)


def retry_delay(
    policy: RetryPolicy, attempts: int, error: ErrorInfo, random: Callable[[], float]
) -> float | None:
    """Seconds until attempt ``attempts + 1`` of a step that failed with ``error``.

    ``None`` when the policy is spent, the error is one it does not retry, or
    retrying cannot help.
    """
    if attempts >= policy.max_attempts or _named(error.type, policy.non_retryable_errors):
        return None
    if error.type in _NEVER_RETRIED:
        return None
    delay = policy.interval(attempts)
    if policy.jitter:
        delay *= 1 - policy.jitter * random()
    return delay
