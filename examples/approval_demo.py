"""Start the approval workflow, send it the signal it waits for, print its outputs.

Run: python examples/approval_demo.py
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import approval  # noqa: E402, F401 - registers docs.draft and docs.publish

from actors_wf import Engine  # noqa: E402


def main() -> None:
    with Engine() as engine:
        engine.registry.register_workflow(HERE / "approval.yaml")
        job = engine.jobs_sync.create_job("approval", {}, start=True)
        # The job now waits, holding no thread; a person (or a program) approves:
        engine.jobs_sync.signal(job, "approval", {"by": "Ada", "ok": True})
        print(engine.jobs_sync.wait(job, timeout=10).outputs)


if __name__ == "__main__":
    main()
