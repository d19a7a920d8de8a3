"""Hypothesis strategies shared by the tests."""

from __future__ import annotations

import time

from hypothesis import strategies as st

from actors_wf import Attempt, ErrorInfo, JobState, JobStatus, StepState, StepStatus, WorkflowSpec
from actors_wf._core._spec import StepSpec

ids = st.text("abcdefghij_", min_size=1, max_size=8)


def plain_data(
    *, nan: bool = False, text: int = 20, items: int = 4, keys: int = 8, leaves: int = 10
) -> st.SearchStrategy[object]:
    """Nested plain data msgpack carries (NaN only when asked: it never equals itself)."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers(-(2**63), 2**63 - 1)
        | st.floats(allow_nan=nan)
        | st.text(max_size=text)
        | st.binary(max_size=text),
        lambda inner: (
            st.lists(inner, max_size=items)
            | st.dictionaries(st.text(max_size=keys), inner, max_size=items)
        ),
        max_leaves=leaves,
    )


plain = plain_data()
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
