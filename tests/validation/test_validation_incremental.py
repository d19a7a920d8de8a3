"""Incremental validation gives exactly the result of a full one."""

import copy

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actors_wf import Engine
from tests.components.fixture import register_fixture_components

COMPONENTS = ["text.greet", "text.upper", "text.repeat", "text.count", "text.nope"]
INPUT_NAMES = ["name", "text", "times", "nme", "extra"]
STEP_IDS = [f"s{i}" for i in range(8)]


@pytest.fixture(scope="module")
def shared_engine():
    """One engine for the module's hypothesis tests: validation only, nothing runs."""
    with Engine() as eng:
        register_fixture_components(eng)
        eng.registry.register_workflow(
            {
                "id": "child",
                "inputs": {"name": "str"},
                "steps": [
                    {"id": "g", "component": "text.greet", "inputs": {"name": "$inputs.name"}}
                ],
                "outputs": {"message": "$steps.g.output"},
            }
        )
        yield eng


def values(ids):
    refs = st.sampled_from([f"$steps.{i}.output" for i in ids] + ["$steps.zz.output"])
    fields = st.sampled_from([f"$steps.{i}.output.words" for i in ids] or ["$steps.s0.output.x"])
    return st.one_of(
        refs,
        fields,
        st.sampled_from(["$inputs.name", "$inputs.times", "$inputs.nam", "$bad"]),
        st.text("abc", max_size=3),
        st.integers(-2, 5),
        st.booleans(),
    )


@st.composite
def steps(draw, ids):
    step = {
        "id": draw(st.sampled_from(ids)),
        "component": draw(st.sampled_from(COMPONENTS)),
        "inputs": draw(st.dictionaries(st.sampled_from(INPUT_NAMES), values(ids), max_size=3)),
    }
    if draw(st.booleans()):
        step["depends_on"] = draw(st.lists(st.sampled_from([*ids, "ghost"]), max_size=2))
    if draw(st.integers(0, 6)) == 0:
        step["timeout"] = draw(st.sampled_from([-1, 5, "x", "30s"]))
    kind = draw(st.integers(0, 9))
    if kind == 0:  # a map, over a list or not
        step["for_each"] = draw(
            st.sampled_from(["$inputs.names", "$inputs.name", "$steps.s0.output", "$bad"])
        )
        step["inputs"]["name"] = draw(st.sampled_from(["$item", "$item.x", "$index"]))
    elif kind == 1:  # a condition, well typed or not
        step["when"] = draw(
            st.sampled_from(
                [
                    "$inputs.times > 1",
                    "$steps.s1.output.words >= 2 and true",
                    "$inputs.name == 3",
                    "$steps.s2.output",
                    "$steps.s0.output >",
                ]
            )
        )
    elif kind == 2:  # a wait, alone or with what it cannot have
        step["wait_for"] = {"signal": "go", "type": draw(st.sampled_from(["any", "str"]))}
        if draw(st.booleans()):
            del step["component"]
            step["inputs"] = {}
    elif kind == 3 and step["inputs"]:
        step["defaults"] = {draw(st.sampled_from(INPUT_NAMES)): "d"}
    elif kind == 4:
        step["inputs"]["text"] = draw(st.sampled_from(["$steps.s0.output[0]", "$inputs.names[1]"]))
    elif kind == 5:  # a child workflow: one that exists, one that does not, or this one
        del step["component"]
        step["workflow"] = draw(st.sampled_from(["child", "nope", "w"]))
    return step


@st.composite
def workflows(draw):
    ids = draw(st.lists(st.sampled_from(STEP_IDS), min_size=1, max_size=6, unique=True))
    wf = {
        "id": "w",
        "inputs": draw(
            st.dictionaries(
                st.sampled_from(["name", "times", "spare", "names"]),
                st.sampled_from(["str", "int", "any", "list[str]"]),
                max_size=3,
            )
        ),
        "steps": [draw(steps(ids)) | {"id": sid} for sid in ids],
    }
    if draw(st.booleans()):
        wf["outputs"] = draw(st.dictionaries(st.sampled_from(["a", "b"]), values(ids), max_size=2))
    return wf


