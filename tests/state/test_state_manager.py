import threading

import attrs
import msgpack
import pytest
from hypothesis import given

from actors_wf import (
    InvalidTransition,
    JobNotFound,
    JobStatus,
    Snapshot,
    StaleWrite,
    StateManager,
    StepStatus,
)
from actors_wf._core._records import StepState
from actors_wf._core._status import JobEvent, StepEvent
from actors_wf._state._parts import PartCache
from actors_wf._state._transitions import JournalEntry, Transition, move_job, move_step, replay
from tests.support.strategies import job_states
from tests.support.workflows import new_job


@pytest.fixture
def state():
    manager = StateManager()
    manager.save(new_job())
    yield manager
    manager.close()


def test_update_state_changes_fields_and_journals_status_moves(state):
    updated = state.update_state("j1", {"priority": 7, "status": "QUEUED"})
    assert (updated.priority, updated.status, updated.version) == (7, JobStatus.QUEUED, 2)
    entry = state.history("j1")[-1]
    assert (entry.event, entry.from_status, entry.to_status, entry.cause) == (
        "enqueue",
        "CREATED",
        "QUEUED",
        "update_state",
    )
    step = state.update_state("j1", {"steps.a.status": StepStatus.SKIPPED})
    assert step.steps["a"].status is StepStatus.SKIPPED
    fn = state.update_state("j1", lambda s: attrs.evolve(s, priority=9))
    assert fn.priority == 9


@pytest.mark.parametrize(
    ("update", "error", "fragment"),
    [
        (
            {"status": "COMPLETED"},
            InvalidTransition,
            "job j1 is CREATED and cannot take '-> COMPLETED'",
        ),
        ({"steps.a.status": "SUCCEEDED"}, InvalidTransition, "step 'a' of job j1 is PENDING"),
        ({"priorty": 1}, ValueError, "did you mean 'priority'"),
        ({"steps.zz.status": "READY"}, ValueError, "has no step 'zz'"),
        ({"steps.a.statos": "READY"}, ValueError, "did you mean 'status'"),
        ({"priority": "high"}, TypeError, "expected int"),
        ({"job_id": "x"}, ValueError, "cannot update field 'job_id'"),
        (lambda s: 3, TypeError, "must return the job's JobState"),
    ],
)
def test_bad_updates_are_refused_and_store_nothing(state, update, error, fragment):
    before = state.get("j1")
    with pytest.raises(error, match=None) as info:
        state.update_state("j1", update)
    assert fragment in str(info.value)
    assert state.get("j1") == before


def test_a_transaction_applies_all_or_nothing(state):
    with pytest.raises(InvalidTransition):
        state.update_state("j1", [{"priority": 5}, {"status": "COMPLETED"}], transaction=True)
    assert state.get("j1").priority == 0 and state.get("j1").version == 1
    # without transaction=True the first update stays
    with pytest.raises(InvalidTransition):
        state.update_state("j1", [{"priority": 5}, {"status": "COMPLETED"}])
    assert state.get("j1").priority == 5
    done = state.update_state("j1", [{"priority": 6}, {"status": "QUEUED"}], transaction=True)
    assert done.version == state.get("j1").version


def test_transaction_block_commits_once_and_a_failure_inside_leaves_no_trace(state):
    with state.transaction("j1") as tx:
        tx.update({"priority": 3})
        tx.update({"steps.b.status": "READY"})
        assert state.get("j1").priority == 0  # nothing stored yet
    after = state.get("j1")
    assert (after.priority, after.steps["b"].status, after.version) == (3, StepStatus.READY, 2)
    with pytest.raises(RuntimeError, match="boom"), state.transaction("j1") as tx:
        tx.update({"priority": 99})
        raise RuntimeError("boom")
    assert state.get("j1") == after
    with pytest.raises(StaleWrite), state.transaction("j1") as tx:
        tx.update({"priority": 1})
        state.update_state("j1", {"priority": 2})  # someone else writes meanwhile
    assert state.get("j1").priority == 2
    with state.transaction("j1"):
        pass  # nothing to store
    assert state.get("j1").priority == 2


def test_two_threads_writing_one_job_never_lose_an_update(state):
    barrier = threading.Barrier(4)

    def writer():
        barrier.wait()
        for _ in range(50):
            state.update_state("j1", lambda s: attrs.evolve(s, priority=s.priority + 1))

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.get("j1").priority == 200


def test_stale_save_is_refused(state):
    first = state.get("j1")
    state.update_state("j1", {"priority": 1})
    with pytest.raises(StaleWrite, match="based on version 1 refused, the stored version is 2"):
        state.save(attrs.evolve(first, priority=5))
    with pytest.raises(StaleWrite):
        state.save(new_job())  # a new job whose id is taken


def test_snapshots_restore_and_diff(state):
    snap = state.create_snapshot("j1")
    state.update_state("j1", [{"priority": 4}, {"steps.a.status": "READY"}])
    lines = state.diff(snap, state.create_snapshot("j1"))
    assert "priority: 0 -> 4" in lines
    assert "steps.a.status: PENDING -> READY" in lines
    restored = state.restore_snapshot(Snapshot.from_bytes(snap.to_bytes()))
    assert restored.priority == 0 and restored.steps["a"].status is StepStatus.PENDING
    assert restored.version == 4
    job, steps = replay(["a", "b"], state.history("j1"))
    assert (job, steps["a"]) == (restored.status, restored.steps["a"].status)
    state.update_state("j1", {"status": "QUEUED"})
    with pytest.raises(InvalidTransition, match="restore"):
        state.restore_snapshot(snap)


