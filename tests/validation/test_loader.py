import json
from pathlib import Path

import pytest

from actors_wf import (
    InputSpec,
    RetryPolicy,
    SpecError,
    WorkflowInvalid,
    WorkflowSpec,
    load_workflow,
)
from actors_wf._validation._definitions import load_definition

HELLO = """
id: hello
version: 2
inputs:
  name: {type: str}
  times: {type: int, default: 2}
  loud: bool
steps:
  - id: greet
    component: text.greet
    inputs: {name: $inputs.name}
    retry: {max_attempts: 3, initial_interval: 0.05, backoff_coefficient: 2.0}
    timeout: 10
outputs:
  message: $steps.greet.output
"""


def test_yaml_loads_into_frozen_records():
    spec = load_workflow(HELLO)
    assert spec.key == "hello@2"
    assert spec.inputs["times"] == InputSpec(type="int", default=2, required=False)
    assert spec.inputs["name"].required
    assert spec.inputs["loud"] == InputSpec(type="bool")
    step = spec.step("greet")
    assert step.retry == RetryPolicy(
        max_attempts=3, initial_interval=0.05, backoff_coefficient=2.0
    )
    assert step.timeout == 10.0
    with pytest.raises(KeyError):
        spec.step("nope")


def test_json_dict_and_files_load_the_same(tmp_path):
    spec = load_workflow(HELLO)
    data = {
        "id": "hello",
        "version": 2,
        "inputs": {
            "name": {"type": "str"},
            "times": {"type": "int", "default": 2},
            "loud": "bool",
        },
        "steps": [
            {
                "id": "greet",
                "component": "text.greet",
                "inputs": {"name": "$inputs.name"},
                "retry": {"max_attempts": 3, "initial_interval": 0.05, "backoff_coefficient": 2.0},
                "timeout": 10,
            }
        ],
        "outputs": {"message": "$steps.greet.output"},
    }
    assert load_workflow(data) == spec
    assert load_workflow(json.dumps(data)) == spec
    path = tmp_path / "hello.json"
    path.write_text(json.dumps(data))
    assert load_workflow(path) == spec
    assert load_workflow(spec) is spec


def test_a_str_is_text_never_a_file_name_and_the_error_says_how_to_read_a_file(tmp_path):
    secret = tmp_path / "secret.yaml"
    secret.write_text("password: hunter2\n")
    with pytest.raises(WorkflowInvalid) as info:
        load_workflow(str(secret))  # once read as a file, and its line quoted
    report = str(info.value)
    assert "hunter2" not in report
    assert f"pass Path({str(secret)!r})" in report


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("id: [", [("WF001", "$", 2)]),
        ("- a\n- b\n", [("WF003", "$", 1)]),
        ({"steps": []}, [("WF101", "id", None)]),
        (
            {"id": "w", "steps": [{"id": "a", "componet": "x"}]},
            [("WF101", "steps[0].component", None), ("WF102", "steps[0].componet", None)],
        ),
        (
            {"id": "w", "steps": [{"id": "a", "component": "x", "timeout": [30]}]},
            [("WF103", "steps[0].timeout", None)],
        ),
        (
            {"id": "w", "steps": [{"id": "a", "component": "x", "timeout": "soon"}]},
            [("WF104", "steps[0].timeout", None)],
        ),
        (
            {"id": "w", "steps": [{"id": "a", "component": "x", "retry": {"jitter": 2}}]},
            [("WF104", "steps[0].retry.jitter", None)],
        ),
        (
            {"id": "w", "steps": [], "inputs": {"n": {"type": "nope"}}},
            [("WF105", "inputs.n", None)],
        ),
    ],
)
def test_malformed_specs_name_every_problem_and_where(source, expected):
    with pytest.raises(WorkflowInvalid) as info:
        load_workflow(source)
    got = sorted((p.code, p.where, p.line) for p in info.value.result.errors)
    assert got == sorted(expected)
    assert isinstance(info.value, SpecError)


def test_missing_file_is_reported():
    with pytest.raises(SpecError, match="cannot read workflow file 'missing.yaml'"):
        load_workflow(Path("missing.yaml"))


def test_a_file_that_is_not_a_workflow_file_is_never_quoted(tmp_path):
    env = tmp_path / ".env"
    env.write_text("- DB_PASSWORD=hunter2\n")
    with pytest.raises(WorkflowInvalid) as info:
        load_workflow(env)
    assert "WF003" in str(info.value) and "hunter2" not in str(info.value)


def test_definitions_load_from_dicts():
    assert load_definition(None).isolation == "thread"
    assert load_definition({"timeout": 2}).timeout == 2.0
    with pytest.raises(SpecError, match="component definition is malformed"):
        load_definition({"timeout": "x"})


def test_retry_policy_intervals_grow_and_cap():
    policy = RetryPolicy(max_attempts=5, initial_interval=1, backoff_coefficient=2, max_interval=3)
    assert [policy.interval(n) for n in range(1, 5)] == [1, 2, 3, 3]
    assert isinstance(WorkflowSpec(id="x", steps=()).steps, tuple)


@pytest.mark.parametrize(
    ("written", "seconds"),
    [("30s", 30.0), ("1m", 60.0), ("1h30m", 5400.0), ("500ms", 0.5), ("2d", 172800.0), (45, 45.0)],
)
def test_durations_may_be_written_with_units(written, seconds):
    spec = load_workflow(
        {
            "id": "w",
            "steps": [
                {
                    "id": "a",
                    "component": "x",
                    "timeout": written,
                    "retry": {"max_attempts": 2, "initial_interval": written},
                }
            ],
        }
    )
    assert spec.steps[0].timeout == seconds
    assert spec.steps[0].retry.initial_interval == seconds
