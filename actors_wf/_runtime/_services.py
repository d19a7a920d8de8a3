"""What every runtime actor is given: the shared, thread-safe services."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs
import pykka

from .._core._cache import LRU
from .._core._plan import Plan, compile_plan
from .._core._spec import ComponentDefinition, WorkflowSpec
from .._observe._events import Event, EventBus
from .._registry._entry import RegistryEntry
from .._registry._registry import Registry
from .._state._manager import StateManager
from .._validation._validator import Validator
from ._clock import Clock, SystemClock
from ._executor import AsyncExecutor, ThreadExecutor
from ._faults import FAULTS, Faulty
from ._pool import LoopThreads, StepActorPool
from ._process import ProcessExecutor
from ._resources import STEPS, Resources


@attrs.frozen
class Services:
    """The services actors share. Each one is thread-safe on its own.

    Attributes:
        state: job states.
        registry: components and workflows.
        executor: where component calls run.
        events: lifecycle event fan-out.
        steps: idle StepActors.
        validator: checks workflows before a job of them is created (cached).
        clock: time and timers (retries, timeouts, grace periods).
        cancel_grace: seconds a stopping attempt gets before it is forced.
        processes: the executor of process-isolated components.
        resources: step slots and declared resources, shared by all jobs.
        jobs: the running JobActors by URN (each adds and removes itself).
        job_ids: makes a new job's id (``None``: a uuid4 hex).
        asyncs: the executor of ``async def`` components in thread isolation.
        loops: the threads JobActors' loops run on (one job's after another).
    """

    state: StateManager
    registry: Registry
    executor: ThreadExecutor
    events: EventBus
    steps: StepActorPool
    validator: Validator
    clock: Clock = attrs.Factory(SystemClock)
    cancel_grace: float = 5.0
    processes: ProcessExecutor | None = None
    resources: Resources = attrs.Factory(lambda: Resources({STEPS: 64}))
    # Running JobActors by URN, where their StepActors send outcomes. Pykka's
    # ActorRegistry.get_by_urn scans every actor under a lock: O(actors) per step.
    jobs: dict[str, pykka.ActorRef[Any]] = attrs.Factory(dict)
    job_ids: Callable[[], str] | None = None
    asyncs: AsyncExecutor | None = None
    executors: Mapping[str, Any] = attrs.Factory(dict)  # named ones: Engine(executors=...)
    loops: LoopThreads = attrs.Factory(LoopThreads)

    def executor_for(
        self, entry: RegistryEntry, name: str = ""
    ) -> ThreadExecutor | ProcessExecutor | AsyncExecutor | Faulty:
        """Where an attempt runs: the step's ``executor``, else its component's isolation.

        A test's faults wrap it when any are planted.
        """
        if FAULTS:
            return Faulty(self, self._executor_of(entry, name))
        return self._executor_of(entry, name)

    def _executor_of(
        self, entry: RegistryEntry, name: str = ""
    ) -> ThreadExecutor | ProcessExecutor | AsyncExecutor:
        definition = entry.definition
        if not name and isinstance(definition, ComponentDefinition):
            name = definition.isolation
        if name and name != "thread":
            if name == "process":
                assert self.processes is not None
                return self.processes
            named: ThreadExecutor = self.executors[name]  # checked at validation
            return named
        if entry.is_async and self.asyncs is not None:
            return self.asyncs
        return self.executor

    def publish(self, event: Event) -> None:
        """Publish a lifecycle event."""
        self.events.publish(event)


# spec.key -> (spec, plan). Specs hold dicts, so they are not hashable; the
# identity test makes the common case (the registry's own spec object) O(1).
# Bounded: ad-hoc workflows (execute_step makes one per call) must not pile up.
_PLANS: LRU[str, tuple[WorkflowSpec, Plan]] = LRU(256)


def plan_of(spec: WorkflowSpec) -> Plan:
    """The graph of a workflow, computed once per distinct spec."""
    cached = _PLANS.get(spec.key)
    if cached is not None and (cached[0] is spec or cached[0] == spec):
        return cached[1]
    plan = compile_plan(spec)
    _PLANS[spec.key] = (spec, plan)
    return plan
