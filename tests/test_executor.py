"""The thread executor: outcomes delivered on the worker, bounded bookkeeping, clean shutdown."""

import logging
import threading

from actors_wf._codec import decode
from actors_wf._messages import RunStep, StepFailed
from actors_wf._runtime._executor import ThreadExecutor

WAIT = 10.0
RUN = RunStep("j", "s", 1, "c.x", {}, "urn:j")


def test_every_outcome_is_delivered_and_finished_calls_are_forgotten():
    executor = ThreadExecutor(max_workers=1)
    got: list[bytes] = []
    arrived = threading.Semaphore(0)

    def deliver(outcome: bytes) -> None:
        got.append(outcome)
        arrived.release()

    for i in range(300):  # one at a time: each prune finds the earlier calls done
        executor.run(lambda i=i: str(i).encode(), RUN, (), deliver)
        assert arrived.acquire(timeout=WAIT)
    assert got == [str(i).encode() for i in range(300)]
    assert len(executor._inflight) <= 2 * 1 + 64 + 1  # pruned as it grew, not 300
    assert executor.shutdown(WAIT)


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
