import pytest

from actors_wf import InvalidTransition, JobStatus, StepStatus
from actors_wf._core._status import (
    JOB_TRANSITIONS,
    STEP_TRANSITIONS,
    JobEvent,
    StepEvent,
    next_job_status,
    next_step_status,
)


def test_terminal_statuses_have_no_way_out_except_retry():
    for (status, event), _ in JOB_TRANSITIONS.items():
        if status.is_terminal:
            assert (status, event) == (JobStatus.FAILED, JobEvent.RETRY)
    assert {s for s in JobStatus if s.is_terminal} == {
        JobStatus.COMPLETED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    }


def test_every_status_is_reachable_from_the_start():
    reach = {JobStatus.CREATED}
    frontier = [JobStatus.CREATED]
    while frontier:
        s = frontier.pop()
        for (src, _), dst in JOB_TRANSITIONS.items():
            if src is s and dst not in reach:
                reach.add(dst)
                frontier.append(dst)
    assert reach == set(JobStatus)
    step_reach = {StepStatus.PENDING}
    for _ in range(5):
        step_reach |= {dst for (src, _), dst in STEP_TRANSITIONS.items() if src in step_reach}
    assert step_reach == set(StepStatus)


def test_illegal_job_transition_names_job_state_event_and_options():
    with pytest.raises(InvalidTransition) as info:
        next_job_status("j1", JobStatus.RUNNING, JobEvent.RESUME)
    err = info.value
    assert (err.subject, err.current, err.event) == ("job j1", "RUNNING", "resume")
    assert "pause" in err.allowed and "cancel" in err.allowed
    assert "job j1 is RUNNING and cannot take 'resume'; it can take: pause" in str(err)


def test_illegal_step_transition_names_the_step():
    assert (
        next_step_status("j", "s", StepStatus.RUNNING, StepEvent.SUCCEED) is StepStatus.SUCCEEDED
    )
    with pytest.raises(InvalidTransition, match="step 's' of job j is SUCCEEDED"):
        next_step_status("j", "s", StepStatus.SUCCEEDED, StepEvent.START)
    assert StepStatus.SKIPPED.is_terminal and not StepStatus.RETRY_WAIT.is_terminal


def test_the_lifecycle_page_is_generated_from_this_table():
    from pathlib import Path

    from docs.make_lifecycle import page

    committed = (Path(__file__).resolve().parents[2] / "docs" / "lifecycle.md").read_text()
    assert committed == page(), "docs/lifecycle.md is stale: run python docs/make_lifecycle.py"
