import json
import shutil
import sqlite3
import time
from pathlib import Path

import attrs
import pytest

from actors_wf import (
    COMPONENT,
    Engine,
    JobFailed,
    JobStatus,
    StateManager,
    StepStatus,
    StoreCorrupt,
    StoreError,
)
from actors_wf._core._codec import converter
from actors_wf._core._records import Attempt
from actors_wf._core._status import JobEvent, StepEvent
from actors_wf._state._sqlite import SQLiteStore, open_store
from actors_wf._state._sqlite_schema import _SCHEMA_V1, SCHEMA_VERSION
from actors_wf._state._transitions import move_job, move_step, replay
from tests.support.workflows import new_job

WAIT = 10.0


def test_states_and_journal_survive_reopening(tmp_path):
    path = tmp_path / "jobs.db"
    manager = StateManager(SQLiteStore(path))
    job = manager.save(new_job())
    job, entry = move_job(job, JobEvent.ENQUEUE, "start_job")
    job = manager.save(job, [entry])
    manager.close()
    again = StateManager(open_store(f"sqlite:///{path}"))
    assert again.get("j1") == job
    assert [(t.event, t.version) for t in again.history("j1")] == [("enqueue", 2)]
    assert [j.job_id for j in again.list_jobs()] == ["j1"]
    assert again.find("zz") is None
    again.close()


def test_a_stale_write_is_refused_by_the_file_itself(tmp_path):
    manager = StateManager(SQLiteStore(tmp_path / "jobs.db"))
    first = manager.save(new_job())
    manager.update_state("j1", {"priority": 3})
    assert not manager.store.commit(attrs.evolve(first, version=2), [], 1)
    assert not manager.store.commit(new_job(), [], None)  # the id exists
    assert manager.get("j1").priority == 3
    manager.close()


def test_durability_modes_and_urls(tmp_path):
    power = open_store(f"sqlite:///{tmp_path / 'p.db'}?durability=power")
    assert power.durability == "power"
    assert power._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert power._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    power.close()
    default = open_store(tmp_path / "d.db")
    assert default._db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    default.close()
    with pytest.raises(ValueError, match="unknown durability 'fast'"):
        SQLiteStore(tmp_path / "x.db", durability="fast")
    with pytest.raises(ValueError, match="unknown store 'postgres://x'"):
        open_store("postgres://x")
    with pytest.raises(ValueError, match="unknown store option 'mode'"):
        open_store(f"sqlite:///{tmp_path / 'y.db'}?mode=1")


def test_a_file_from_a_newer_schema_is_refused(tmp_path):
    path = tmp_path / "jobs.db"
    SQLiteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(StoreError, match="schema version 99, written by a newer actors_wf"):
        SQLiteStore(path)


STORES = Path(__file__).resolve().parents[1] / "fixtures" / "stores"


# Step fields added after schema 2 was written, with the defaults an old step reads as.
_NEWER_STEP_FIELDS = {
    "for_each": None,
    "max_parallel": None,
    "on_item_failure": "fail_job",
    "when": None,
    "defaults": {},
    "wait_for": None,
    "executor": None,
    "workflow": None,
}
# Job fields added after schema 2 was written, with the values an old job reads as.
_NEWER_JOB_FIELDS = {"signals": {}, "parent_job_id": None, "parent_step_id": None, "children": {}}


def _plain(value: object) -> object:
    plain = json.loads(json.dumps(value, default=repr))
    for name, default in _NEWER_JOB_FIELDS.items():
        if isinstance(plain, dict) and plain.get(name, default) == default:
            plain.pop(name, None)
    for step in _steps_of(plain):
        for name, default in _NEWER_STEP_FIELDS.items():
            if step.get(name, default) == default:
                step.pop(name, None)
    states = plain.get("steps") if isinstance(plain, dict) else None
    for state in states.values() if isinstance(states, dict) else ():
        for attempt in state.get("attempts", ()):
            if attempt.get("worker") is None:  # newer than schema 2: the Dask worker
                attempt.pop("worker", None)
    return plain


def _steps_of(plain: object) -> list[dict[str, object]]:
    workflow = plain.get("workflow") if isinstance(plain, dict) else None
    steps = workflow.get("steps") if isinstance(workflow, dict) else None
    return steps if isinstance(steps, list) else []


