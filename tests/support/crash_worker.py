"""Runs the 20-step crash chain (or the 30-item map) on a SQLite store until the test kills it.

Usage: python -m tests.support.crash_worker STORE [map]
"""

import sys

from actors_wf import Engine
from tests.components.crash import chain, fan


def main(store: str, which: str = "chain") -> None:
    with Engine(store=store, components=["tests.components.crash"]) as engine:
        if which == "map":
            engine.registry.register_workflow(fan())
            print("ready", flush=True)
            engine.run("crash_map", {"ns": list(range(30))}, timeout=60)
        else:
            engine.registry.register_workflow(chain())
            print("ready", flush=True)
            engine.run("crash_chain", timeout=60)
        print("finished", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:])
