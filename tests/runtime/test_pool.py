"""LoopThreads: a JobActor's loop runs on a thread the engine keeps, one job after another."""

import contextvars
import threading

from actors_wf import COMPONENT, Engine
from actors_wf._runtime._pool import LoopThreads

WAIT = 10.0
_SEEN: contextvars.ContextVar[str] = contextvars.ContextVar("seen", default="")


def test_loops_run_one_after_another_on_the_same_thread_each_in_a_fresh_context():
    loops = LoopThreads(max_idle=2)
    ran: list[tuple[str, str]] = []
    done = [threading.Event(), threading.Event()]

    def loop(n: int) -> None:
        ran.append((threading.current_thread().name, _SEEN.get()))
        _SEEN.set(f"set by loop {n}")  # must not reach the next loop on this thread
        done[n].set()

    loops.run(lambda: loop(0))
    assert done[0].wait(WAIT)
    assert loops.wait_idle(1, WAIT)  # it turns idle just after its loop returns
    loops.run(lambda: loop(1))
    assert done[1].wait(WAIT)
    loops.close()
    assert [name for name, _ in ran] == ["JobActor-0", "JobActor-0"]
    assert [seen for _, seen in ran] == ["", ""]
    assert loops.size == (0, 0)


def test_a_thread_past_max_idle_ends_and_a_loop_that_raises_leaves_its_thread_serving():
    loops = LoopThreads(max_idle=1)
    gate, started = threading.Event(), [threading.Event(), threading.Event()]

    def blocked(n: int) -> None:
        started[n].set()
        assert gate.wait(WAIT)
        raise RuntimeError("a loop that fails")

    loops.run(lambda: blocked(0))
    loops.run(lambda: blocked(1))  # the first is busy: a second thread
    assert started[0].wait(WAIT) and started[1].wait(WAIT)
    assert loops.size == (0, 2)
    gate.set()
    assert loops.wait_idle(1, WAIT)  # one stays for the next loop; the other ends
    again = threading.Event()
    loops.run(again.set)
    assert again.wait(WAIT)
    loops.close()
    assert loops.size == (0, 0)


def test_jobs_one_after_another_reuse_their_loop_thread_and_close_leaves_none():
    with Engine() as engine:
        engine.registry.register(COMPONENT, "t.inc", None, lambda x: x + 1)
        engine.registry.register_workflow(
            {"id": "one", "steps": [{"id": "a", "component": "t.inc", "inputs": {"x": 1}}]}
        )
        for _ in range(5):
            engine.run("one", timeout=WAIT)
            assert engine._loops.wait_idle(1, WAIT)
        assert engine._loops.size == (1, 1)  # one thread for the five jobs
    assert engine._loops.size == (0, 0)
    assert not [t for t in threading.enumerate() if t.name.startswith("JobActor-")]
