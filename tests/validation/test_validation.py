import re
from pathlib import Path

import pytest

from actors_wf import COMPONENT, Engine, Validator, WorkflowInvalid
from actors_wf._validation._problems import CATALOGUE

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "invalid"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
EXPECT = re.compile(r"^# expect: (WF\d+) (\S+) line (\d+) hint: ?(.*)$")


def test_every_code_has_a_fixture_and_an_up_to_date_doc_entry():
    fixtures = {p.stem for p in FIXTURES.glob("WF???.yaml")}
    assert fixtures == set(CATALOGUE)
    variants = {p.stem.split("_")[0] for p in FIXTURES.glob("WF???_*.yaml")}
    assert variants <= set(CATALOGUE)
    documented = set(re.findall(r"^## (WF\d+)", DOCS.read_text(), re.M))
    assert documented == set(CATALOGUE)
    from docs.make_errors import page

    assert DOCS.read_text() == page(), "docs/errors.md is stale: run python docs/make_errors.py"


@pytest.mark.parametrize("fixture", sorted(FIXTURES.glob("*.yaml")), ids=lambda p: p.stem)
def test_fixture_yields_its_code_at_its_path_line_and_hint(validator, fixture):
    code, path, line, hint = EXPECT.match(fixture.read_text().splitlines()[0]).groups()
    result = validator.validate(fixture)
    found = [p for p in result.problems if p.code == code]
    assert found, validator.get_visual_report(result, color=False)
    problem = found[0]
    assert (problem.where, problem.line) == (path, int(line)), problem
    assert hint in problem.hint
    other_errors = {p.code for p in result.errors} - {code}
    assert not other_errors, validator.get_visual_report(result, color=False)
    assert result.ok is (CATALOGUE[code][0] == "warning")


TEN_MISTAKES = """\
id: ten
inputs:
  name: str
  unused: int
steps:
  - id: greet
    component: text.greet
    inputs: {name: $inputs.nam}
  - id: shout
    component: text.uper
    inputs: {text: $steps.greet.output}
  - id: repeat
    component: text.repeat
    inputs: {txt: hi, times: "2"}
  - id: count
    component: text.count
    inputs: {text: $steps.repet.output}
    timeout: -5
  - id: pick
    component: text.repeat
    inputs: {text: $steps.count.output.wrds, times: $steps.greet.output}
    depends_on: [gret]
outputs:
  a: $steps.pick.output
  b: $steps.shout.output
"""


def test_ten_distinct_mistakes_make_ten_problems_in_one_result(validator):
    result = validator.validate(TEN_MISTAKES)
    codes = sorted(p.code for p in result.problems)
    assert codes == sorted(
        [
            "WF301",  # unused input
            "WF204",  # $inputs.nam
            "WF201",  # text.uper
            "WF202",  # txt (the missing 'text' it stands for is not reported twice)
            "WF208",  # "2" for an int
            "WF205",  # repet
            "WF104",  # timeout -5
            "WF206",  # wrds
            "WF207",  # str into int
            "WF209",  # gret
        ]
    ), validator.get_visual_report(result, color=False)
    assert all(p.line is not None for p in result.problems)


def test_every_cycle_is_written_out(validator):
    result = validator.validate(
        {
            "id": "c",
            "steps": [
                {"id": "a", "component": "text.upper", "inputs": {"text": "$steps.b.output"}},
                {
                    "id": "b",
                    "component": "text.upper",
                    "inputs": {"text": "$steps.a.output"},
                    "depends_on": ["c"],
                },
                {"id": "c", "component": "text.upper", "inputs": {"text": "$steps.b.output"}},
                {
                    "id": "d",
                    "component": "text.upper",
                    "inputs": {"text": "x"},
                    "depends_on": ["d"],
                },
            ],
        }
    )
    cycles = sorted(p.message for p in result.problems if p.code == "WF210")
    assert cycles == [
        "steps form a cycle: a -> b -> a",
        "steps form a cycle: b -> c -> b",
        "steps form a cycle: d -> d",
    ]


