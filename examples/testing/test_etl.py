"""A user's tests of their own workflow, on the actors_wf test kit."""

from pathlib import Path

import etl_components
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import invariant

from actors_wf import Engine, JobStatus, testing
from actors_wf.testing import faults

FLOW = Path(__file__).parent / "flows" / "etl.yaml"
COMPONENTS = {
    "etl.fetch": etl_components.fetch,
    "etl.score": etl_components.score,
    "etl.store": etl_components.store,
}


def test_a_job_runs_end_to_end(actors_wf_engine: Engine) -> None:
    outputs = actors_wf_engine.run("etl", {"url": "https://a.b"}, timeout=10)
    assert outputs == {"receipt": "https://a.b=22"}


def test_a_flaky_fetch_is_retried_on_the_manual_clock(actors_wf_engine: Engine) -> None:
    engine = actors_wf_engine
    with faults.fail("etl.fetch", times=2, error=ConnectionError):
        job = engine.jobs_sync.create_job("etl", {"url": "https://a.b"}, start=True)
        state = testing.run_to_end(engine, job)  # fires the 5 s and 10 s backoffs
    testing.assert_job(engine, job, status="COMPLETED", outputs={"receipt": "https://a.b=22"})
    assert len(state.steps["fetch"].attempts) == 3
    assert engine.clock.now() == 15.0


@settings(max_examples=30, deadline=None)
@given(url=st.text(max_size=20), weight=st.integers(-5, 5))
def test_the_engine_agrees_with_the_oracle(url: str, weight: int) -> None:
    with testing.engine(COMPONENTS, [FLOW]) as engine:
        testing.assert_same_as_reference(engine, "etl", {"url": url, "weight": weight})


class EtlJobs(testing.JobLifecycleMachine):
    components = COMPONENTS
    workflows = [FLOW]

    @invariant()
    def a_completed_job_has_a_receipt(self) -> None:
        for job in self.states().values():
            if job.status is JobStatus.COMPLETED:
                assert job.outputs["receipt"].startswith("https://")


TestEtlJobs = EtlJobs.TestCase