@st.composite
def mutations(draw, wf):
    wf = copy.deepcopy(wf)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(
            st.sampled_from(
                [
                    "component",
                    "input",
                    "rename",
                    "drop",
                    "add",
                    "move",
                    "inputs",
                    "outputs",
                    "timeout",
                ]
            )
        )
        ids = [s["id"] for s in wf["steps"]]
        i = draw(st.integers(0, len(wf["steps"]) - 1)) if wf["steps"] else None
        if kind == "component" and i is not None:
            wf["steps"][i]["component"] = draw(st.sampled_from(COMPONENTS))
        elif kind == "input" and i is not None:
            wf["steps"][i]["inputs"][draw(st.sampled_from(INPUT_NAMES))] = draw(values(ids))
        elif kind == "rename" and i is not None:
            wf["steps"][i]["id"] = draw(st.sampled_from(STEP_IDS))
        elif kind == "drop" and i is not None:
            del wf["steps"][i]
        elif kind == "add":
            wf["steps"].append(draw(steps(ids or ["s0"])))
        elif kind == "move" and i is not None:
            wf["steps"].append(wf["steps"].pop(i))
        elif kind == "inputs":
            wf["inputs"][draw(st.sampled_from(["name", "times", "spare"]))] = "str"
        elif kind == "outputs":
            wf["outputs"] = {"a": draw(values(ids or ["s0"]))}
        elif kind == "timeout" and i is not None:
            wf["steps"][i]["timeout"] = draw(st.sampled_from([-1, 5, "x"]))
    return wf


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_incremental_result_equals_full_result(shared_engine, data):
    validator = shared_engine.validator
    first = data.draw(workflows())
    before = validator.validate(first)
    changed = data.draw(mutations(first))
    full = validator.validate(changed)
    incremental = validator.validate(changed, previous=before)
    assert incremental.problems == full.problems
    assert incremental == full
    again = data.draw(mutations(changed))  # a chain of edits keeps agreeing
    assert validator.validate(again, previous=incremental) == validator.validate(again)


def test_incremental_follows_registry_changes(shared_engine):
    wf = {"id": "w", "steps": [{"id": "a", "component": "text.later", "inputs": {"x": 1}}]}
    before = shared_engine.validator.validate(wf)
    assert [p.code for p in before.errors] == ["WF201"]
    shared_engine.registry.register("component", "text.later", None, lambda x: x)
    try:
        assert shared_engine.validator.validate(wf, previous=before).ok
    finally:
        shared_engine.registry.unregister("component", "text.later")


def test_incremental_from_text_relocates_problems(shared_engine):
    text = "id: w\nsteps:\n  - {id: a, component: text.nope}\n"
    before = shared_engine.validator.validate(text)
    moved = "id: w\n\n\nsteps:\n  - {id: a, component: text.nope}\n"
    after = shared_engine.validator.validate(moved, previous=before)
    assert after.problems[0].line == 5
    assert after == shared_engine.validator.validate(moved)


def test_only_the_changed_step_and_its_readers_are_checked_again(shared_engine, monkeypatch):
    from actors_wf._validation import _incremental

    chain = [{"id": "s0", "component": "text.upper", "inputs": {"text": "x"}}]
    chain += [
        {"id": f"s{i}", "component": "text.upper", "inputs": {"text": f"$steps.s{i - 1}.output"}}
        for i in range(1, 50)
    ]
    wf = {"id": "w", "steps": chain, "outputs": {"o": "$steps.s49.output"}}
    before = shared_engine.validator.validate(wf)
    checked = []
    real = _incremental.check_step
    monkeypatch.setattr(
        _incremental, "check_step", lambda s, *a: checked.append(s.id) or real(s, *a)
    )
    edited = copy.deepcopy(wf)
    edited["steps"][10]["inputs"]["text"] = "y"
    after = shared_engine.validator.validate(edited, previous=before)
    assert sorted(checked) == ["s10", "s11"]
    assert after == shared_engine.validator.validate(edited)
