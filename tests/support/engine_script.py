"""An engine in a process of its own, for tests that kill it or let it exit unclosed.

Usage: python -m tests.engine_script STORE PID_FILE {orphan,unclosed}

- orphan: runs one process-mode step that writes its worker's pid to PID_FILE
  and runs until killed; the test kills this engine with SIGKILL.
- unclosed: runs a job, leaves a thread-mode step hanging, and exits without
  closing the engine.
"""

import sys
import threading

from actors_wf import COMPONENT, Engine
from tests.components import isolated as isolated_components


def _hang() -> None:
    threading.Event().wait()


def main(store: str, pid_file: str, mode: str) -> None:
    engine = Engine(store=store)
    engine.registry.register(
        COMPONENT, "p.once", {"isolation": "process"}, isolated_components.one_at_a_time
    )
    engine.registry.register(COMPONENT, "t.hang", None, _hang)
    engine.registry.register_workflow(
        {
            "id": "once",
            "steps": [{"id": "s", "component": "p.once", "inputs": {"pid_file": pid_file}}],
        }
    )
    engine.registry.register_workflow(
        {"id": "hang", "steps": [{"id": "s", "component": "t.hang"}]}
    )
    if mode == "orphan":
        engine.jobs_sync.start_job(engine.jobs_sync.create_job("once"))
        threading.Event().wait()  # until killed
    engine.jobs_sync.start_job(engine.jobs_sync.create_job("hang"))
    print("leaving", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:4])
