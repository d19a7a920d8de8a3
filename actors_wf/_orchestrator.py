"""The Orchestrator facade: one step on its own, and the engine's figures."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._core._codec import converter
from ._core._spec import RetryPolicy, StepSpec
from ._observe._metrics import Metrics
from ._registry._entry import WORKFLOW

if TYPE_CHECKING:
    from ._engine import Engine


class Orchestrator:
    """Step-level entry points (``engine.orchestrator``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def execute_step(
        self,
        step: StepSpec | Mapping[str, Any],
        retry_policy: RetryPolicy | Mapping[str, Any] | None = None,
        *,
        timeout: float | None = None,
    ) -> Any:
        """Run one step as a job of its own and return its output.

        Retries, timeouts and isolation apply as in any job.

        Args:
            step: the step (its inputs literal values, as it has no workflow around it).
            retry_policy: overrides the step's and its component's policy.
            timeout: seconds to wait for the result.

        Raises:
            JobFailed: the step failed (after its retries).
            WorkflowInvalid: the step is invalid (unknown component, inputs...).
        """
        spec = step if isinstance(step, StepSpec) else converter.structure(dict(step), StepSpec)
        if retry_policy is not None:
            policy = (
                retry_policy
                if isinstance(retry_policy, RetryPolicy)
                else converter.structure(dict(retry_policy), RetryPolicy)
            )
            spec = attrs.evolve(spec, retry=policy)
        workflow_id = f"_execute_step_{uuid.uuid4().hex}"
        self._engine.registry.register(
            WORKFLOW,
            workflow_id,
            {
                "id": workflow_id,
                "steps": [converter.unstructure(spec)],
                "outputs": {"output": f"$steps.{spec.id}.output"},
            },
        )
        try:
            return self._engine.run(workflow_id, timeout=timeout)["output"]
        finally:
            self._engine.registry.unregister(WORKFLOW, workflow_id)

    def collect_metrics(self) -> Metrics:
        """Jobs by status, steps by outcome, timings per component, throughput."""
        return self._engine.metrics()


class ComponentExecutor:
    """Call one registered component with inputs (``engine.component_executor``).

    The call goes through the whole machinery — input and output type checks,
    the component's isolation, retries and timeouts — as a one-step job.
    """

    def __init__(self, orchestrator: Orchestrator) -> None:
        self._orchestrator = orchestrator

    def execute(
        self, component: str, inputs: Mapping[str, Any] | None = None, timeout: float | None = None
    ) -> Any:
        """Run ``component`` with ``inputs`` and return its output.

        Raises:
            JobFailed: the call failed (its error's kind is a :class:`FailureKind`:
                inputs or output that do not fit, the component's own error, a timeout).
            WorkflowInvalid: no such component, or inputs it does not take.
        """
        step: dict[str, Any] = {"id": "call", "component": component, "inputs": dict(inputs or {})}
        if timeout is not None:
            step["timeout"] = timeout
        return self._orchestrator.execute_step(step)
