"""testing.engine: components and workflows in, a ManualClock, predictable ids, a leak check."""

import threading

import pytest

from actors_wf import Engine, JobStatus, ManualClock, SystemClock, testing
from tests.testing.components import COMPONENTS, add

FLOW = {
    "id": "sum",
    "inputs": {"a": "int", "b": "int"},
    "steps": [{"id": "s", "component": "t.add", "inputs": {"a": "$inputs.a", "b": "$inputs.b"}}],
    "outputs": {"y": "$steps.s.output"},
}
FLOW_YAML = """
id: sum_yaml
inputs: {a: int}
steps:
  - id: s
    component: t.add
    inputs: {a: $inputs.a, b: 1}
outputs: {y: $steps.s.output}
"""


def test_components_and_workflows_of_every_form_are_registered(tmp_path):
    path = tmp_path / "flow.json"
    path.write_text('{"id": "from_file", "steps": [{"id": "s", "component": "t.half", '
                    '"inputs": {"x": 4}}], "outputs": {"y": "$steps.s.output"}}')  # fmt: skip
    components = {**COMPONENTS, "t.add2": (add, {"description": "adds"})}
    with testing.engine(components, [FLOW, FLOW_YAML, path]) as engine:
        assert isinstance(engine, Engine) and isinstance(engine.clock, ManualClock)
        assert engine.run("sum", {"a": 1, "b": 2}, timeout=10) == {"y": 3}
        assert engine.run("sum_yaml", {"a": 1}, timeout=10) == {"y": 2}
        assert engine.run("from_file", timeout=10) == {"y": 2}
        entry = engine.registry.lookup("component", "t.add2")
        assert entry.definition.description == "adds"


def test_components_as_module_paths_import_their_declarations():
    with testing.engine(["tests.components.daemon"], clock=SystemClock()) as engine:
        assert engine.registry.contains("component", "d.inc")
        assert isinstance(engine.clock, SystemClock)


def test_sequential_ids_skip_the_ids_a_store_already_has(tmp_path):
    store = tmp_path / "jobs.db"
    with testing.engine(COMPONENTS, [FLOW], store=store, ids="sequential") as engine:
        first = [engine.jobs_sync.create_job("sum", {"a": 1, "b": 1}) for _ in range(2)]
    with testing.engine(COMPONENTS, [FLOW], store=store, ids="sequential") as engine:
        later = engine.jobs_sync.create_job("sum", {"a": 1, "b": 1})
        assert engine.jobs_sync.get_job(later).status is JobStatus.CREATED
    assert first == ["job-1", "job-2"] and later == "job-3"


def test_ids_must_be_sequential_a_function_or_none():
    with (
        pytest.raises(ValueError, match="'sequential', a function or None"),
        testing.engine(ids="random"),
    ):
        pass
    with testing.engine(COMPONENTS, [FLOW], ids=lambda: "fixed") as engine:
        assert engine.jobs_sync.create_job("sum", {"a": 1, "b": 1}) == "fixed"


def test_a_thread_left_running_fails_the_block_by_name():
    stop = threading.Event()
    leaked = threading.Thread(target=stop.wait, name="left-behind")
    try:
        with (
            pytest.raises(AssertionError, match="thread 'left-behind'"),
            testing.assert_no_leaks(timeout=0.1),
        ):
            leaked.start()
    finally:
        stop.set()
        leaked.join()


def test_a_child_process_left_running_fails_the_block():
    import subprocess
    import sys

    child = None
    try:
        with (
            pytest.raises(AssertionError, match=r"child process \d+"),
            testing.assert_no_leaks(timeout=0.1),
        ):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    finally:
        assert child is not None
        child.kill()
        child.wait()
