"""isolation: process — a crash, a hang or a blow-up costs the attempt only."""

import asyncio
import logging
import os
import select
import signal
import threading

import pytest

from actors_wf import COMPONENT, Engine, JobFailed, JobStatus, SpecError, StepStatus
from tests.components import isolated as comps
from tests.support.processes import ends
from tests.support.workflows import one_step

WAIT = 30.0


@pytest.fixture
def engine_options():
    return {"cancel_grace": 0.5}


@pytest.fixture
def engine_setup():
    return _register


def _register(eng: Engine) -> None:
    for name in (
        "double",
        "pid",
        "segfault",
        "exit_1",
        "spin",
        "unserialisable",
        "raises",
        "cooperative",
        "spawns",
        "echoes",
        "detaches",
    ):
        eng.registry.register(
            COMPONENT, f"p.{name}", {"isolation": "process"}, getattr(comps, name)
        )
    eng.registry.register(COMPONENT, "p.scale", {"isolation": "process"}, comps.Scale)


def test_a_process_step_returns_through_the_codec_and_workers_stay_warm(engine):
    assert engine.run(one_step(engine, "p.double", {"x": 21}), timeout=WAIT) == {"out": 42}
    assert engine.run(one_step(engine, "p.scale", {"x": 2}), timeout=WAIT) == {"out": 6}
    first = engine.run(one_step(engine, "p.pid"), timeout=WAIT)["out"]
    again = engine.run(one_step(engine, "p.pid"), timeout=WAIT)["out"]
    assert first == again != os.getpid()  # the same warm worker, not this process


@pytest.mark.parametrize(
    ("component", "error_type", "fragment"),
    [
        ("p.segfault", "ProcessCrashed", "died of signal SIGSEGV"),
        ("p.exit_1", "ProcessCrashed", "exited with code 1 before returning"),
        ("p.unserialisable", "ComponentOutputError", "is of type 'object'"),
        ("p.raises", "ValueError", "bad 3"),
    ],
)
def test_a_crash_fails_that_attempt_only(engine, component, error_type, fragment):
    inputs = {"x": 3} if component == "p.raises" else {}
    with pytest.raises(JobFailed) as info:
        engine.run(one_step(engine, component, inputs), timeout=WAIT)
    assert info.value.error_type == error_type
    assert fragment in info.value.error_message
    assert engine.run(one_step(engine, "p.double", {"x": 1}), timeout=WAIT) == {"out": 2}


def test_a_hung_process_is_killed_at_its_timeout_and_retried(engine):
    wf = one_step(engine, "p.spin", timeout=0.5, retry={"max_attempts": 2, "initial_interval": 0})
    with pytest.raises(JobFailed) as info:
        engine.run(wf, timeout=WAIT)
    assert info.value.error_type == "StepTimeout"
    state = engine.jobs_sync.get_job(info.value.job_id)
    assert [a.error.type for a in state.steps["s"].attempts] == ["StepTimeout", "StepTimeout"]


def test_a_subprocess_and_prints_cannot_touch_the_frames_and_go_to_the_log(engine, caplog):
    caplog.set_level(logging.INFO, logger="actors_wf.component")
    assert engine.run(one_step(engine, "p.echoes"), timeout=WAIT) == {"out": "done"}
    (record,) = [r for r in caplog.records if r.name == "actors_wf.component"]
    assert record.step_id == "s" and record.attempt == 1
    for line in ("hi from echo", "hi from print", "and stderr"):
        assert line in record.getMessage()
    # The worker is still sound: the next attempt runs on it.
    assert engine.run(one_step(engine, "p.double", {"x": 2}), timeout=WAIT) == {"out": 4}


