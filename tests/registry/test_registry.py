import logging

import pytest

from actors_wf import (
    COMPONENT,
    WORKFLOW,
    ComponentDefinition,
    ComponentNotFound,
    DuplicateComponent,
    Engine,
    SpecError,
    WorkflowSpec,
    component,
)


def double(x: int) -> int:
    return 2 * x


def test_register_and_lookup_reads_types_from_annotations(engine):
    entry = engine.registry.register(COMPONENT, "math.double", None, double)
    assert entry.definition.inputs == {"x": "int"}
    assert entry.definition.output == "int"
    assert engine.registry.lookup(COMPONENT, "math.double") is entry
    assert entry.required_inputs == frozenset({"x"})


def test_definition_given_by_hand_wins_over_annotations(engine):
    defn = {"inputs": {"x": "float"}, "output": "float", "description": "twice", "timeout": 5}
    entry = engine.registry.register(COMPONENT, "math.double", defn, double)
    assert entry.definition == ComponentDefinition(
        inputs={"x": "float"}, output="float", description="twice", timeout=5.0
    )


def test_lookup_of_missing_id_names_type_and_closest_ids(engine):
    with pytest.raises(ComponentNotFound) as info:
        engine.registry.lookup(COMPONENT, "math.ad")
    assert info.value.suggestions[0] == "math.add"
    assert "no component 'math.ad' is registered; did you mean 'math.add'" in str(info.value)
    assert isinstance(info.value, LookupError)


def test_register_twice_raises_unless_replace(engine):
    with pytest.raises(DuplicateComponent, match="replace=True"):
        engine.registry.register(COMPONENT, "math.add", None, double)
    entry = engine.registry.register(COMPONENT, "math.add", None, double, replace=True)
    assert engine.registry.lookup(COMPONENT, "math.add").implementation is double
    assert entry.implementation is double


def test_replace_invalidates_the_cache(engine):
    first = engine.registry.lookup(COMPONENT, "math.add")
    engine.registry.register(COMPONENT, "math.add", None, double, replace=True)
    assert engine.registry.lookup(COMPONENT, "math.add") is not first


def test_unregister_removes_and_invalidates(engine):
    engine.registry.lookup(COMPONENT, "math.inc")
    engine.registry.unregister(COMPONENT, "math.inc")
    assert not engine.registry.contains(COMPONENT, "math.inc")
    with pytest.raises(ComponentNotFound):
        engine.registry.unregister(COMPONENT, "math.inc")


def test_list_and_contains(engine):
    engine.registry.register_workflow({"id": "w", "steps": [{"id": "a", "component": "math.inc"}]})
    ids = [(e.component_type, e.component_id) for e in engine.registry.list()]
    assert ids == sorted(ids)
    assert (WORKFLOW, "w") in ids
    assert [e.component_id for e in engine.registry.list(WORKFLOW)] == ["w"]
    assert engine.registry.contains(COMPONENT, "math.add")
    assert not engine.registry.contains(COMPONENT, "nope")


@pytest.mark.parametrize(
    ("definition", "fragment"),
    [
        ({"inputs": {"x": "integer"}}, "unknown type 'integer'"),
        ({"timeout": -1}, "timeout must be a positive number"),
        ({"isolation": ""}, "Length of 'isolation' must be >= 1"),
        ({"retry": {"max_attempts": 0}}, "max_attempts"),
        ({"timout": 3}, "unknown field 'timout' (did you mean 'timeout'"),
        ({"inputs": {"y": "int"}}, "input 'y' is declared but double() takes no such argument"),
        ({"description": 3}, "expected str, got int"),
    ],
)
def test_malformed_definition_is_rejected_with_the_field(engine, definition, fragment):
    with pytest.raises(SpecError) as info:
        engine.registry.register(COMPONENT, "math.double", definition, double)
    assert fragment in str(info.value)


def test_bad_component_type_and_implementation(engine):
    with pytest.raises(ValueError, match="unknown component type 'widget'"):
        engine.registry.register("widget", "x", None, double)
    with pytest.raises(ValueError, match="unknown component type"):
        engine.registry.lookup("widget", "x")
    with pytest.raises(SpecError, match="implementation"):
        engine.registry.register(COMPONENT, "x", None, None)
    with pytest.raises(SpecError, match="expected a function"):
        engine.registry.register(COMPONENT, "x", None, 42)
    with pytest.raises(SpecError, match="non-empty"):
        engine.registry.register(COMPONENT, "", None, double)

    class NoRun:
        pass

    with pytest.raises(SpecError, match=r"run\(\) method"):
        engine.registry.register(COMPONENT, "x", None, NoRun)


