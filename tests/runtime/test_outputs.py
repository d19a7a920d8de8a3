"""An output that is not plain data fails its step alike in a thread and in a process."""

import pytest

from actors_wf import COMPONENT, Engine, JobStatus, StepStatus
from actors_wf._core._plain import MAX_DEPTH, plain_problem
from tests.components import isolated as comps

WAIT = 30.0


@pytest.fixture(params=["thread", "process"])
def engine_setup(request):
    def setup(eng: Engine) -> None:
        eng.registry.register(COMPONENT, "c.bad", {"isolation": request.param}, comps.bad_output)
        eng.registry.register(COMPONENT, "c.double", {"isolation": request.param}, comps.double)
        eng.registry.register_workflow(
            """
id: bad
inputs: {kind: str}
steps:
  - {id: s, component: c.bad, inputs: {kind: $inputs.kind}}
  - {id: after, component: c.double, inputs: {x: 1}}
"""
        )

    return setup


@pytest.mark.parametrize(
    ("kind", "fragment"),
    [
        ("int_keys", "output has a key 1 that is not a str"),
        ("set", "output is of type 'set'"),
        ("cycle", "output[0] refers back to itself (a cycle)"),
        ("deep", f"nested deeper than {MAX_DEPTH} levels"),
    ],
)
def test_a_bad_output_fails_that_step_only_with_the_same_words_in_every_mode(
    engine, kind, fragment
):
    job = engine.jobs_sync.create_job("bad", {"kind": kind})
    engine.jobs_sync.start_job(job)
    state = engine.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.FAILED
    assert state.error is not None
    assert (state.error.type, state.error.step_id) == ("ComponentOutputError", "s")
    assert state.error.message.startswith("step 's' (c.bad): ")
    assert fragment in state.error.message
    assert state.steps["s"].status is StepStatus.FAILED
    assert not any(s.status is StepStatus.RUNNING for s in state.steps.values())


@pytest.mark.parametrize(
    "value",
    [None, True, 1, -(2**63), 2**64 - 1, 1.5, "s", b"b", [1, (2, 3)], {"a": {"b": [None]}}],
)
def test_plain_data_passes(value):
    assert plain_problem(value) is None


def test_an_int_msgpack_cannot_carry_is_refused():
    assert plain_problem(2**64) == "output is an int beyond 64 bits"
