"""The thread executor: outcomes delivered on the worker, bounded bookkeeping, clean shutdown."""

import collections
import logging
import threading

import attrs
import pytest

from actors_wf._core._codec import decode
from actors_wf._core._messages import RunStep, StepFailed
from actors_wf._registry._entry import make_component_entry
from actors_wf._runtime._executor import ThreadExecutor, input_problem

WAIT = 10.0
RUN = RunStep("j", "s", 1, "c.x", {}, "urn:j")


def test_every_outcome_is_delivered_and_idle_workers_are_reused():
    executor = ThreadExecutor(max_workers=300)
    got: list[bytes] = []
    arrived = threading.Semaphore(0)

    def deliver(outcome: bytes) -> None:
        got.append(outcome)
        arrived.release()

    for i in range(300):  # one at a time: each finds the last worker idle
        executor.run(lambda i=i: str(i).encode(), RUN, (), deliver)
        assert arrived.acquire(timeout=WAIT)
    assert got == [str(i).encode() for i in range(300)]
    # One thread per call would be 300; a call may start one more thread while
    # the last worker has delivered but not yet asked for work again.
    assert executor.threads < 10
    assert executor.shutdown(WAIT)


def test_a_chain_after_a_burst_keeps_to_one_worker():
    executor = ThreadExecutor(max_workers=3)
    release, started, done = threading.Event(), threading.Semaphore(0), threading.Semaphore(0)

    def hold() -> bytes:
        started.release()
        assert release.wait(WAIT)
        return b""

    def burst() -> None:  # three calls that block: three workers, at once
        release.clear()
        for _ in range(3):
            executor.run(hold, RUN, (), lambda outcome: done.release())
        for _ in range(3):
            assert started.acquire(timeout=WAIT)
        assert executor.threads == 3
        release.set()
        for _ in range(3):
            assert done.acquire(timeout=WAIT)

    burst()
    names: list[str] = []

    def whoami() -> bytes:
        names.append(threading.current_thread().name)
        return b""

    for _ in range(20):  # then a chain: each call waits for the one before
        executor.run(whoami, RUN, (), lambda outcome: done.release())
        assert done.acquire(timeout=WAIT)
    # Handed round the idle workers in turn, each would run about 7 of them
    # (and wake cold); one listens while the others are parked. A call that
    # comes while that one is still delivering may unpark another.
    most = collections.Counter(names).most_common(1)[0][1]
    assert most >= 18, names
    burst()  # the parked workers are woken again, and no thread is added
    assert executor.shutdown(WAIT)


def test_busy_workers_start_more_up_to_the_bound_and_the_rest_queue():
    executor = ThreadExecutor(max_workers=3)
    release, started = threading.Event(), threading.Semaphore(0)
    arrived = threading.Semaphore(0)

    def hold() -> bytes:
        started.release()
        assert release.wait(WAIT)
        return b"x"

    for _ in range(5):
        executor.run(hold, RUN, (), lambda outcome: arrived.release())
    for _ in range(3):
        assert started.acquire(timeout=WAIT)
    assert executor.threads == 3 and not started.acquire(timeout=0)  # two wait their turn
    release.set()
    for _ in range(5):
        assert arrived.acquire(timeout=WAIT)
    assert executor.threads == 3
    assert executor.shutdown(WAIT)


def test_shutdown_drops_calls_not_started_reports_stuck_ones_and_refuses_more(caplog):
    executor = ThreadExecutor(max_workers=1)
    release, started = threading.Event(), threading.Event()
    ran: list[str] = []

    def stuck() -> bytes:
        started.set()
        release.wait(WAIT)
        return b"late"

    executor.run(stuck, RUN, (), lambda outcome: None)
    executor.run(lambda: ran.append("queued") or b"", RUN, (), lambda outcome: None)
    assert started.wait(WAIT)
    with caplog.at_level(logging.ERROR, logger="actors_wf.executor"):
        assert executor.shutdown(0.0) is False
    assert "1 component call(s) still running after 0s" in caplog.text
    with pytest.raises(RuntimeError, match="shut down"):
        executor.run(lambda: b"", RUN, (), lambda outcome: None)
    release.set()
    assert executor.shutdown(WAIT)  # the stuck call ended: its worker is gone
    assert ran == []


def test_a_failing_delivery_is_logged_and_the_worker_serves_on(caplog):
    executor = ThreadExecutor(max_workers=1)
    later = threading.Event()

    def broken(outcome: bytes) -> None:
        raise RuntimeError("engine bug")

    with caplog.at_level(logging.ERROR, logger="actors_wf.executor"):
        executor.run(lambda: b"x", RUN, (), broken)
        executor.run(lambda: b"y", RUN, (), lambda outcome: later.set())
        assert later.wait(WAIT)
    assert "step 's' of job j: delivering its outcome failed" in caplog.text
    assert "engine bug" in caplog.text
    assert executor.shutdown(WAIT)


def test_a_call_that_raises_is_delivered_as_the_steps_failure(caplog):
    executor = ThreadExecutor(max_workers=1)
    got: list[bytes] = []
    arrived = threading.Event()

    def bug() -> bytes:
        raise KeyError("engine bug")

    with caplog.at_level(logging.ERROR, logger="actors_wf.executor"):
        executor.run(bug, RUN, (), lambda outcome: (got.append(outcome), arrived.set()))
        assert arrived.wait(WAIT)
    failed = decode(got[0])
    assert isinstance(failed, StepFailed) and (failed.step_id, failed.attempt) == ("s", 1)
    assert failed.error.type == "KeyError" and "engine bug" in failed.error.message
    assert "the engine failed to run it" in caplog.text
    assert executor.shutdown(WAIT)


def test_inputs_that_do_not_fit_are_named_in_the_error():
    def add(a: int, b: int, c: int = 0) -> int:
        return a + b + c

    entry = make_component_entry("m.add", None, add)
    run = attrs.evolve(RUN, component="m.add")
    assert input_problem(entry, attrs.evolve(run, inputs={"a": 1, "b": 2})) is None
    missing = input_problem(entry, attrs.evolve(run, inputs={"c": 1}))
    assert missing is not None and missing.type == "ComponentInputError"
    assert missing.message == "step 's' (m.add): input 'a' (int) is required"  # the first by name
    extra = input_problem(entry, attrs.evolve(run, inputs={"a": 1, "b": 2, "d": 3}))
    assert extra is not None and extra.message == "step 's' (m.add): 'm.add' takes no input 'd'"
    wrong = input_problem(entry, attrs.evolve(run, inputs={"a": 1, "b": True}))
    assert wrong is not None
    assert wrong.message == "step 's' (m.add): input 'b': expected int, got bool True"
