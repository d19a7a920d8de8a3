"""Records: what an error keeps of an exception; evolve, the engine's cheaper attrs.evolve."""

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors_wf import ErrorInfo, JobStatus
from actors_wf._core._records import evolve
from tests.support.strategies import job_states


def test_an_exception_with_no_message_is_recorded_with_what_it_means():
    assert ErrorInfo.from_exception(MemoryError()).message == "out of memory (MemoryError)"
    assert ErrorInfo.from_exception(KeyError()).message == "KeyError (no message)"
    assert ErrorInfo.from_exception(ValueError("x")).message == "x"


@given(job_states(), st.sampled_from(list(JobStatus)), st.integers(0, 100))
def test_evolve_makes_what_attrs_evolve_makes(state, status, priority):
    changed = evolve(state, status=status, priority=priority)
    assert changed == attrs.evolve(state, status=status, priority=priority)
    assert evolve(state) == state and evolve(state) is not state
    assert type(changed.steps) is type(state.steps)  # the converter ran as attrs runs it


def test_evolve_refuses_a_field_the_record_does_not_have():
    with pytest.raises(TypeError, match="ErrorInfo has no field 'kind'"):
        evolve(ErrorInfo("E", "m"), kind="x")


@attrs.frozen
class _Private:
    _hidden: int
    shown: int = 0


def test_a_record_whose_init_differs_from_its_fields_is_evolved_by_attrs():
    assert evolve(_Private(1), shown=2) == _Private(1, 2)  # __init__ takes "hidden", not "_hidden"