@pytest.mark.parametrize("hang", [False, True])
def test_a_detached_child_that_keeps_stdout_open_does_not_keep_the_step_running(
    engine, tmp_path, hang
):
    pid_file = tmp_path / "child.pid"
    wf = one_step(engine, "p.detaches", {"pid_file": str(pid_file), "hang": hang}, timeout=0.5)
    try:
        if hang:  # killed at its timeout, though its detached child holds stdout
            with pytest.raises(JobFailed) as info:
                engine.run(wf, timeout=WAIT)
            assert info.value.error_type == "StepTimeout"
        else:
            assert engine.run(wf, timeout=WAIT) == {"out": "returned"}
    finally:
        child = int(pid_file.read_text())
        os.kill(child, signal.SIGKILL)  # in its own session: nothing of ours kills it
    assert ends(child)


def test_force_cancel_kills_the_process_group_at_once(engine, tmp_path):
    fifo = tmp_path / "child.pid"
    os.mkfifo(fifo)  # the component writes its child's pid; reading it waits for that
    wf = one_step(engine, "p.spawns", {"pid_file": str(fifo)})

    async def main():
        job = await engine.jobs.create_job(wf)
        await engine.jobs.start_job(job)
        child = await asyncio.wait_for(asyncio.to_thread(fifo.read_text), WAIT)
        await engine.jobs.cancel_job(job, force=True)
        return int(child), await engine.jobs.wait(job, WAIT)

    child, state = asyncio.run(main())
    assert state.status is JobStatus.CANCELLED
    assert ends(child)  # the component's own child died with it


def test_a_cooperative_process_stops_on_sigterm_within_its_grace(engine):
    started = threading.Event()
    engine.subscribe(lambda e: e.kind == "step.started" and started.set())

    async def main():
        job = await engine.jobs.create_job(one_step(engine, "p.cooperative"))
        await engine.jobs.start_job(job)
        return job

    job = asyncio.run(main())
    assert started.wait(WAIT)
    asyncio.run(engine.jobs.cancel_job(job))
    state = engine.jobs.wait_sync(job, WAIT)
    assert state.status is JobStatus.CANCELLED
    assert state.steps["s"].status is StepStatus.CANCELLED


def test_process_components_must_be_importable():
    with Engine() as eng:
        with pytest.raises(SpecError, match="define it at module level"):
            eng.registry.register(COMPONENT, "p.lambda", {"isolation": "process"}, lambda: 1)

        def local() -> int:
            return 1

        with pytest.raises(SpecError, match="isolation: process"):
            eng.registry.register(COMPONENT, "p.local", {"isolation": "process"}, local)


def test_the_worker_loop_in_this_process(monkeypatch):
    """The child's side, run here (coverage does not follow worker processes)."""
    import io
    import signal

    from actors_wf._runtime import _worker
    from actors_wf._runtime._frames import read_frame, write_frame

    tasks = io.BytesIO()
    base = {"job_id": "j", "step_id": "s", "attempt": 1, "context": False}
    write_frame(
        tasks,
        {**base, "module": "tests.components.isolated", "qualname": "double", "inputs": {"x": 4}},
    )
    write_frame(
        tasks,
        {**base, "module": "tests.components.isolated", "qualname": "Scale", "inputs": {"x": 4}},
    )
    write_frame(
        tasks,
        {**base, "module": "tests.components.isolated", "qualname": "raises", "inputs": {"x": 4}},
    )
    write_frame(
        tasks,
        {
            **base,
            "module": "tests.components.isolated",
            "qualname": "unserialisable",
            "inputs": {},
        },
    )
    write_frame(
        tasks,
        {
            **base,
            "context": True,
            "module": "tests.components.isolated",
            "qualname": "cooperative",
            "inputs": {},
        },
    )
    tasks.seek(0)
    replies = io.BytesIO()
    previous = signal.getsignal(signal.SIGTERM)

    from actors_wf._runtime._attempt import StepContext

    real_heartbeat = StepContext.heartbeat

    def heartbeat_then_sigterm(self):
        real_heartbeat(self)
        self.cancel()  # what the SIGTERM handler does, arriving while the component runs

    monkeypatch.setattr(StepContext, "heartbeat", heartbeat_then_sigterm)
    try:
        _worker.serve(tasks, replies)
    finally:
        signal.signal(signal.SIGTERM, previous)
    replies.seek(0)
    got = []
    while (frame := read_frame(replies)) is not None:
        got.append(frame)
    assert got[0] == {"output": 8} and got[1] == {"output": 12}
    assert got[2]["error"]["type"] == "ValueError" and "bad 4" in got[2]["error"]["traceback"]
    assert "return plain data" in got[3]["bad_output"]
    assert got[4] == {"heartbeat": True}
    # ctx.check() after the cancel: the same error as in a thread
    assert got[5]["error"]["type"] == "actors_wf._runtime._attempt.StepCancelledError"
    assert read_frame(io.BytesIO(b"\x00\x00\x00\x09abc")) is None  # a cut-off frame


