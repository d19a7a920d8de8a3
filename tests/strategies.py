"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

import time

from hypothesis import strategies as st

from actors_wf import Attempt, ErrorInfo, JobState, JobStatus, StepState, StepStatus, WorkflowSpec
from actors_wf._spec import StepSpec

ids = st.text("abcdefghij_", min_size=1, max_size=8)
plain = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.binary(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=10,
)
errors = st.builds(
    ErrorInfo,
    type=ids,
    message=st.text(max_size=30),
    traceback=st.text(max_size=30),
    step_id=st.none() | ids,
)
attempts = st.builds(
    Attempt,
    number=st.integers(1, 5),
    started_at=st.floats(0, 2e9),
    finished_at=st.none() | st.floats(0, 2e9),
    error=st.none() | errors,
)


@st.composite
def job_states(draw: st.DrawFn, max_steps: int = 6) -> JobState:
    step_ids = draw(st.lists(ids, min_size=1, max_size=max_steps, unique=True))
    spec = WorkflowSpec(id=draw(ids), steps=tuple(StepSpec(s, "c.x") for s in step_ids))
    steps = {
        s: StepState(
            s,
            draw(st.sampled_from(StepStatus)),
            tuple(draw(st.lists(attempts, max_size=3))),
            draw(plain),
            draw(st.none() | errors),
        )
        for s in step_ids
    }
    return JobState(
        job_id=draw(ids),
        workflow=spec,
        status=draw(st.sampled_from(JobStatus)),
        inputs=draw(st.dictionaries(ids, plain, max_size=3)),
        priority=draw(st.integers(-100, 100)),
        steps=steps,
        created_at=time.time(),
        outputs=draw(st.none() | st.dictionaries(ids, plain, max_size=3)),
        error=draw(st.none() | errors),
        version=draw(st.integers(0, 100)),
    )
