"""Properties of the job manager: fuzzed bytes, resources under interleavings, and a
state machine over the public JobManager API."""

import threading

import hypothesis.strategies as st
import msgpack
from hypothesis import given, settings
from hypothesis.stateful import invariant

from actors_wf import COMPONENT, Engine, JobStatus, ManualClock, testing
from actors_wf._core._codec import MESSAGE_TYPES, decode
from actors_wf._core._messages import ErrorReply
from tests.support.strategies import plain_data

WAIT = 10.0


values = plain_data(nan=True, text=10, items=3, keys=5, leaves=8)
wrong_messages = st.builds(
    lambda tag, fields: msgpack.packb({"type": tag, **fields}),
    # A tag of any kind: a list or a map as the type once raised TypeError.
    st.sampled_from(sorted(MESSAGE_TYPES)) | values,
    st.dictionaries(
        st.sampled_from(
            ["job_id", "workflow_id", "inputs", "priority", "force", "status", "start", "x"]
        ),
        values,
        max_size=4,
    ),
)


def test_handle_answers_any_bytes_with_a_reply_and_never_breaks():
    with Engine() as eng:
        eng.registry.register(COMPONENT, "t.one", None, lambda: 1)
        eng.registry.register_workflow({"id": "one", "steps": [{"id": "a", "component": "t.one"}]})

        @settings(max_examples=2000, deadline=None)
        @given(st.binary(max_size=200) | wrong_messages)
        def answers(data):
            reply = decode(eng.handle(data))
            if isinstance(reply, ErrorReply):
                assert reply.code and reply.message

        answers()
        for tag in ([1], {"a": 1}, None, 3.5):
            reply = decode(eng.handle(msgpack.packb({"type": tag, "job_id": "x"})))
            assert isinstance(reply, ErrorReply) and reply.code == "bad_message"
        assert eng.run("one", timeout=WAIT) == {}  # the engine runs on


# -- resources return to full whatever happens to the steps ----------------------

OUTCOMES = ["succeed", "fail", "timeout", "cancel"]


@settings(max_examples=25, deadline=None)
@given(st.lists(st.sampled_from(OUTCOMES), min_size=1, max_size=6))
def test_resources_come_back_after_success_failure_timeout_and_cancel(outcomes):
    clock = ManualClock()
    with Engine(resources={"db": 2}, clock=clock, cancel_grace=1.0) as eng:
        progress = threading.Condition()
        entered = [0]

        def work(kind: str, ctx) -> int:
            with progress:
                entered[0] += 1
                progress.notify_all()
            if kind == "fail":
                raise RuntimeError("fails")
            if kind in ("timeout", "cancel"):
                ctx.wait_cancelled(WAIT)
                ctx.check()
            return 1

        eng.registry.register(COMPONENT, "t.work", {"resources": {"db": 1}, "timeout": 5}, work)
        eng.registry.register_workflow(
            {
                "id": "w",
                "inputs": {"kind": "str"},
                "steps": [
                    {
                        "id": "s",
                        "component": "t.work",
                        "inputs": {"kind": "$inputs.kind"},
                        "on_failure": "continue",
                    }
                ],
            }
        )
        jobs = eng.jobs_sync
        ids = [jobs.create_job("w", {"kind": kind}) for kind in outcomes]
        for job in ids:
            jobs.start_job(job)
        for job, kind in zip(ids, outcomes, strict=True):
            if kind == "cancel":
                jobs.cancel_job(job)

        def on_event(event) -> None:
            if event.kind in ("job.completed", "job.failed", "job.cancelled"):
                with progress:
                    progress.notify_all()

        eng.subscribe(on_event)

        def finished() -> bool:
            return all(jobs.get_job(j).status.is_terminal for j in ids)

        seen = 0
        while True:
            # Wait (on events, no polling) until a step starts or every job has ended.
            with progress:
                assert progress.wait_for(lambda s=seen: entered[0] > s or finished(), WAIT)
                if entered[0] == seen:
                    break
                seen = entered[0]
            assert eng.resources.in_use["db"] <= 2
            clock.advance(5)  # the step that started may be one that waits for its timeout
        for job in ids:
            jobs.wait(job, WAIT)
        assert eng.resources.in_use == {"db": 0, "steps": 0}


# -- a state machine over the public API, on the test kit's -------------------------------


def step(kind: str) -> str:
    if kind == "fail":
        raise RuntimeError("fail")
    return kind


TWO_STEPS = {
    "id": "w",
    "inputs": {"kind": "str"},
    "steps": [
        {"id": "a", "component": "t.step", "inputs": {"kind": "$inputs.kind"}},
        {"id": "b", "component": "t.step", "inputs": {"kind": "ok"}, "depends_on": ["a"]},
    ],
}


class Jobs(testing.JobLifecycleMachine):
    """The kit's machine, with slots scarcer than the jobs, and the limits as invariants."""

    components = {"t.step": step}
    workflows = [TWO_STEPS]
    engine_options = {"max_concurrent_jobs": 2, "max_concurrent_steps": 3}

    @invariant()
    def running_steps_and_jobs_never_exceed_the_limits(self):
        assert self.engine.resources.in_use["steps"] <= 3
        running = [j for j in self.states().values() if j.status is JobStatus.RUNNING]
        assert len(running) <= 2

    @invariant()
    def the_list_agrees_with_each_job(self):
        listed = {j.job_id: j for j in self.engine.jobs_sync.list_jobs()}
        for job_id, state in self.states().items():
            assert listed[job_id].status is state.status


TestJobManagerMachine = Jobs.TestCase
