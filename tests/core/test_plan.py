import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors_wf import Validator, WorkflowSpec
from actors_wf._core._codec import converter
from actors_wf._core._plan import Ref, RefSyntaxError, compile_plan, iter_refs, parse_ref, resolve


@pytest.mark.parametrize(
    ("text", "ref"),
    [
        ("$inputs.name", Ref("inputs", "name")),
        ("$steps.a.output", Ref("steps", "a")),
        ("$steps.a.output.user.name", Ref("steps", "a", ("user", "name"))),
        ("plain", None),
        ("$$inputs.name", None),
    ],
)
def test_parse_ref(text, ref):
    assert parse_ref(text) == ref
    if ref is not None:
        assert str(ref) == text


@pytest.mark.parametrize(
    "text", ["$inputs", "$inputs.", "$steps.a", "$steps.a.result", "$x.y", "$steps.a.output."]
)
def test_bad_refs_say_how_to_write_one(text):
    with pytest.raises(RefSyntaxError, match=r"write \$inputs.NAME"):
        parse_ref(text)


def test_resolve_walks_lists_and_dicts_and_unescapes():
    value = {"a": ["$inputs.x", {"b": "$steps.s.output.k"}], "c": "$$5", "d": 3}
    assert list(iter_refs(value)) == [Ref("inputs", "x"), Ref("steps", "s", ("k",))]
    assert resolve(value, {"x": 1}, {"s": {"k": "v"}}) == {"a": [1, {"b": "v"}], "c": "$5", "d": 3}


def test_resolve_names_a_missing_field():
    with pytest.raises(LookupError, match="has no field 'nme' \\(did you mean 'name'\\?\\)"):
        resolve("$steps.s.output.nme", {}, {"s": {"name": 1}})
    with pytest.raises(LookupError, match="it is a int"):
        resolve("$steps.s.output.k", {}, {"s": 3})


def test_plan_has_deps_dependants_and_a_topological_order():
    spec = spec_of(
        {
            "id": "w",
            "steps": [
                {
                    "id": "d",
                    "component": "x",
                    "inputs": {"a": "$steps.b.output", "b": "$steps.c.output"},
                },
                {"id": "b", "component": "x", "inputs": {"a": "$steps.a.output"}},
                {"id": "c", "component": "x", "depends_on": ["a"]},
                {"id": "a", "component": "x"},
            ],
        }
    )
    plan = compile_plan(spec)
    assert plan.deps["d"] == {"b", "c"}
    assert set(plan.dependants["a"]) == {"b", "c"}
    position = {sid: i for i, sid in enumerate(plan.order)}
    for sid, deps in plan.deps.items():
        assert all(position[d] < position[sid] for d in deps)
    assert plan.ready("b", {"a"}) and not plan.ready("d", {"a", "b"})


def test_a_broken_graph_is_the_validators_to_report():
    spec = spec_of(
        {
            "id": "w",
            "inputs": {"name": "str"},
            "steps": [
                {"id": "a", "component": "x", "inputs": {"v": "$steps.b.output"}},
                {
                    "id": "b",
                    "component": "x",
                    "inputs": {"v": "$steps.a.output", "n": "$inputs.nam"},
                },
                {"id": "b", "component": "x", "depends_on": ["zz"]},
                {"id": "e", "component": "x", "inputs": {"v": "$steps.ee.output"}},
            ],
            "outputs": {"o": "$steps.f.output"},
        }
    )
    with pytest.raises(ValueError, match="'w' was not validated"):
        compile_plan(spec)  # the validator owns these rules; compile_plan only refuses
    problems = {p.code for p in Validator().validate(spec).errors}
    assert {"WF106", "WF205", "WF209"} <= problems


@pytest.mark.parametrize("cycle", [True, False])
def test_a_cycle_is_refused_and_a_dag_is_ordered(cycle):
    b_needs = ["a"] if cycle else []
    spec = spec_of(
        {
            "id": "w",
            "steps": [
                {"id": "a", "component": "x", "inputs": {"v": "$steps.b.output"}},
                {"id": "b", "component": "x", "depends_on": b_needs},
                {"id": "c", "component": "x"},
            ],
        }
    )
    if cycle:
        with pytest.raises(ValueError, match="not validated"):
            compile_plan(spec)
    else:
        assert compile_plan(spec).order == ("b", "c", "a")


def spec_of(data: dict) -> WorkflowSpec:
    """Records straight from the converter: no validation in the way of compile_plan."""
    return converter.structure(data, WorkflowSpec)


_VALUES = st.sampled_from(
    [
        "$inputs.n",
        "$inputs.missing",
        "$steps.a.output",
        "$steps.a.output.user",
        "$steps.gone.output",
        "$$inputs.n",
        "plain",
        3,
        2.5,
        True,
        None,
        ["$inputs.n", 1],
        {"k": "$steps.a.output"},
    ]
)


@given(st.dictionaries(st.text("xyz", min_size=1, max_size=3), _VALUES, max_size=6))
def test_a_steps_compiled_inputs_resolve_as_resolve_does(inputs):
    spec = converter.structure(
        {
            "id": "w",
            "inputs": {"n": {"type": "int"}, "missing": {"type": "int", "default": 0}},
            "steps": [
                {"id": "a", "component": "c.x"},
                {"id": "gone", "component": "c.x"},
                {"id": "b", "component": "c.x", "inputs": inputs},
            ],
        },
        WorkflowSpec,
    )
    plan = compile_plan(spec)
    job_inputs, outputs = {"n": 7}, {"a": {"user": "ada"}}

    got = plan.inputs_of("b", job_inputs, outputs)

    assert got == resolve(spec.steps[2].inputs, job_inputs, outputs)
    for name, value in got.items():  # lists and dicts are the attempt's own
        if isinstance(value, list | dict):
            assert value is not spec.steps[2].inputs[name]


def test_the_one_toposort_orders_first_in_first_out_and_names_what_a_cycle_holds_up():
    from actors_wf._core._graph import toposort

    deps = {"a": [], "b": ["a"], "c": ["a", "elsewhere"], "x": ["y"], "y": ["x"], "z": ["y"]}
    order, stuck = toposort(["a", "b", "c", "x", "y", "z"], deps)
    assert order == ["a", "b", "c"]
    assert stuck == ["x", "y", "z"]  # z waits behind the cycle
