"""StepMap: a job's steps, read-only, with cheap versions that share what did not move."""

from __future__ import annotations

import pickle

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors_wf import JobState, JobStatus, StepState, StepStatus, WorkflowSpec
from actors_wf._core._codec import converter
from actors_wf._core._records import StepMap, step_map
from actors_wf._state._parts import structure_job

statuses = st.sampled_from(list(StepStatus))


def steps_of(n: int, status: StepStatus = StepStatus.PENDING) -> dict[str, StepState]:
    return {f"s{i}": StepState(f"s{i}", status) for i in range(n)}


@given(
    size=st.integers(0, 100),
    changes=st.dictionaries(st.integers(0, 99), statuses, max_size=20),
)
def test_an_update_reads_as_the_dict_with_the_same_update(
    size: int, changes: dict[int, StepStatus]
) -> None:
    plain = steps_of(size)
    moved = {f"s{i}": StepState(f"s{i}", s) for i, s in changes.items() if i < size}
    old = StepMap(plain)

    new = old.updated(moved)

    expected = {**plain, **moved}
    assert dict(new) == expected and new == expected
    assert list(new) == list(expected) and list(new.items()) == list(expected.items())
    assert list(new.values()) == list(expected.values()) and len(new) == size
    assert all(new.get(k) == v and k in new for k, v in expected.items())
    assert old == plain  # the old version is untouched


def test_a_version_shares_the_chunks_it_did_not_change() -> None:
    old = StepMap(steps_of(100))

    new = old.updated({"s50": StepState("s50", StepStatus.READY)})

    shared = [a is b for a, b in zip(old._chunks, new._chunks, strict=True)]
    assert shared.count(False) == 1 and new._where is old._where


def test_it_refuses_writes_unknown_steps_and_hashing() -> None:
    steps = StepMap(steps_of(3))
    with pytest.raises(KeyError):
        steps.updated({"nope": StepState("nope")})
    with pytest.raises(KeyError):
        steps["nope"]
    assert steps.get("nope") is None and steps.get("nope", 5) == 5 and "nope" not in steps
    with pytest.raises(TypeError):
        steps["s0"] = StepState("s0")  # type: ignore[index]
    with pytest.raises(TypeError):
        hash(steps)


def test_equality_repr_and_pickle() -> None:
    steps = StepMap(steps_of(2))
    assert steps == StepMap(steps_of(2)) and steps != StepMap(steps_of(3))
    assert steps == StepMap(reversed(list(steps_of(2).items())))  # as dicts: order aside
    assert steps != {"s0": StepState("s0")} and steps != "s0"
    assert repr(StepMap({"a": StepState("a")})).startswith("StepMap({'a': StepState(")
    assert pickle.loads(pickle.dumps(steps)) == steps


def test_a_job_state_takes_a_dict_and_keeps_a_step_map() -> None:
    spec = WorkflowSpec(id="w", steps=())
    job = JobState("j", spec, JobStatus.CREATED, {}, 0, steps_of(2), 1.0)
    assert type(job.steps) is StepMap and step_map(job.steps) is job.steps
    moved = attrs.evolve(job, steps={**job.steps, "s1": StepState("s1", StepStatus.READY)})
    assert moved.steps["s1"].status is StepStatus.READY and job.steps["s1"].status is not (
        StepStatus.READY
    )


def test_the_codec_carries_it_as_a_plain_mapping() -> None:
    steps = StepMap(steps_of(2, StepStatus.SUCCEEDED))
    plain = converter.unstructure(steps)
    assert plain["s0"]["status"] == "SUCCEEDED"
    assert converter.structure(plain, StepMap) == steps
    spec = WorkflowSpec(id="w", steps=())
    job = structure_job({**_header(), "steps": plain}, spec)
    assert job.steps == steps and type(job.steps) is StepMap


def _header() -> dict[str, object]:
    return {"job_id": "j", "status": "RUNNING", "inputs": {}, "priority": 0, "created_at": 1.0}


def test_moved_and_next_version_name_a_field_they_cannot_change() -> None:
    with pytest.raises(TypeError, match="status"):
        StepState("a").moved(StepStatus.READY, status=StepStatus.FAILED)
    job = JobState("j", WorkflowSpec(id="w", steps=()), JobStatus.CREATED, {}, 0, {}, 1.0)
    assert job.next_version(priority=3) == attrs.evolve(job, priority=3, version=1)
    with pytest.raises(TypeError, match="version"):
        job.next_version(version=7)


def test_moving_one_step_of_a_job_shares_the_others():
    job = JobState(
        "j", WorkflowSpec(id="w", steps=()), JobStatus.FAILED, {}, 0, steps_of(100), 1.0
    )

    moved = job.with_step(StepState("s40", StepStatus.CANCELLED))

    assert moved.steps["s40"].status is StepStatus.CANCELLED
    assert moved.steps._where is job.steps._where  # not a new map of every step
    pairs = zip(job.steps._chunks, moved.steps._chunks, strict=True)
    assert sum(a is not b for a, b in pairs) == 1
