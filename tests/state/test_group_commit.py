"""Group commit: jobs saving at once share one SQLite transaction; each waits for its own."""

import threading

import attrs
import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors_wf import StoreError
from actors_wf._core._status import JobEvent
from actors_wf._state._group_commit import GroupCommit
from actors_wf._state._sqlite import SQLiteStore
from actors_wf._state._transitions import move_job
from tests.support.workflows import new_job

WAIT = 10.0


class _Queue(list):  # type: ignore[type-arg]
    """The writers' queue, which tells the test once ``n`` writes wait in it."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.full = n, threading.Event()

    def append(self, item: object) -> None:
        super().append(item)
        if len(self) >= self.n:
            self.full.set()


def _in_threads(calls):
    """Run each call on a thread of its own; their results (or errors), in order."""
    results: list[object] = [None] * len(calls)

    def run(i, call):
        try:
            results[i] = call()
        except Exception as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    return threads, results


def _join(threads):
    for thread in threads:
        thread.join(WAIT)
        assert not thread.is_alive()


def test_a_lone_write_is_written_at_once_on_its_own_thread():
    seen = []

    def write_batch(items):
        seen.append((list(items), threading.current_thread()))
        return [item * 2 for item in items]

    group = GroupCommit(write_batch)
    assert group.submit(3) == 6
    assert seen == [([3], threading.current_thread())]
    assert (group.batches, group.writes) == (1, 1)


def _behind_a_held_batch(write, first, rest):
    """Submit ``first``, whose batch waits until ``rest`` are queued behind it.

    ``write(items, n)`` writes the ``n``-th batch. Returns the group, the
    batches and each submit's result (or error), ``first``'s first.
    """
    gate, batches = threading.Event(), []

    def write_batch(items):
        batches.append(list(items))
        if len(batches) == 1:
            assert gate.wait(WAIT)
        return write(list(items), len(batches))

    group = GroupCommit(write_batch)
    group._queue = queue = _Queue(len(rest))
    lead, lead_result = _in_threads([lambda: group.submit(first)])
    behind, results = _in_threads([lambda i=i: group.submit(i) for i in rest])
    assert queue.full.wait(WAIT)  # they wait behind the first batch
    gate.set()
    _join(lead + behind)
    return group, batches, lead_result + results


def test_writes_that_arrive_while_a_batch_is_written_share_the_next_one():
    group, batches, results = _behind_a_held_batch(
        lambda items, n: [f"wrote {item}" for item in items], 0, (1, 2, 3)
    )
    assert batches[0] == [0] and sorted(batches[1]) == [1, 2, 3]
    assert results == ["wrote 0", "wrote 1", "wrote 2", "wrote 3"]
    assert (group.batches, group.writes) == (2, 4)


def test_a_failed_batch_fails_each_of_its_writes_and_the_next_batch_is_written():
    def write(items, n):
        if n == 2:
            raise OSError("disk full")
        return ["ok"] * len(items)

    group, _, results = _behind_a_held_batch(write, "a", ("b", "c"))
    assert [type(r) for r in results[1:]] == [OSError, OSError]
    assert group.submit("d") == "ok"  # nobody is left leading a batch that never ends


def _queued(store: SQLiteStore, n: int) -> _Queue:
    queue = _Queue(n)
    store._group._queue = queue
    return queue


def test_jobs_saved_at_once_share_a_transaction_and_each_gets_its_own_answer(tmp_path):
    store = SQLiteStore(tmp_path / "jobs.db")
    jobs = [new_job(f"j{i}") for i in range(5)]
    for job in jobs:
        assert store.commit(job.next_version(), [], None)
    commits: list[str] = []
    store._db.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    stale = attrs.evolve(jobs[4].next_version(), priority=9)  # based on a version it is not at
    moved = [move_job(job.next_version(), JobEvent.ENQUEUE, "start_job") for job in jobs[:4]]
    writes = [lambda s=s, e=e: store.commit(s.next_version(), [e], 1) for s, e in moved]
    taken = new_job("j0", steps=("z",)).next_version()  # an id in use, of another workflow
    queue = _queued(store, 5)
    with store._lock:  # the first write leads and waits here; the rest queue behind it
        first, first_result = _in_threads(writes[:1])
        refused = [lambda: store.commit(stale, [], 5), lambda: store.commit(taken, [], None)]
        rest, results = _in_threads([*writes[1:], *refused])
        assert queue.full.wait(WAIT)
    _join(first + rest)
    assert first_result == [True] and results == [True, True, True, False, False]
    assert len(commits) == 2  # one transaction for the first write, one for the five after
    assert store.commits == (11, 7)  # 5 alone, then 1 alone, then 5 (two refused) in one
    assert store._db.execute("SELECT count(*) FROM workflows").fetchone() == (1,)
    store._db.set_trace_callback(None)
    store.close()
    again = SQLiteStore(tmp_path / "jobs.db")
    assert [again.load(f"j{i}").version for i in range(5)] == [2, 2, 2, 2, 1]
    assert [[t.event for t in again.history(f"j{i}")] for i in range(4)] == [["enqueue"]] * 4
    again.close()


def test_a_batch_the_file_refuses_fails_each_of_its_jobs_and_loses_nothing(tmp_path):
    store = SQLiteStore(tmp_path / "jobs.db")
    jobs = [new_job(f"j{i}") for i in range(3)]
    for job in jobs:
        assert store.commit(job.next_version(), [], None)
    moved = [move_job(job.next_version(), JobEvent.ENQUEUE, "start_job") for job in jobs]
    queue = _queued(store, 2)
    with store._lock:
        first, first_result = _in_threads(
            [lambda: store.commit(moved[0][0].next_version(), [], 1)]
        )
        rest, results = _in_threads(
            [lambda s=s, e=e: store.commit(s.next_version(), [e], 1) for s, e in moved[1:]]
        )
        assert queue.full.wait(WAIT)
        store._db.execute("PRAGMA query_only=1")  # SQLite refuses every write from now
    _join(first + rest)
    assert [type(r) for r in first_result + results] == [StoreError] * 3
    assert "cannot save job j0:" in str(first_result[0])
    assert "cannot save jobs j1, j2" in str(results[0])
    assert [store.load(f"j{i}").version for i in range(3)] == [1, 1, 1]  # nothing half-cached
    store._db.execute("PRAGMA query_only=0")
    state, entry = moved[1]
    assert store.commit(state.next_version(), [entry], 1)  # writable again: it is written
    assert store.load("j1").version == 2
    store.close()


@pytest.mark.parametrize("durability", ["process", "power"])
def test_many_jobs_at_once_on_sqlite_all_complete_with_their_journals(tmp_path, durability):
    from actors_wf import COMPONENT, Engine

    url = f"sqlite:///{tmp_path / 'jobs.db'}?durability={durability}"
    spec = {
        "id": "chain",
        "steps": [
            {"id": "a", "component": "t.inc", "inputs": {"x": "$inputs.x"}},
            {"id": "b", "component": "t.inc", "inputs": {"x": "$steps.a.output"}},
        ],
        "inputs": {"x": {"type": "int"}},
        "outputs": {"x": "$steps.b.output"},
    }
    with Engine(store=url, max_concurrent_jobs=50) as engine:
        engine.registry.register(COMPONENT, "t.inc", None, lambda x: x + 1)
        engine.registry.register_workflow(spec)
        ids = [engine.jobs_sync.create_job("chain", {"x": i}) for i in range(100)]
        for job_id in ids:
            engine.jobs_sync.start_job(job_id)
        finals = [engine.jobs_sync.wait(job_id, WAIT) for job_id in ids]
        figures = engine.metrics()
    # A job's saves: created, queued, running, a's result, b's with the job's end.
    assert figures.store_commits == 500
    assert 0 < figures.store_transactions <= 500
    parsed = {
        family.name: family.samples[0].value
        for family in text_string_to_metric_families(figures.to_prometheus())
        if family.name.startswith("actors_wf_store_")
    }
    assert parsed == {
        "actors_wf_store_commits": 500,
        "actors_wf_store_transactions": figures.store_transactions,
    }
    assert [f.outputs for f in finals] == [{"x": i + 2} for i in range(100)]
    with Engine(store=url) as again:
        assert all(again.jobs_sync.get_job(j).status.value == "COMPLETED" for j in ids)
        assert len(again.state.history(ids[-1])) >= 4  # queued, running, a, b (and completed)


def test_a_memory_store_reports_no_commits():
    from actors_wf import Engine

    with Engine() as engine:
        figures = engine.metrics()
    assert figures.store_commits is None and figures.store_transactions is None
    assert "actors_wf_store_" not in figures.to_prometheus()