def test_factory_components_make_their_callable_per_attempt():
    with Engine() as eng:
        eng.registry.register(
            COMPONENT,
            "f.thread",
            {"factory": True, "inputs": {"x": "int"}, "output": "int"},
            comps.make_adder,
        )
        eng.registry.register(
            COMPONENT, "f.process", {"factory": True, "isolation": "process"}, comps.make_adder
        )
        assert eng.component_executor.execute("f.thread", {"x": 1}, timeout=WAIT) == 102
        assert eng.component_executor.execute("f.process", {"x": 2}, timeout=WAIT) == 103
        with pytest.raises(SpecError, match="needs a callable"):
            eng.registry.register(COMPONENT, "f.bad", {"factory": True}, 42)


def test_a_memory_limit_turns_a_blow_up_into_a_memory_error_of_that_attempt():
    with Engine() as eng:
        eng.registry.register(
            COMPONENT, "p.hog", {"isolation": "process", "memory_limit": 64}, comps.hog
        )
        with pytest.raises(JobFailed) as info:
            eng.component_executor.execute("p.hog", {"mib": 512}, timeout=WAIT)
        assert info.value.error_type == "MemoryError"
        assert eng.component_executor.execute("p.hog", {"mib": 8}, timeout=WAIT) == 8 * 2**20
        with pytest.raises(SpecError, match="memory_limit needs isolation: process"):
            eng.registry.register(COMPONENT, "t.hog", {"memory_limit": 64}, comps.hog)


def test_workers_import_from_the_engines_path_not_its_working_directory(tmp_path, monkeypatch):
    marker = tmp_path / "imported"
    (tmp_path / "msgpack.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.chdir(tmp_path)  # a module named like one the worker imports, in the cwd
    with Engine() as fresh:
        fresh.registry.register(COMPONENT, "p.double", {"isolation": "process"}, comps.double)
        assert fresh.run(one_step(fresh, "p.double", {"x": 2}), timeout=WAIT) == {"out": 4}
    assert not marker.exists()


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_component_is_stopped_the_same_way_in_a_thread_and_in_a_process(tmp_path, isolation):
    note = tmp_path / "note"
    os.mkfifo(f"{note}.fifo")
    with Engine(cancel_grace=WAIT) as eng:
        eng.registry.register(
            COMPONENT, "c.stop", {"isolation": isolation}, comps.notes_how_it_is_stopped
        )
        job = eng.jobs_sync.create_job(one_step(eng, "c.stop", {"note": str(note)}))
        ready = os.open(f"{note}.fifo", os.O_RDONLY | os.O_NONBLOCK)
        try:
            eng.jobs_sync.start_job(job)
            assert select.select([ready], [], [], WAIT)[0], "the step never ran"
        finally:
            os.close(ready)
        eng.jobs_sync.cancel_job(job)
        state = eng.jobs_sync.wait(job, WAIT)
    assert state.status is JobStatus.CANCELLED
    assert note.read_text() == "actors_wf._runtime._attempt.StepCancelledError"
