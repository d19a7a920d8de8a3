"""A process that writes a store until it is killed: purges, or steps with big outputs.

Usage: python -m tests.support.store_worker STORE {purge,big}

Each line it prints names what was committed just before: the test kills it
with SIGKILL after reading some, then checks nothing committed was lost.
"""

import sys

import attrs

from actors_wf import StateManager
from actors_wf._core._status import JobEvent, StepEvent
from actors_wf._state._sqlite import SQLiteStore
from actors_wf._state._transitions import move_job, move_step
from tests.support.workflows import new_job

BIG = 1 << 20


def purge(manager: StateManager) -> None:
    while True:
        deleted = manager.purge(older_than=0, batch=7, max_batches=1)
        print(f"purged {deleted}", flush=True)
        if not deleted:
            return


def big(manager: StateManager) -> None:
    steps = tuple(f"s{i}" for i in range(1000))
    job = manager.save(new_job("big", steps))
    job, entry = move_job(job, JobEvent.ENQUEUE)
    job = manager.save(job, [entry])
    job, entry = move_job(job, JobEvent.START)
    job = manager.save(job, [entry])
    for i, step_id in enumerate(steps):
        job, first = move_step(job, step_id, StepEvent.READY)
        job, second = move_step(job, step_id, StepEvent.START)
        output = f"{i:08d}" + "x" * BIG
        job, third = move_step(job, step_id, StepEvent.SUCCEED, output=output)
        job = manager.save(attrs.evolve(job), [first, second, third])
        print(f"committed {step_id} {job.version}", flush=True)


if __name__ == "__main__":
    manager = StateManager(SQLiteStore(sys.argv[1]))
    print("ready", flush=True)
    {"purge": purge, "big": big}[sys.argv[2]](manager)
