import json
import os
import re
import sys
from pathlib import Path

import pytest

from actors_wf._cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_run_hello_prints_steps_and_outputs(capsys):
    assert main(["run", str(EXAMPLES / "hello.yaml"), "--input", "name=Ada", "-i", "times=3"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines() == [
        "message: 'Hello, Ada! Hello, Ada! Hello, Ada!'",
        "summary: {'quiet': 'Hello, Ada! Hello, Ada! Hello, Ada!', 'loud': 'HELLO, ADA!',"
        " 'words': 8}",
        "words: 8",
    ]
    lines = captured.err.splitlines()
    assert sorted(line.split()[:2] for line in lines[:4]) == [
        ["ok", "greet"],
        ["ok", "repeat"],
        ["ok", "shout"],
        ["ok", "summary"],
    ]
    assert re.fullmatch(r"job \w+ COMPLETED in [\d.]+ (µs|ms|s): 4 succeeded", lines[4])
    assert "\x1b" not in captured.err  # no progress line where stderr is not a terminal


def test_run_json_prints_only_the_outputs(capsys):
    assert main(["run", str(EXAMPLES / "hello.yaml"), "-i", "name=no", "--json"]) == 0
    outputs = json.loads(capsys.readouterr().out)
    assert outputs["message"] == "Hello, no! Hello, no!"  # a str input stays a str


def test_components_module_option(tmp_path, capsys, monkeypatch):
    (tmp_path / "mycomps.py").write_text(
        "from actors_wf import component\n\n"
        "@component('my.twice')\ndef twice(x: int) -> int:\n    return 2 * x\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "id: wf\ninputs: {x: int}\nsteps:\n"
        "  - {id: t, component: my.twice, inputs: {x: $inputs.x}}\n"
        "outputs: {y: $steps.t.output}\n"
    )
    assert main(["run", str(wf), "-c", "mycomps", "-i", "x=21", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"y": 42}


def test_ctrl_c_before_any_job_exits_130_without_a_traceback(tmp_path, capsys, monkeypatch):
    (tmp_path / "slowcomps.py").write_text("raise KeyboardInterrupt  # Ctrl-C while loading\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["run", str(EXAMPLES / "hello.yaml"), "-c", "slowcomps"]) == 130
    err = capsys.readouterr().err
    assert "interrupted" in err and "Traceback" not in err


def test_failures_exit_non_zero_with_a_clear_message(tmp_path, capsys):
    wf = tmp_path / "bad.yaml"
    wf.write_text("id: bad\nsteps:\n  - {id: d, component: t.div}\n")
    (tmp_path / "bad.py").write_text(
        "from actors_wf import component\n\n"
        "@component('t.div')\ndef div() -> int:\n    return 1 // 0\n"
    )
    assert main(["run", str(wf)]) == 1
    err = capsys.readouterr().err
    assert "job failed at step 'd': ZeroDivisionError: integer division or modulo by zero" in err
    assert main(["run", str(tmp_path / "missing.yaml")]) == 2
    assert "cannot read workflow file" in capsys.readouterr().err
    assert main(["run", str(EXAMPLES / "hello.yaml"), "-i", "times=x"]) == 2
    assert "input 'name' (str) is required" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["run", str(EXAMPLES / "hello.yaml"), "-i", "oops"])


def test_validate_exits_0_when_valid_and_1_with_errors(tmp_path, capsys):
    assert main(["validate", str(EXAMPLES / "hello.yaml"), "--components-beside"]) == 0
    assert "workflow 'hello' is valid" in capsys.readouterr().out
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nsteps:\n  - {id: a, component: text.nope}\n")
    assert main(["validate", str(bad), "--color", "never"]) == 1
    out = capsys.readouterr().out
    assert "error[WF201]: no component 'text.nope' is registered" in out
    assert f"--> {bad}:3:24" in out


def test_validate_writes_html_and_json_reports(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nsteps:\n  - {id: a, component: text.nope}\n")
    html_file = tmp_path / "report.html"
    assert main(["validate", str(bad), "--format", "html", "--output", str(html_file)]) == 1
    assert "1 error in workflow 'bad'" in capsys.readouterr().out
    assert "<svg id='dag'" in html_file.read_text()
    assert main(["validate", str(bad), "-f", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["problems"][0]["code"] == "WF201"


def test_run_refuses_an_invalid_workflow_before_any_step(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nsteps:\n  - {id: a, component: text.nope}\n")
    assert main(["run", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "workflow 'bad' has 1 error" in err
    assert "error[WF201]" in err


def test_schema_is_valid_json_schema_that_accepts_the_example(capsys):
    import jsonschema
    import yaml

    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    jsonschema.Draft202012Validator.check_schema(schema)
    checker = jsonschema.Draft202012Validator(schema)
    assert list(checker.iter_errors(yaml.safe_load((EXAMPLES / "hello.yaml").read_text()))) == []
    bad = {"id": "x", "steps": [{"id": "a", "componnt": "c"}]}
    assert {e.validator for e in checker.iter_errors(bad)} == {"additionalProperties", "anyOf"}
    waits = {"id": "x", "steps": [{"id": "a", "wait_for": {"signal": "go", "timeout": "3d"}}]}
    assert list(checker.iter_errors(waits)) == []
    runs = {"id": "x", "steps": [{"id": "a", "workflow": "other", "inputs": {"n": 1}}]}
    assert list(checker.iter_errors(runs)) == []


def test_inspect_shows_a_stored_job_its_history_and_json(tmp_path, capsys):
    from actors_wf import COMPONENT, Engine

    store = tmp_path / "jobs.db"
    with Engine(store=store) as engine:
        engine.registry.register(COMPONENT, "t.inc", None, lambda x: x + 1)
        engine.registry.register_workflow(
            {
                "id": "one",
                "steps": [{"id": "a", "component": "t.inc", "inputs": {"x": 1}}],
                "outputs": {"y": "$steps.a.output"},
            }
        )
        engine.run("one", timeout=10)
        (job,) = engine.jobs_sync.list_jobs()
    assert main(["inspect", job.job_id[:6], "--store", str(store)]) == 0
    out = capsys.readouterr().out
    assert f"job {job.job_id}" in out and "status    COMPLETED" in out
    assert "a [t.inc] SUCCEEDED" in out
    assert main(["inspect", job.job_id, "--store", f"sqlite:///{store}", "--history"]) == 0
    assert "job: RUNNING -complete-> COMPLETED" in capsys.readouterr().out
    assert main(["inspect", job.job_id, "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["outputs"] == {"y": 2}
    assert main(["inspect", job.job_id, "--store", str(store), "--json", "--history"]) == 0
    assert json.loads(capsys.readouterr().out)[-1]["to_status"] == "COMPLETED"
    assert main(["inspect", "zzz", "--store", str(store)]) == 2
    assert "no job 'zzz'" in capsys.readouterr().err
    assert main(["inspect", "x", "--store", str(tmp_path / "none.db")]) == 2
    assert "no store file" in capsys.readouterr().err


def test_an_ambiguous_job_prefix_lists_the_ids_it_begins(tmp_path, capsys):
    from actors_wf import testing

    store = tmp_path / "jobs.db"
    ids = iter(["ab1", "ab2", "c"])
    flow = {"id": "one", "steps": [{"id": "a", "component": "t.inc", "inputs": {"x": 1}}]}
    with testing.engine(
        {"t.inc": lambda x: x + 1}, [flow], store=store, ids=lambda: next(ids)
    ) as e:
        for _ in range(3):
            e.jobs_sync.create_job("one")
    assert main(["inspect", "ab", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert "job id 'ab' is ambiguous: it begins ab1, ab2; give more of it" in err


def test_a_component_module_that_does_not_import_is_named(tmp_path, capsys):
    wf = tmp_path / "wf.yaml"
    wf.write_text("id: wf\nsteps:\n  - {id: a, component: x.y}\n")
    (tmp_path / "wf.py").write_text("def broken(:\n")
    assert main(["run", str(wf)]) == 2
    assert "cannot import components from" in capsys.readouterr().err
    assert main(["run", str(EXAMPLES / "hello.yaml"), "-c", "no.such.module"]) == 2
    assert "cannot import components from no.such.module: ModuleNotFoundError" in (
        capsys.readouterr().err
    )


def test_validate_runs_no_code_beside_the_workflow_unless_asked(tmp_path, capsys):
    wf = tmp_path / "untrusted.yaml"
    wf.write_text("id: untrusted\nsteps:\n  - {id: a, component: evil.thing}\n")
    marker = tmp_path / "ran"
    (tmp_path / "untrusted.py").write_text(
        f"from actors_wf import component\nopen({str(marker)!r}, 'w').close()\n"
        "@component('evil.thing')\ndef thing() -> int:\n    return 1\n"
    )
    assert main(["validate", str(wf), "--color", "never"]) == 1  # evil.thing is unknown
    assert "WF201" in capsys.readouterr().out
    assert not marker.exists()
    assert main(["validate", str(wf), "--components-beside"]) == 0
    assert marker.exists()


def test_inspect_says_whether_a_running_jobs_engine_still_lives(tmp_path, capsys):
    import threading

    from actors_wf import COMPONENT, Engine

    store = tmp_path / "jobs.db"
    entered, gate = threading.Event(), threading.Event()

    def waits() -> int:
        entered.set()
        assert gate.wait(10)
        return 1

    with Engine(store=store) as engine:
        engine.registry.register(COMPONENT, "t.waits", None, waits)
        engine.registry.register_workflow(
            {"id": "w", "steps": [{"id": "a", "component": "t.waits"}]}
        )
        job = engine.jobs_sync.create_job("w")
        engine.jobs_sync.start_job(job)
        assert entered.wait(10)
        assert main(["inspect", job, "--store", str(store)]) == 0
        assert f"engine: pid {os.getpid()} on" in capsys.readouterr().out
        owner = Path(f"{store}-owner")
        record = json.loads(owner.read_text())
        owner.write_text(json.dumps({**record, "started": -1}))  # as if its process had died
        assert main(["inspect", job, "--store", str(store)]) == 0
        assert "interrupted: the engine that ran this job is gone" in capsys.readouterr().out
        gate.set()
        engine.jobs_sync.wait(job, 10)


def test_purge_deletes_finished_jobs_and_is_refused_while_an_engine_owns_the_store(
    tmp_path, capsys
):
    from actors_wf import COMPONENT, Engine

    store = tmp_path / "jobs.db"
    with Engine(store=store) as engine:
        engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "a", "component": "t.one"}]}
        )
        for _ in range(3):
            engine.run("one", timeout=10)
        engine.jobs_sync.create_job("one")
        assert main(["purge", "--store", str(store)]) == 2
        assert "is owned by another engine" in capsys.readouterr().err
    assert main(["purge", "--store", str(store), "--older-than", "3600"]) == 0
    assert "deleted 0 finished job(s)" in capsys.readouterr().out
    assert main(["purge", "--store", f"sqlite:///{store}", "--status", "COMPLETED"]) == 0
    assert "deleted 3 finished job(s)" in capsys.readouterr().out


def test_an_input_value_is_yaml_or_else_the_text_as_it_is():
    from actors_wf._cli_remote import input_value

    assert input_value("3") == 3
    assert input_value("[1, 2]") == [1, 2]
    assert input_value("true") is True
    assert input_value("[") == "["  # not YAML: the text, not a traceback
    assert input_value("a: b: c") == "a: b: c"


def test_validate_without_the_components_says_so_once(tmp_path, capsys):
    workflow = tmp_path / "unimported.yaml"
    steps = "".join(f"  - {{id: s{i}, component: nowhere.c{i}}}\n" for i in range(11))
    workflow.write_text(f"id: unimported\nsteps:\n{steps}")
    assert main(["validate", str(workflow), "--color", "never"]) == 1
    out = capsys.readouterr().out
    assert out.count("error[WF201]") == 1
    assert "none of the 11 components this workflow uses is registered" in out
    assert "-c MODULE" in out


def test_a_process_isolated_component_in_the_file_beside_the_workflow_runs(tmp_path, capsys):
    (tmp_path / "beside.py").write_text(
        "import os\n"
        "from actors_wf import component\n\n"
        "@component('beside.pid', isolation='process')\n"
        "def pid(tag: str) -> dict:\n"
        "    return {'tag': tag, 'pid': os.getpid()}\n"
    )
    workflow = tmp_path / "beside.yaml"
    workflow.write_text(
        "id: beside\nsteps:\n  - {id: a, component: beside.pid, inputs: {tag: hi}}\n"
        "outputs: {out: $steps.a.output}\n"
    )
    assert main(["run", str(workflow), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)["out"]
    assert out["tag"] == "hi"
    assert out["pid"] != os.getpid()


FLAKY = """\
from actors_wf import component

calls = {"n": 0}


@component("cli.flaky")
def flaky() -> str:
    calls["n"] += 1
    if calls["n"] < 3:
        raise ConnectionError("try again")
    return "x" * 500


@component("cli.bad")
def bad() -> int:
    raise ValueError("no")
"""


def _flaky_workflow(tmp_path: Path, fail: bool) -> Path:
    (tmp_path / "flaky.py").write_text(FLAKY)
    workflow = tmp_path / "flaky.yaml"
    steps = [
        "  - {id: first, component: cli.flaky, retry: {max_attempts: 3, initial_interval: 1ms}}",
        "  - {id: second, component: cli.bad, depends_on: [first]}" if fail else "",
        "  - {id: third, component: cli.flaky, depends_on: [first]}",
    ]
    outputs = "outputs: {long: $steps.first.output}\n"
    workflow.write_text("id: flaky\nsteps:\n" + "\n".join(s for s in steps if s) + "\n" + outputs)
    return workflow


def test_run_shows_each_step_with_its_attempts_and_the_steps_that_never_ran(tmp_path, capsys):
    assert main(["run", str(_flaky_workflow(tmp_path, fail=True))]) == 1
    err = capsys.readouterr().err
    assert "retry    first   attempt 1: ConnectionError: try again" in err
    assert "retry    first   attempt 2: ConnectionError: try again" in err
    assert "3 attempts (2 retries)" in err
    assert "FAILED   second" in err
    assert "job failed at step 'second': ValueError: no" in err
    assert " FAILED in " in err


def test_run_cuts_long_outputs_unless_full_and_quiet_prints_only_them(tmp_path, capsys):
    workflow = _flaky_workflow(tmp_path, fail=False)
    assert main(["run", str(workflow)]) == 0
    out = capsys.readouterr().out
    assert "(502 characters; --full shows all)" in out
    assert len(out) < 300
    assert main(["run", str(workflow), "--full"]) == 0
    assert capsys.readouterr().out == f"long: '{'x' * 500}'\n"
    assert main(["run", str(workflow), "--quiet", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == {"long": "x" * 500}
    assert captured.err == ""


def test_run_with_a_store_leaves_a_job_inspect_can_show(tmp_path, capsys):
    store = tmp_path / "jobs.db"
    assert (
        main(["run", str(EXAMPLES / "hello.yaml"), "-i", "name=Ada", "--store", str(store)]) == 0
    )
    err = capsys.readouterr().err
    job_id = err.split("actors-wf inspect ")[1].split()[0]
    assert main(["inspect", job_id[:8], "--store", str(store)]) == 0
    assert "COMPLETED" in capsys.readouterr().out


def test_run_gives_the_engine_the_resources_named(tmp_path, capsys):
    workflow = tmp_path / "gpu.yaml"
    workflow.write_text(
        "id: gpu\nsteps:\n"
        "  - {id: a, component: text.upper, inputs: {text: hi}, resources: {gpu: 2}}\n"
        "outputs: {o: $steps.a.output}\n"
    )
    (tmp_path / "gpu.py").write_text(
        "from actors_wf import component\n\n"
        "@component('text.upper')\ndef upper(text: str) -> str:\n    return text.upper()\n"
    )
    assert main(["run", str(workflow), "--json"]) == 2
    assert "gpu" in capsys.readouterr().err
    assert main(["run", str(workflow), "--json", "-r", "gpu=2"]) == 0
    assert json.loads(capsys.readouterr().out) == {"o": "HI"}
    with pytest.raises(SystemExit, match="NAME=N"):
        main(["run", str(workflow), "-r", "gpu=many"])


def test_graph_draws_the_dag_as_svg_dot_or_html(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    hello = str(EXAMPLES / "hello.yaml")
    assert main(["graph", hello]) == 0
    svg = ET.fromstring(capsys.readouterr().out)
    steps = {g.get("data-step") for g in svg.iter("{http://www.w3.org/2000/svg}g")}
    assert steps == {"greet", "shout", "repeat", "summary"}
    assert svg.find("{http://www.w3.org/2000/svg}style") is not None  # stands alone
    assert main(["graph", hello, "--format", "dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "hello" {')
    assert '"greet" -> "shout";' in dot and '"shout" -> "summary";' in dot
    page = tmp_path / "hello.html"
    assert main(["graph", hello, "-f", "html", "-o", str(page)]) == 0
    assert "<svg id='dag'" in page.read_text()


def test_graph_draws_order_edges_dashed_and_says_when_the_workflow_has_errors(tmp_path, capsys):
    workflow = tmp_path / "order.yaml"
    workflow.write_text(
        "id: order\nsteps:\n  - {id: a, component: x.a}\n"
        "  - {id: b, component: x.b, depends_on: [a], inputs: {v: $steps.c.output}}\n"
        "  - {id: c, component: x.c, inputs: {v: $steps.b.output}}\n"
    )
    assert main(["graph", str(workflow), "-f", "dot"]) == 0
    captured = capsys.readouterr()
    assert '"a" -> "b" [style=dashed];' in captured.out
    assert '"b" -> "c" [color=red];' in captured.out
    assert "1 error" in captured.err
    broken = tmp_path / "broken.yaml"
    broken.write_text("id: [\n")
    assert main(["graph", str(broken)]) == 1
    assert "error[WF001]" in capsys.readouterr().err


def test_list_reads_a_store_without_a_daemon(tmp_path, capsys):
    store = str(tmp_path / "jobs.db")
    hello = str(EXAMPLES / "hello.yaml")
    for name in ("Ada", "Bob"):
        assert main(["run", hello, "-i", f"name={name}", "--store", store, "-q"]) == 0
    capsys.readouterr()
    assert main(["list", "--store", store]) == 0
    rows = capsys.readouterr().out.splitlines()
    assert len(rows) == 2 and all(row.split()[1:] == ["COMPLETED", "hello"] for row in rows)
    assert main(["list", "--store", store, "--json", "--status", "FAILED"]) == 0
    assert json.loads(capsys.readouterr().out) == []


def test_component_import_errors_say_what_to_try(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "needs.py").write_text("import surely_not_installed_here\n")
    (tmp_path / "pkg" / "comps.py").write_text(
        "from actors_wf import component\n\n"
        "@component('cwd.twice')\ndef twice(x: int) -> int:\n    return 2 * x\n"
    )
    hello = str(EXAMPLES / "hello.yaml")
    expected = {
        "nowhere_at_all": f"no nowhere_at_all/ or nowhere_at_all.py in {tmp_path}",
        "pkg.needs": "pkg.needs imports surely_not_installed_here, which is not installed",
        "pkg.absent": "pkg has no module absent (pkg/absent.py)",
        "comps.py": "give a module name (comps), not a file name",
    }
    for module, hint in expected.items():
        assert main(["run", hello, "-c", module]) == 2
        assert hint in capsys.readouterr().err
    workflow = tmp_path / "cwd.yaml"
    workflow.write_text(
        "id: cwd\nsteps:\n  - {id: t, component: cwd.twice, inputs: {x: 4}}\n"
        "outputs: {y: $steps.t.output}\n"
    )
    assert main(["run", str(workflow), "-c", "pkg.comps", "--json"]) == 0  # found from the cwd
    assert json.loads(capsys.readouterr().out) == {"y": 8}


@pytest.mark.parametrize(
    ("example", "inputs", "expected"),
    [
        (
            "map.yaml",
            [],
            {
                "total": 11,
                "first": "document 0 has 4 words",
                "error": {"type": "ValueError", "message": "document 3 is empty"},
            },
        ),
        ("conditions.yaml", ["-i", "score=7"], {"notice": "notice: published with score 7"}),
        ("conditions.yaml", ["-i", "score=2"], {"notice": "notice: not published"}),
        ("subworkflow.yaml", [], {"report": "HELLO, WORLD"}),
    ],
)
def test_the_examples_of_the_workflow_language_run(capsys, example, inputs, expected):
    assert main(["run", str(EXAMPLES / example), *inputs, "--json"]) == 0
    outputs = json.loads(capsys.readouterr().out)
    if example == "map.yaml":
        assert outputs["counts"][3] == {"error": expected.pop("error")}
        assert len(outputs["counts"]) == 5
    for name, value in expected.items():
        assert outputs[name] == value


def test_graph_marks_conditional_edges_maps_and_waits(tmp_path, capsys):
    import xml.etree.ElementTree as ET

    assert main(["graph", str(EXAMPLES / "conditions.yaml"), "-f", "dot"]) == 0
    assert '"check" -> "publish" [label="when"];' in capsys.readouterr().out
    assert main(["graph", str(EXAMPLES / "conditions.yaml")]) == 0
    svg = ET.fromstring(capsys.readouterr().out)
    classes = [p.get("class") for p in svg.iter("{http://www.w3.org/2000/svg}path")]
    assert classes.count("edge conditional") == 1
    waits = tmp_path / "waits.yaml"
    waits.write_text("id: waits\nsteps:\n  - {id: ok, wait_for: {signal: go}}\n")
    assert main(["graph", str(waits), "-f", "dot"]) == 0
    assert 'label="ok\\nwaits for go"' in capsys.readouterr().out


def test_validate_finds_a_child_workflow_beside_the_file(capsys):
    assert main(["validate", str(EXAMPLES / "subworkflow.yaml"), "--components-beside"]) == 0
    assert "workflow 'report' is valid" in capsys.readouterr().out


def test_the_signal_example_runs(tmp_path):
    import subprocess

    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "approval_demo.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "{'published': 'Quarterly report, approved by Ada'}"