@given(job_states())
def test_snapshot_bytes_round_trip_loses_nothing(job):
    snap = Snapshot(job.job_id, job.version, 1.5, job)
    assert Snapshot.from_bytes(snap.to_bytes()) == snap
    with pytest.raises(ValueError, match="not a snapshot"):
        Snapshot.from_bytes(snap.to_bytes()[:-3])


def test_a_snapshot_reads_unchanged_parts_once_and_changed_ones_again():
    job = new_job()
    first = Snapshot.from_bytes(Snapshot("j1", 1, 1.0, job).to_bytes())
    moved = job.with_step(attrs.evolve(job.steps["a"], status=StepStatus.READY))
    second = Snapshot.from_bytes(Snapshot("j1", 2, 2.0, moved).to_bytes())
    assert second.state == moved and first.state == job
    assert second.state.steps["b"] is first.state.steps["b"]  # read once, shared
    assert second.state.steps["a"] is not first.state.steps["a"]
    assert second.state.workflow is first.state.workflow


def test_bytes_of_another_layout_or_with_a_damaged_part_are_not_a_snapshot():
    good = msgpack.unpackb(Snapshot("j1", 1, 1.0, new_job()).to_bytes())
    with pytest.raises(ValueError, match="not a snapshot: layout 1, this version reads 2"):
        Snapshot.from_bytes(msgpack.packb([1, *good[1:]]))
    with pytest.raises(ValueError, match="not a snapshot: expected bytes for a StepState"):
        Snapshot.from_bytes(msgpack.packb([*good[:-1], ["a"]]))
    with pytest.raises(ValueError, match="not a snapshot"):
        Snapshot.from_bytes(msgpack.packb([*good[:-1], [b"\x93"]]))


def test_part_caches_are_bounded():
    cache = PartCache(StepState, limit=2)
    steps = [StepState(f"s{i}") for i in range(5)]
    read = [cache.unpack(cache.pack(step)) for step in steps]
    assert read == steps
    assert len(cache._packed) <= 2 and len(cache._read) <= 2


def test_describe_and_history_for_people(state):
    job = state.get("j1")
    job, e1 = move_job(job, JobEvent.ENQUEUE, "start_job")
    job, e2 = move_job(job, JobEvent.START)
    job, e3 = move_step(job, "a", StepEvent.READY)
    state.save(job, [e1, e2, e3])
    text = state.describe("j1")
    assert "job j1" in text and "status    RUNNING" in text and "a [c] READY" in text
    lines = [t.describe() for t in state.history("j1")]
    assert lines[0].endswith("job: CREATED -enqueue-> QUEUED (start_job)")
    assert "step 'a': PENDING -ready-> READY" in lines[-1]
    with pytest.raises(JobNotFound):
        state.history("zz")


def test_journal_entries_are_read_back_as_records_of_their_version(state):
    job, entry = move_job(state.get("j1"), JobEvent.ENQUEUE, "start_job")
    assert type(entry) is JournalEntry
    first = state.save(job, [entry])
    job, moved = move_step(first, "a", StepEvent.READY)  # through step_after's fast path
    second = state.save(job, [moved])
    assert type(moved) is JournalEntry and moved.step_id == "a" and moved.to_status == "READY"
    history = state.history("j1")
    assert all(type(t) is Transition for t in history)
    assert history == [entry.stored(first.version), moved.stored(second.version)]
    assert [(t.event, t.version) for t in history] == [("enqueue", 2), ("ready", 3)]


def test_assert_journal_replays_passes_for_a_real_job_and_names_a_bad_journal(tmp_path):
    from actors_wf import COMPONENT, Engine
    from actors_wf.testing import assert_journal_replays

    with Engine(store=tmp_path / "jobs.db") as engine:
        engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "a", "component": "t.one"}]}
        )
        job = engine.jobs_sync.create_job("one")
        engine.jobs_sync.start_job(job)
        engine.jobs_sync.wait(job, 10)
        assert_journal_replays(engine.state, job)
        # A journal that lost its entries ends at CREATED, not where the job is stored.
        engine.state.store._db.execute("DELETE FROM journal WHERE job_id = ?", (job,))
        with pytest.raises(AssertionError, match="the journal ends"):
            assert_journal_replays(engine.state, job)


def test_a_stopping_owner_leaves_a_later_owner_in_place_and_hands_it_what_waits():
    """A job retried while its last actor stops: the new actor stays its one writer."""
    from actors_wf._state._owners import Owners

    owners = Owners()
    told_old: list[int] = []
    told_new: list[int] = []
    old, new = told_old.append, told_new.append
    owners.own("j", old)
    _, number, future = owners.ask("j", lambda state: state)
    owners.own("j", new)  # the retried job's actor takes over
    owners.disown("j", old)  # the old one stops, after
    assert owners.owned("j") and not future.done()
    assert told_new == [number]  # the new owner serves the update the old one left
    owners.disown("j", new)
    assert not owners.owned("j")
