"""Runs the 20-step crash chain on a SQLite store until the test kills it.

Usage: python -m tests.crash_worker STORE
"""

import sys

from actors_wf import Engine
from tests.components.crash import chain


def main(store: str) -> None:
    with Engine(store=store, components=["tests.components.crash"]) as engine:
        engine.registry.register_workflow(chain())
        print("ready", flush=True)
        engine.run("crash_chain", timeout=60)
        print("finished", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
