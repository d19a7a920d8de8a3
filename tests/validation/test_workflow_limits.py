"""Inputs that cost too much are refused at once with a located error, never a traceback."""

import pytest

from actors_wf import Engine, Validator, WorkflowInvalid, WorkflowLimits


def bomb(levels: int) -> str:
    """A YAML "billion laughs": ``levels`` anchors, each nine aliases of the one before."""
    lines = [
        "id: laughs",
        'l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]',
    ]
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]")
    lines.append("steps: []")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("levels", [9, 10])
def test_an_alias_bomb_is_refused_before_it_is_expanded(levels):
    text = bomb(levels)
    assert len(text) < 700  # a few hundred bytes standing for 9**levels values
    result = Validator().validate(text)
    (problem,) = result.problems
    assert problem.code == "WF004"
    assert "2,000,000 (max_nodes)" in problem.message
    assert problem.line is not None


def test_a_self_referencing_alias_is_a_located_error():
    (problem,) = Validator().validate("id: x\nsteps: &s [*s]\n").problems
    assert (problem.code, problem.where, problem.line) == ("WF005", "steps[0]", 2)


@pytest.mark.parametrize("depth", [100, 995, 999])
@pytest.mark.parametrize("style", ["flow", "block"])
def test_deep_nesting_is_a_located_error(depth, style):
    if style == "flow":
        text = "id: deep\nsteps: []\nx: " + "[" * depth + "]" * depth + "\n"
    else:
        text = "id: deep\nsteps: []\nx:\n" + "".join("  " * i + "-\n" for i in range(1, depth))
    (problem,) = Validator().validate(text).problems
    assert problem.code == "WF004"
    assert "(max_depth)" in problem.message and problem.line is not None


def test_bytes_that_are_not_utf8_are_a_located_error(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes("id: caf\u00e9\nsteps:\n  - id: \u00e9\n".encode("latin-1"))
    (problem,) = Validator().validate(path).problems
    assert (problem.code, problem.line, problem.column) == ("WF001", 1, 8)
    assert "byte 0xe9" in problem.message and "UTF-8" in problem.hint


def test_the_limits_are_settings(tmp_path):
    limits = WorkflowLimits(max_bytes=200, max_steps=2)
    three = {"id": "three", "steps": [{"id": f"s{i}", "component": "x"} for i in range(3)]}
    with Engine(workflow_limits=limits) as engine:
        with pytest.raises(WorkflowInvalid, match=r"3 steps; the limit is 2 \(max_steps\)"):
            engine.registry.register_workflow(three)
        big = tmp_path / "big.yaml"
        big.write_text("id: big\nsteps: []\n# " + "x" * 300 + "\n")
        with pytest.raises(WorkflowInvalid, match=r"the limit is 200 \(max_bytes\)"):
            engine.registry.register_workflow(path=big)
        (problem,) = engine.validator.validate(big.read_text()).problems
        assert problem.code == "WF004"
    # Raised, the same bomb passes a validator given room for it (it is a setting).
    tight = WorkflowLimits(max_nodes=50)
    assert [p.code for p in Validator(limits=tight).validate(bomb(3)).problems] == ["WF004"]
    assert "WF004" not in {p.code for p in Validator().validate(bomb(3)).problems}


def test_the_engines_default_limits_leave_a_large_workflow_alone():
    steps = [{"id": f"s{i}", "component": "x"} for i in range(10_000)]
    result = Validator().validate({"id": "wide", "steps": steps})
    assert not any(p.code == "WF004" for p in result.problems)
