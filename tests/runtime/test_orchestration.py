"""Retries, timeouts, heartbeats, grace periods and on_failure, on a ManualClock (no sleeps)."""

import asyncio
import threading

import pytest

from actors_wf import COMPONENT, Engine, JobStatus, ManualClock, StepStatus
from tests.support.workflows import one_step

WAIT = 10.0


class Events:
    """Collects lifecycle events; a test waits for one without sleeping."""

    def __init__(self, engine: Engine) -> None:
        self.seen: list[tuple[str, str | None, int | None]] = []
        self.cond = threading.Condition()
        engine.subscribe(self._on)

    def _on(self, event) -> None:
        with self.cond:
            self.seen.append((event.kind, event.step_id, event.attempt))
            self.cond.notify_all()

    def wait_for(self, kind: str, step: str | None = None, attempt: int | None = None) -> None:
        def found() -> bool:
            return any(
                k == kind and step in (None, s) and attempt in (None, a) for k, s, a in self.seen
            )

        with self.cond:
            assert self.cond.wait_for(found, WAIT), f"no {kind} {step} {attempt} in {self.seen}"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def engine_options(clock):
    return {"clock": clock, "cancel_grace": 1.0}


def start(engine: Engine, workflow: str, inputs: dict | None = None) -> str:
    async def go():
        job = await engine.jobs.create_job(workflow, inputs or {})
        await engine.jobs.start_job(job)
        return job

    return asyncio.run(go())


def flaky(failures: int):
    calls = []

    def run() -> int:
        calls.append(1)
        if len(calls) <= failures:
            raise ConnectionError(f"try {len(calls)}")
        return len(calls)

    return run, calls


def test_a_step_failing_twice_then_succeeding_waits_out_its_backoff(engine, clock):
    run, calls = flaky(2)
    engine.registry.register(
        COMPONENT,
        "t.flaky",
        {"retry": {"max_attempts": 3, "initial_interval": 1.0, "backoff_coefficient": 2.0}},
        run,
    )
    events = Events(engine)
    job = start(engine, one_step(engine, "t.flaky"))
    events.wait_for("step.retrying", "s", 1)
    assert engine.jobs_sync.get_job(job).steps["s"].status is StepStatus.RETRY_WAIT
    assert clock.pending == [1.0]
    clock.advance(0.999)
    assert len(calls) == 1  # the backoff is not over
    clock.advance(0.001)
    events.wait_for("step.retrying", "s", 2)
    assert clock.pending == [1.0 + 2.0]  # the second wait doubles
    clock.advance(2.0)
    state = engine.jobs.wait_sync(job, WAIT)
    assert state.status is JobStatus.COMPLETED and state.outputs == {"out": 3}
    attempts = state.steps["s"].attempts
    assert [a.number for a in attempts] == [1, 2, 3]
    assert [a.error.type if a.error else None for a in attempts] == [
        "ConnectionError",
        "ConnectionError",
        None,
    ]
    assert "raise ConnectionError" in attempts[0].error.traceback
    assert all(a.finished_at >= a.started_at for a in attempts)


def test_a_running_job_keeps_the_policy_its_step_started_with(engine, clock):
    run, calls = flaky(1)
    retrying = {"retry": {"max_attempts": 2, "initial_interval": 1.0}}
    engine.registry.register(COMPONENT, "t.again", retrying, run)
    events = Events(engine)
    wf = one_step(engine, "t.again")
    job = start(engine, wf)
    events.wait_for("step.retrying", "s", 1)
    # Registered again without retries while the step waits: this job keeps its policy.
    engine.registry.register(COMPONENT, "t.again", None, run, replace=True)
    clock.advance(1.0)
    state = engine.jobs.wait_sync(job, WAIT)
    assert state.status is JobStatus.COMPLETED and len(calls) == 2
    run_next, _ = flaky(1)
    engine.registry.register(COMPONENT, "t.again", None, run_next, replace=True)
    later = engine.jobs.wait_sync(start(engine, wf), WAIT)
    assert later.status is JobStatus.FAILED  # a new job reads the new definition


def test_the_step_policy_overrides_the_component_and_max_interval_caps(engine, clock):
    run, _ = flaky(3)
    engine.registry.register(COMPONENT, "t.flaky", {"retry": {"max_attempts": 1}}, run)
    events = Events(engine)
    wf = one_step(
        engine,
        "t.flaky",
        retry={
            "max_attempts": 4,
            "initial_interval": 5,
            "backoff_coefficient": 10,
            "max_interval": 7,
        },
    )
    job = start(engine, wf)
    for attempt, due in ((1, 5.0), (2, 12.0), (3, 19.0)):
        events.wait_for("step.retrying", "s", attempt)
        assert clock.pending == [due]
        clock.advance(clock.pending[0] - clock.now())
    assert engine.jobs.wait_sync(job, WAIT).status is JobStatus.COMPLETED


