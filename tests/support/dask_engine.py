"""An engine on a Dask cluster in a process of its own, for the test that kills it.

Usage: python -m tests.support.dask_engine STORE SCHEDULER COUNTER HOLD

Runs a -> b -> c of ``dask_steps.counted``, b held on its worker while the
file HOLD exists, and prints ``held b`` once b has been launched; the test
then kills this process.
"""

import sys
import threading

from actors_wf import COMPONENT, DaskExecutor, Engine, EventKind
from tests.components import dask_steps


def chain(counter: str) -> dict:
    """The three-step chain; b waits while the file named by the input ``hold`` exists."""
    steps, after = [], []
    for name in "abc":
        inputs = {"name": name, "counter": counter, "hold": "$inputs.hold"}
        steps.append({"id": name, "component": "d.count", "inputs": inputs, "depends_on": after})
        after = [name]
    return {"id": "chain", "inputs": {"hold": {"type": "str"}}, "steps": steps}


def engine(store: str, scheduler: str, **options) -> Engine:
    """An engine on the store, its dask steps on the scheduler's cluster."""
    made = Engine(store=store, executors={"dask": DaskExecutor(scheduler)}, **options)
    made.registry.register(COMPONENT, "d.count", {"isolation": "dask"}, dask_steps.counted)
    return made


def main(store: str, scheduler: str, counter: str, hold: str) -> None:
    held = threading.Event()

    def watch(event) -> None:
        if event.kind is EventKind.STEP_STARTED and event.step_id == "b":
            held.set()

    running = engine(store, scheduler)
    running.subscribe(watch)
    running.registry.register_workflow(chain(counter))
    running.jobs_sync.create_job("chain", {"hold": hold}, start=True)
    held.wait(60)
    print("held b", flush=True)
    threading.Event().wait()  # until killed


if __name__ == "__main__":
    main(*sys.argv[1:5])
