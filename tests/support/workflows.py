"""Small workflows and job records the tests share."""

import time
from typing import Any

from actors_wf import Engine, JobState, JobStatus, WorkflowSpec
from actors_wf._core._records import StepState
from actors_wf._core._spec import StepSpec


def one_step(engine: Engine, component: str, inputs: dict | None = None, **step: Any) -> str:
    """Register (again) a workflow of one step ``s`` running ``component``; its output is ``out``.

    Extra step keys (``timeout``, ``retry``, ...) go on the step; the id tells them apart.
    """
    wf = f"wf_{component}_{len(step)}"
    engine.registry.register_workflow(
        {
            "id": wf,
            "steps": [{"id": "s", "component": component, "inputs": inputs or {}, **step}],
            "outputs": {"out": "$steps.s.output"},
        },
        replace=True,
    )
    return wf


def one_input(
    wf_id: str, component: str, name: str, kind: str = "int", output: str | None = None
) -> dict[str, Any]:
    """One step ``s`` given the job's input ``name``; ``output`` names its result."""
    spec: dict[str, Any] = {
        "id": wf_id,
        "inputs": {name: kind},
        "steps": [{"id": "s", "component": component, "inputs": {name: f"$inputs.{name}"}}],
    }
    if output is not None:
        spec["outputs"] = {output: "$steps.s.output"}
    return spec


def new_job(job_id: str = "j1", steps: tuple[str, ...] = ("a", "b")) -> JobState:
    """A CREATED job record of a workflow ``w`` whose steps run component ``c``."""
    spec = WorkflowSpec(id="w", steps=tuple(StepSpec(s, "c") for s in steps))
    return JobState(
        job_id=job_id,
        workflow=spec,
        status=JobStatus.CREATED,
        inputs={},
        priority=0,
        steps={s: StepState(s) for s in steps},
        created_at=time.time(),
    )
