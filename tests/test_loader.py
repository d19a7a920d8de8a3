import json

import pytest

from actors_wf import InputSpec, RetryPolicy, SpecError, WorkflowSpec, load_workflow
from actors_wf._loader import load_definition

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
    assert load_workflow(str(path)) == spec
    assert load_workflow(spec) is spec


@pytest.mark.parametrize(
    ("source", "fragments"),
    [
        ("id: [", ["<text>:1:6 is not valid YAML", "expected"]),
        ("- a\n- b\n", ["must be a mapping", "got list"]),
        ({"steps": []}, ["required field missing @ $.id"]),
        (
            {"id": "w", "steps": [{"id": "a", "componet": "x"}]},
            [
                "unknown field 'componet' (did you mean 'component'?) @ $.steps[0]",
                "required field missing @ $.steps[0].component",
            ],
        ),
        (
            {"id": "w", "steps": [{"id": "a", "component": "x", "timeout": "soon"}]},
            ["expected float, got str 'soon' @ $.steps[0].timeout"],
        ),
        (
            {"id": "w", "steps": [{"id": "a", "component": "x", "retry": {"jitter": 2}}]},
            ["'jitter' must be <= 1: 2.0 @ $.steps[0].retry"],
        ),
        (
            {"id": "w", "steps": [], "inputs": {"n": {"type": "nope"}}},
            ["unknown type 'nope'", "$.inputs['n']"],
        ),
    ],
)
def test_malformed_specs_name_every_problem_and_where(source, fragments):
    with pytest.raises(SpecError) as info:
        load_workflow(source)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_missing_file_is_reported():
    with pytest.raises(SpecError, match="cannot read workflow file 'missing.yaml'"):
        load_workflow("missing.yaml")


def test_definitions_load_from_dicts():
    assert load_definition(None).isolation == "thread"
    assert load_definition({"timeout": 2}).timeout == 2.0
    with pytest.raises(SpecError, match="component definition is malformed"):
        load_definition({"timeout": "x"})


def test_retry_policy_intervals_grow_and_cap():
    policy = RetryPolicy(max_attempts=5, initial_interval=1, backoff_coefficient=2, max_interval=3)
    assert [policy.interval(n) for n in range(1, 5)] == [1, 2, 3, 3]
    assert isinstance(WorkflowSpec(id="x", steps=()).steps, tuple)