def test_class_component_takes_types_from_run(engine):
    class Scale:
        def run(self, x: float, factor: float = 2.0) -> float:
            return x * factor

    entry = engine.registry.register(COMPONENT, "math.scale", None, Scale)
    assert entry.definition.inputs == {"x": "float", "factor": "float"}
    assert entry.required_inputs == frozenset({"x"})


def test_registry_decorator_registers_on_this_registry(engine):
    @engine.registry.component("text.shout", description="loud")
    def shout(text: str, ctx=None) -> str:
        return text.upper()

    entry = engine.registry.lookup(COMPONENT, "text.shout")
    assert entry.takes_context
    assert entry.definition.inputs == {"text": "str"}
    assert entry.definition.description == "loud"


def test_module_level_decorator_is_found_by_every_engine():
    @component("test.declared", timeout=3)
    def declared(x: int) -> int:
        return x

    for _ in range(2):
        with Engine() as eng:
            assert eng.registry.contains(COMPONENT, "test.declared")
            entry = eng.registry.lookup(COMPONENT, "test.declared")
            assert entry.definition.timeout == 3.0
            eng.registry.unregister(COMPONENT, "test.declared")
            assert not eng.registry.contains(COMPONENT, "test.declared")
            with pytest.raises(ComponentNotFound):
                eng.registry.unregister(COMPONENT, "test.declared")
    with Engine() as eng:  # unregistering in one engine leaves the declaration for others
        eng.registry.unregister(COMPONENT, "test.declared")  # declared, never looked up
        assert not eng.registry.contains(COMPONENT, "test.declared")


def test_decorator_refuses_a_bad_definition_at_import_time():
    with pytest.raises(SpecError, match="isolation"):

        @component("test.bad", isolation="")
        def bad() -> None:
            return None


def test_workflow_register_accepts_every_source_kind(engine, tmp_path):
    text = "id: wf\nsteps:\n  - {id: a, component: math.inc, inputs: {x: 1}}\n"
    path = tmp_path / "wf.yaml"
    path.write_text(text)
    sources = [
        text,
        path,
        {"id": "wf", "steps": [{"id": "a", "component": "math.inc"}]},
    ]
    for source in sources:
        entry = engine.registry.register(WORKFLOW, None, source, replace=True)
        assert isinstance(entry.definition, WorkflowSpec)
        assert entry.component_id == "wf"
    entry = engine.registry.register(WORKFLOW, "renamed", text)
    assert entry.definition.id == "renamed"
    assert engine.registry.register_workflow(path=str(path), replace=True) == "wf"
    with pytest.raises(TypeError, match="a source or path=, not both or neither"):
        engine.registry.register_workflow()


def test_register_and_unregister_are_logged(engine, caplog):
    with caplog.at_level(logging.INFO, logger="actors_wf.registry"):
        engine.registry.register(COMPONENT, "math.double", None, double)
        engine.registry.unregister(COMPONENT, "math.double")
    messages = [r.getMessage() for r in caplog.records]
    assert "registered component 'math.double'" in messages
    assert "unregistered component 'math.double'" in messages


def test_a_missing_workflow_is_a_workflow_not_found_and_still_a_component_not_found(engine):
    from actors_wf import ComponentNotFound, WorkflowNotFound

    with pytest.raises(WorkflowNotFound, match="no workflow 'nope' is registered") as info:
        engine.run("nope")
    assert isinstance(info.value, ComponentNotFound) and info.value.code == "not_found"
    with pytest.raises(ComponentNotFound) as missing:
        engine.registry.lookup(COMPONENT, "nope")
    assert not isinstance(missing.value, WorkflowNotFound)


def test_a_declared_component_is_listed_before_a_lookup_and_found_without_a_logged_traceback(
    caplog,
):
    from actors_wf._registry._declare import DECLARED

    @component("test.listed")
    def listed(x: int) -> int:
        return x

    try:
        with Engine() as eng:
            caplog.set_level(logging.INFO)
            ids = [e.component_id for e in eng.registry.list(COMPONENT)]
            assert "test.listed" in ids
            assert eng.registry.lookup(COMPONENT, "test.listed").implementation is listed
            with pytest.raises(ComponentNotFound, match="test.listd"):
                eng.registry.lookup(COMPONENT, "test.listd")
        assert not [r for r in caplog.records if r.exc_info], "a lookup logged a traceback"
    finally:
        DECLARED.pop((COMPONENT, "test.listed"))
