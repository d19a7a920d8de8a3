"""Start-up: what a cold process pays to import actors_wf, and for `actors-wf validate`.

The baseline is the import of the libraries actors_wf stands on (attrs,
cattrs, msgpack, pykka, yaml), in the same rounds, so the ratios hold while
the machine's speed drifts. Bars (issue 18): ``import actors_wf`` at most
2x the baseline; ``actors-wf validate`` of a small file at most 3x.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from ._harness import Row, interleaved, summarise

ACTORS_WF = Path(sys.executable).with_name("actors-wf")
ROUNDS = 15
SMALL = """\
id: small
inputs: {name: str}
steps:
  - {id: greet, component: text.greet, inputs: {name: $inputs.name}}
  - {id: shout, component: text.upper, inputs: {text: $steps.greet.output}}
outputs: {loud: $steps.shout.output}
"""


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        small = Path(folder) / "small.yaml"
        small.write_text(SMALL)
        commands = {
            "libraries": [sys.executable, "-c", "import attrs, cattrs, msgpack, pykka, yaml"],
            "import actors_wf": [sys.executable, "-c", "import actors_wf"],
            "import actors_wf; Engine()": [
                sys.executable,
                "-c",
                "import actors_wf\nwith actors_wf.Engine(): pass",
            ],
            "validate": [str(ACTORS_WF), "validate", str(small), "--color", "never"],
            "python -c pass": [sys.executable, "-c", "pass"],
        }
        times = interleaved([_runner(c) for c in commands.values()], ROUNDS)
    base = ("libraries", times[0])
    named = dict(zip(commands, times, strict=True))
    return [
        summarise("import attrs, cattrs, msgpack, pykka, yaml", named["libraries"]),
        summarise("import actors_wf", named["import actors_wf"], baseline=base, bar="2x"),
        summarise("import actors_wf; with Engine(): pass", named["import actors_wf; Engine()"],
                  baseline=base),
        summarise("actors-wf validate small.yaml (2 steps)", named["validate"], baseline=base,
                  bar="3x"),
        summarise("python -c pass", named["python -c pass"], baseline=base),
    ]  # fmt: skip


def _runner(command: list[str]) -> object:
    # validate exits 1 (the components are not imported): the time is what counts
    return lambda: subprocess.run(command, capture_output=True, check=False)