def test_non_retryable_errors_fail_at_once(engine):
    run, calls = flaky(5)
    engine.registry.register(
        COMPONENT,
        "t.flaky",
        {"retry": {"max_attempts": 5, "non_retryable_errors": ["ConnectionError"]}},
        run,
    )
    state = engine.jobs.wait_sync(start(engine, one_step(engine, "t.flaky")), WAIT)
    assert state.status is JobStatus.FAILED and len(calls) == 1
    assert state.error.type == "ConnectionError" and state.error.step_id == "s"


def test_max_attempts_reached_fails_the_job_with_every_attempt_kept(engine, clock):
    run, _ = flaky(10)
    engine.registry.register(
        COMPONENT,
        "t.flaky",
        {"retry": {"max_attempts": 3, "initial_interval": 0.5, "jitter": 0.5}},
        run,
    )
    events = Events(engine)
    job = start(engine, one_step(engine, "t.flaky"))
    for attempt in (1, 2):
        events.wait_for("step.retrying", "s", attempt)
        (due,) = clock.pending
        assert 0 < due - clock.now() <= 0.5 * 2 ** (attempt - 1)  # jitter only shortens
        clock.advance(due - clock.now())
    state = engine.jobs.wait_sync(job, WAIT)
    assert state.status is JobStatus.FAILED and len(state.steps["s"].attempts) == 3
    assert state.error.message == "try 3"


def test_an_attempt_over_its_timeout_fails_as_a_timeout_and_is_retried(engine, clock):
    attempts = []
    entered = threading.Event()

    def slow(ctx) -> str:
        attempts.append(ctx.attempt)
        entered.set()
        if ctx.attempt == 1:
            ctx.wait_cancelled(WAIT)  # cooperative: returns once the engine asks
            ctx.check()
        return "done"

    engine.registry.register(
        COMPONENT,
        "t.slow",
        {"timeout": 5, "retry": {"max_attempts": 2, "initial_interval": 0}},
        slow,
    )
    events = Events(engine)
    job = start(engine, one_step(engine, "t.slow"))
    assert entered.wait(WAIT)  # running, so its timeout is armed
    clock.advance(5)
    state = engine.jobs.wait_sync(job, WAIT)
    assert state.status is JobStatus.COMPLETED and attempts == [1, 2]
    first = state.steps["s"].attempts[0].error
    assert first.type == "StepTimeout" and "ran past its timeout (5s)" in first.message
    events.wait_for("step.retrying", "s", 1)


def test_a_thread_that_ignores_its_timeout_is_abandoned_not_retried(engine, clock):
    release = threading.Event()
    entered = threading.Event()

    def stubborn() -> None:
        entered.set()
        release.wait(WAIT)  # never looks at ctx

    engine.registry.register(
        COMPONENT,
        "t.stubborn",
        {"timeout": 2, "retry": {"max_attempts": 3, "initial_interval": 0}},
        stubborn,
    )
    events = Events(engine)
    job = start(engine, one_step(engine, "t.stubborn"))
    assert entered.wait(WAIT)
    clock.advance(2)  # timeout: the component is asked to stop, the grace period starts
    assert clock.wait_pending()  # the StepActor armed the grace period
    clock.advance(1)  # grace over: a thread cannot be killed
    state = engine.jobs.wait_sync(job, WAIT)
    release.set()
    assert state.status is JobStatus.FAILED
    assert len(state.steps["s"].attempts) == 1
    assert state.error.type == "StepAbandoned"
    assert "did not stop within 1s; its thread runs on" in state.error.message
    events.wait_for("step.timed_out", "s", 1)


def test_total_timeout_bounds_the_step_with_its_retries(engine, clock):
    run, calls = flaky(10)
    engine.registry.register(COMPONENT, "t.flaky", None, run)
    events = Events(engine)
    wf = one_step(
        engine,
        "t.flaky",
        total_timeout=4,
        retry={"max_attempts": 10, "initial_interval": 1.5, "backoff_coefficient": 1},
    )
    job = start(engine, wf)
    for attempt in (1, 2):
        events.wait_for("step.retrying", "s", attempt)
        clock.advance(1.5)
    state = engine.jobs.wait_sync(job, WAIT)  # a third wait would end past 4 s
    assert state.status is JobStatus.FAILED and len(calls) == 3


def test_a_silent_component_fails_its_heartbeat_timeout(engine, clock):
    entered = threading.Event()

    def quiet(ctx) -> None:
        ctx.heartbeat()
        entered.set()
        ctx.wait_cancelled(WAIT)
        ctx.check()

    engine.registry.register(COMPONENT, "t.quiet", {"heartbeat_timeout": 3}, quiet)
    job = start(engine, one_step(engine, "t.quiet"))
    assert entered.wait(WAIT)
    clock.advance(3)
    state = engine.jobs.wait_sync(job, WAIT)
    assert state.status is JobStatus.FAILED and state.error.type == "StepTimeout"
    assert "stopped sending heartbeats (3s)" in state.error.message