def _v2_copy(tmp_path: Path) -> Path:
    """A store written by the code of schema 2 (tests/fixtures/stores, made by that code)."""
    path = tmp_path / "jobs.db"
    shutil.copy(STORES / "v2.db", path)
    return path


def test_a_file_written_by_schema_2_code_is_migrated_and_reads_the_same(tmp_path):
    path = _v2_copy(tmp_path)
    expected = json.loads((STORES / "v2.json").read_text())
    manager = StateManager(SQLiteStore(path))
    try:
        assert manager.store._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        for job_id, state in expected["states"].items():
            assert _plain(converter.unstructure(manager.get(job_id))) == state
            history = [converter.unstructure(t) for t in manager.history(job_id)]
            assert _plain(history) == expected["history"][job_id]
        assert manager.counts() == {"COMPLETED": 3, "FAILED": 1, "CREATED": 1, "RUNNING": 1}
        (running,) = manager.unfinished()
        assert running.steps["w"].status is StepStatus.RUNNING
        newest = [j.status for j in manager.list_jobs(limit=2)]
        assert newest == [JobStatus.RUNNING, JobStatus.CREATED]
    finally:
        manager.close()
    with Engine(store=path) as engine:  # and an engine recovers its running job
        engine.registry.register(COMPONENT, "t.wait", None, lambda: True)
        engine.registry.register(COMPONENT, "t.inc", None, lambda x: x + 1)
        (job,) = engine.recover()
        assert engine.jobs_sync.wait(job, 10).status is JobStatus.COMPLETED


def test_a_file_of_schema_1_is_migrated_with_its_journal_in_order(tmp_path):
    path = _v2_copy(tmp_path)
    with sqlite3.connect(path, isolation_level=None) as db:  # back to the journal of schema 1
        history = db.execute("SELECT * FROM journal ORDER BY job_id, version, n").fetchall()
        db.execute("ALTER TABLE journal RENAME TO journal_new")
        _create_v1_journal(db)
        db.execute(
            "INSERT INTO journal (job_id, version, at, step_id, event, from_status, to_status, "
            "cause) SELECT job_id, version, at, step_id, event, from_status, to_status, cause "
            "FROM journal_new ORDER BY job_id, version, n"
        )
        db.execute("DROP TABLE journal_new")
        db.execute("PRAGMA user_version = 1")
    again = SQLiteStore(path)
    try:
        assert again._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        rows = again._db.execute("SELECT * FROM journal ORDER BY job_id, version, n").fetchall()
        assert rows == history
    finally:
        again.close()


def _create_v1_journal(db: sqlite3.Connection) -> None:
    for statement in _SCHEMA_V1:
        if "journal" in statement:
            db.execute(statement)


def test_corrupt_truncated_and_foreign_files_are_reported(tmp_path):
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StoreCorrupt, match="not a usable SQLite database"):
        SQLiteStore(garbage)
    path = tmp_path / "jobs.db"
    manager = StateManager(SQLiteStore(path))
    for i in range(50):
        manager.save(new_job(f"job{i}"))
    manager.close()
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(StoreCorrupt):
        StateManager(SQLiteStore(path)).list_jobs()
    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as db:
        db.execute("CREATE TABLE t (x)")
    with pytest.raises(StoreCorrupt, match="not an actors_wf store"):
        SQLiteStore(foreign)


def test_an_unreadable_state_row_names_the_job(tmp_path):
    path = tmp_path / "jobs.db"
    manager = StateManager(SQLiteStore(path))
    manager.save(new_job())
    manager.close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE jobs SET state = x'c1'")
    with pytest.raises(StoreCorrupt, match="the state of job j1 cannot be read"):
        StateManager(SQLiteStore(path)).get("j1")


CALLS: list[str] = []


def counted(name: str):
    def run(x: int) -> int:
        CALLS.append(name)
        return x + 1

    return run


CHAIN = {
    "id": "chain3",
    "inputs": {"x": "int"},
    "steps": [
        {"id": "a", "component": "t.a", "inputs": {"x": "$inputs.x"}},
        {"id": "b", "component": "t.b", "inputs": {"x": "$steps.a.output"}},
        {"id": "c", "component": "t.c", "inputs": {"x": "$steps.b.output"}},
    ],
    "outputs": {"x": "$steps.c.output"},
}


