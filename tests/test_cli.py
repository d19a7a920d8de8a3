import json
from pathlib import Path

import pytest

from actors_wf._cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_run_hello_prints_steps_and_outputs(capsys):
    assert main(["run", str(EXAMPLES / "hello.yaml"), "--input", "name=Ada", "-i", "times=3"]) == 0
    out = capsys.readouterr().out
    assert "step greet finished: 'Hello, Ada!'" in out
    assert "message: 'Hello, Ada! Hello, Ada! Hello, Ada!'" in out


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