def test_on_failure_continue_skips_dependants_and_completes_the_job(engine):
    engine.registry.register(COMPONENT, "t.boom", None, lambda: 1 // 0)
    engine.registry.register(COMPONENT, "t.one", None, lambda x=None: 1)
    engine.registry.register_workflow(
        {
            "id": "w",
            "steps": [
                {"id": "bad", "component": "t.boom", "on_failure": "continue"},
                {"id": "needs_bad", "component": "t.one", "inputs": {"x": "$steps.bad.output"}},
                {"id": "after", "component": "t.one", "depends_on": ["needs_bad"]},
                {"id": "free", "component": "t.one"},
            ],
            "outputs": {"free": "$steps.free.output", "bad": "$steps.bad.output"},
        }
    )
    state = engine.jobs.wait_sync(start(engine, "w"), WAIT)
    assert state.status is JobStatus.COMPLETED
    assert {s: st.status.value for s, st in state.steps.items()} == {
        "bad": "FAILED",
        "needs_bad": "SKIPPED",
        "after": "SKIPPED",
        "free": "SUCCEEDED",
    }
    assert state.outputs == {"free": 1, "bad": None}


def test_cancel_waits_for_a_cooperative_step_and_force_skips_the_grace(engine, clock, caplog):
    entered = threading.Event()
    release = threading.Event()

    def stubborn() -> None:
        entered.set()
        release.wait(WAIT)

    engine.registry.register(COMPONENT, "t.stubborn", None, stubborn)
    job = start(engine, one_step(engine, "t.stubborn"))
    assert entered.wait(WAIT)

    async def cancel(force: bool):
        return await engine.jobs.cancel_job(job, force=force)

    assert asyncio.run(cancel(False)) is JobStatus.CANCELLING
    # In its grace period (the clock stands still): not over. The store says
    # CANCELLING once the JobActor has read the cancel, which may be a moment later.
    assert engine.jobs_sync.get_job(job).status in (JobStatus.RUNNING, JobStatus.CANCELLING)
    assert asyncio.run(cancel(True)) is JobStatus.CANCELLING  # again, forced
    state = engine.jobs.wait_sync(job, WAIT)
    release.set()
    assert state.status is JobStatus.CANCELLED
    assert state.steps["s"].status is StepStatus.CANCELLED
    assert "was forced to stop; its thread runs on" in caplog.text
    assert "did not stop within" not in caplog.text  # no grace period went by


def test_a_cancel_and_the_return_of_the_call_settle_once():
    from actors_wf import StepContext

    done = StepContext("j", "s", 1)
    assert done.returned()
    assert not done.cancel() and not done.cancelled  # nothing left to stop
    hooks: list[int] = []
    stopping = StepContext("j", "s", 1)
    stopping.on_cancel(lambda: hooks.append(1))
    assert stopping.cancel() and stopping.cancelled and hooks == [1]
    assert not stopping.returned()  # the engine then waits for AttemptEnded
    for _ in range(200):  # racing from two threads: exactly one side wins
        ctx = StepContext("j", "s", 1)
        start = threading.Barrier(2)
        won: list[bool] = []

        def finish(
            ctx: StepContext = ctx, start: threading.Barrier = start, won: list[bool] = won
        ) -> None:
            start.wait()
            won.append(ctx.returned())

        worker = threading.Thread(target=finish)
        worker.start()
        start.wait()
        cancelled = ctx.cancel()
        worker.join()
        assert cancelled != won[0]
        assert ctx.cancelled is cancelled


def test_a_cancel_after_the_call_returned_changes_nothing_and_the_actor_serves_on(engine):
    import pykka

    from actors_wf._core._codec import decode, encode
    from actors_wf._core._messages import CancelStep, RunStep, StepSucceeded
    from actors_wf._runtime._step_actor import StepActor

    got: list[object] = []
    arrived = threading.Semaphore(0)

    class Job(pykka.ThreadingActor):
        def on_receive(self, message: bytes) -> None:
            got.append(decode(message))
            arrived.release()

    engine.registry.register(COMPONENT, "t.quick", None, lambda: "ok")
    runtime = engine._services
    job = Job.start()
    runtime.jobs["urn:test-job"] = job
    try:
        step = runtime.steps.acquire(lambda: StepActor.start(runtime))
        for attempt in (1, 2, 3):
            step.tell(encode(RunStep("j", "a", attempt, "t.quick", {}, "urn:test-job")))
            assert arrived.acquire(timeout=WAIT)
            # Too late: the call has returned. A forced cancel that still took
            # effect would report StepCancelled at once, before the next outcome.
            step.tell(encode(CancelStep("j", "a", attempt, force=True)))
    finally:
        runtime.jobs.pop("urn:test-job")
        job.stop()
    assert [type(m) for m in got] == [StepSucceeded] * 3
    assert [m.attempt for m in got] == [1, 2, 3]  # type: ignore[attr-defined]