def register_chain(engine):
    for name in "abc":
        engine.registry.register(COMPONENT, f"t.{name}", None, counted(name))
    engine.registry.register_workflow(CHAIN)


def interrupted_job(path, status=JobStatus.RUNNING):
    """A store as a killed engine leaves it: a done, b running, c pending."""
    with Engine(store=path) as engine:
        register_chain(engine)
        spec = engine.registry.lookup("workflow", "chain3").definition
    manager = StateManager(SQLiteStore(path))
    from actors_wf._runtime._job_manager_actor import new_job_state

    job = manager.save(attrs.evolve(new_job_state(spec, {"x": 1}, 50), job_id="crashed"))
    entries = []
    for event in (JobEvent.ENQUEUE, JobEvent.START):
        job, e = move_job(job, event)
        entries.append(e)
    for step_id, events in (("a", ("ready", "start", "succeed")), ("b", ("ready", "start"))):
        for name in events:
            job, e = move_step(job, step_id, StepEvent(name))
            entries.append(e)
    job = job.with_step(
        attrs.evolve(job.steps["a"], output=2, attempts=(Attempt(1, time.time(), time.time()),))
    )
    job = job.with_step(attrs.evolve(job.steps["b"], attempts=(Attempt(1, time.time()),)))
    if status is JobStatus.PAUSING:
        job, e = move_job(job, JobEvent.PAUSE)
        entries.append(e)
    manager.save(job, entries)
    manager.close()


def test_recovery_finishes_the_job_without_running_a_succeeded_step_again(tmp_path):
    path = tmp_path / "jobs.db"
    interrupted_job(path)
    CALLS.clear()
    with Engine(store=path) as engine:
        register_chain(engine)
        assert engine.recover() == ["crashed"]
        state = engine.jobs.wait_sync("crashed", WAIT)
        assert engine.recover() == []  # idempotent
        history = engine.state.history("crashed")
    assert state.status is JobStatus.COMPLETED and state.outputs == {"x": 4}
    assert CALLS == ["b", "c"]  # a kept its output, b ran again
    attempts = state.steps["b"].attempts
    assert [a.number for a in attempts] == [1, 2] and attempts[0].error.type == "Interrupted"
    job, steps = replay(["a", "b", "c"], history)
    assert job is JobStatus.COMPLETED and set(steps.values()) == {StepStatus.SUCCEEDED}


def test_engine_recover_true_with_components_restarts_a_daemon_in_one_line(tmp_path):
    path = tmp_path / "jobs.db"
    interrupted_job(path)
    CALLS.clear()
    with Engine(
        store=f"sqlite:///{path}", components=["tests.components.recovery"], recover=True
    ) as engine:
        engine.registry.register_workflow(CHAIN, replace=True)
        state = engine.jobs.wait_sync("crashed", WAIT)
    assert state.status is JobStatus.COMPLETED


def test_recovery_keeps_paused_jobs_paused_and_fails_jobs_whose_components_are_gone(
    tmp_path, monkeypatch
):
    from actors_wf._registry import _registry

    monkeypatch.setattr(_registry, "DECLARED", {})  # forget tests.components.recovery
    path = tmp_path / "paused.db"
    interrupted_job(path, JobStatus.PAUSING)
    with Engine(store=path) as engine:
        register_chain(engine)
        assert engine.recover() == []
        assert engine.jobs_sync.get_job("crashed").status is JobStatus.PAUSED
    gone = tmp_path / "gone.db"
    interrupted_job(gone)
    with Engine(store=gone, recover=True) as engine:  # no component registered now
        state = engine.jobs.wait_sync("crashed", WAIT)
    assert state.status is JobStatus.FAILED
    assert "cannot resume after restart" in state.error.message
    assert "none of the 3 components this workflow uses is registered (t.a, t.b, t.c)" in (
        state.error.message
    )


def test_jobs_on_a_sqlite_store_run_and_fail_like_in_memory(tmp_path):
    with Engine(store=tmp_path / "jobs.db") as engine:
        register_chain(engine)
        assert engine.run("chain3", {"x": 1}, timeout=WAIT) == {"x": 4}
        engine.registry.register(COMPONENT, "t.b", None, lambda x: 1 // 0, replace=True)
        with pytest.raises(JobFailed, match="ZeroDivisionError"):
            engine.run("chain3", {"x": 1}, timeout=WAIT)