def test_a_valid_workflow_has_no_problem_and_gives_its_records(validator):
    validator.registry.register(COMPONENT, "text.summary", None, lambda quiet, loud: {})
    result = validator.validate(Path(__file__).resolve().parents[2] / "examples" / "hello.yaml")
    assert result.ok and result.problems == ()
    assert result.spec.id == "hello"
    assert len(result.spec.steps) == 4


def test_without_a_registry_only_structure_and_graph_are_checked():
    result = Validator().validate({"id": "w", "steps": [{"id": "a", "component": "nowhere"}]})
    assert result.ok


def test_create_job_refuses_an_invalid_workflow_before_any_step_runs():
    ran = []
    with Engine() as engine:
        engine.registry.register(COMPONENT, "t.ran", None, lambda: ran.append(1))
        engine.registry.register_workflow(
            {
                "id": "w",
                "steps": [
                    {"id": "a", "component": "t.ran"},
                    {"id": "b", "component": "t.nope", "inputs": {"x": "$steps.a.output"}},
                ],
            }
        )
        with pytest.raises(WorkflowInvalid) as info:
            engine.run("w")
        assert "error[WF201]: no component 't.nope' is registered" in str(info.value)
        assert ran == []
        # the cached result is refreshed when the registry changes
        engine.registry.register(COMPONENT, "t.nope", None, lambda x: x)
        engine.run("w", timeout=10)
    assert ran == [1]


def test_register_workflow_refuses_a_broken_graph(engine):
    with pytest.raises(WorkflowInvalid, match="WF210"):
        engine.registry.register_workflow(
            {"id": "w", "steps": [{"id": "a", "component": "x", "depends_on": ["a"]}]}
        )


def test_structure_errors_of_many_kinds_are_all_found(validator):
    result = validator.validate(
        {
            "id": 7,
            "version": 1.5,
            "inputs": {"n": {"type": "int", "defualt": 1}, "m": 3},
            "steps": [
                {"id": "a", "component": "text.upper", "inputs": [1]},
                "oops",
                {"id": "b", "component": "text.upper", "depends_on": "a", "retry": "x"},
            ],
            "outputs": [],
        }
    )
    got = sorted((p.code, p.where) for p in result.errors)
    assert got == sorted(
        [
            ("WF103", "id"),
            ("WF103", "version"),
            ("WF102", "inputs.n.defualt"),
            ("WF103", "inputs.m"),
            ("WF103", "steps[0].inputs"),
            ("WF103", "steps[1]"),
            ("WF103", "steps[2].depends_on"),
            ("WF103", "steps[2].retry"),
            ("WF103", "outputs"),
            ("WF203", "steps[2].inputs"),
        ]
    )
    assert (
        Validator().validate({"id": "x"}).errors[0].message == "required field 'steps' is missing"
    )
    assert Validator().validate({"id": "x", "steps": {}}).errors[0].code == "WF103"


def test_a_workflow_registered_from_a_file_is_reported_in_that_file_at_run_time(engine, tmp_path):
    path = tmp_path / "later.yaml"
    path.write_text("id: later\nsteps:\n  - id: a\n    component: later.one\n")
    engine.registry.register_workflow(path)
    with pytest.raises(WorkflowInvalid) as info:
        engine.run("later", {})
    result = info.value.result
    assert result.source_name == str(path)
    [problem] = result.errors
    assert (problem.code, problem.line, problem.column) == ("WF201", 4, 16)
    assert f"{path}:4:16" in str(info.value)


def test_a_record_with_no_text_is_named_by_its_id(engine):
    engine.registry.register_workflow(
        {"id": "bare", "steps": [{"id": "a", "component": "nowhere.x"}]}
    )
    with pytest.raises(WorkflowInvalid) as info:
        engine.run("bare", {})
    assert info.value.result.source_name == "<workflow 'bare'>"
