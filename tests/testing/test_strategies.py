"""The strategies: valid workflows validate, their inputs are taken, broken ones say their code."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors_wf import Engine, JobStatus
from actors_wf.testing import strategies as aws
from actors_wf.testing._engine import register
from tests.testing.components import COMPONENTS


def _engine() -> Engine:
    engine = Engine()
    register(engine, COMPONENTS, [])
    return engine


def test_generated_workflows_validate_and_their_inputs_are_taken():
    with _engine() as engine:

        @settings(max_examples=100, deadline=None)
        @given(case=aws.workflows(COMPONENTS, max_steps=8).flatmap(aws.with_inputs))
        def check(case):
            spec, inputs = case
            result = engine.validator.validate(spec)
            assert result.ok, result.problems
            engine.registry.register_workflow(spec, replace=True)
            job = engine.jobs_sync.create_job(spec["id"], inputs)
            assert engine.jobs_sync.get_job(job).status is JobStatus.CREATED

        check()


@pytest.mark.parametrize("wanted", aws.BREAKS)
def test_each_broken_workflow_gets_the_code_it_was_broken_with(wanted):
    with _engine() as engine:

        @settings(max_examples=15, deadline=None)
        @given(case=aws.broken_workflows(COMPONENTS, codes=[wanted]))
        def check(case):
            spec, code = case
            codes = {p.code for p in engine.validator.validate(spec).errors}
            assert code == wanted and code in codes, (code, codes, spec)

        check()


def test_broken_workflows_know_their_codes():
    with pytest.raises(ValueError, match="WF999"):
        aws.broken_workflows(COMPONENTS, codes=["WF999"])


@given(value=aws.values_of("{n: int, tags: list[str], note: str | None}"))
def test_values_of_a_type_fit_it(value):
    from actors_wf._core._types import parse_type

    assert parse_type("{n: int, tags: list[str], note: str | None}").problem(value) is None


@given(cmds=aws.commands(jobs=2))
def test_commands_are_known_ones_on_known_jobs(cmds):
    assert all(c in aws.COMMANDS and 0 <= j < 2 for c, j in cmds)


def test_workflows_need_a_component():
    with pytest.raises(ValueError, match="at least one component"):
        aws.workflows({})


@given(st.data())
def test_inputs_for_a_spec_record_leave_defaults_out_sometimes(data):
    from actors_wf import load_workflow

    spec = load_workflow(
        {
            "id": "w",
            "inputs": {"a": "int", "b": {"type": "str", "default": "x"}},
            "steps": [{"id": "s", "component": "t.add", "inputs": {"a": 1, "b": 2}}],
        }
    )
    inputs = data.draw(aws.inputs_for(spec))
    assert isinstance(inputs["a"], int) and set(inputs) <= {"a", "b"}
