"""The step lines and progress line of `actors-wf run`, driven by events in-process."""

import io

from actors_wf import Event, JobState
from actors_wf._cli_run import RunView, print_outputs
from actors_wf._core._kinds import EventKind
from actors_wf._core._records import ErrorInfo, StepState
from actors_wf._core._status import JobStatus, StepStatus


def _job(statuses: dict[str, StepStatus], status: JobStatus) -> JobState:
    from actors_wf._core._spec import StepSpec, WorkflowSpec

    spec = WorkflowSpec(id="w", steps=tuple(StepSpec(id=s, component="c") for s in statuses))
    steps = {s: StepState(s, st) for s, st in statuses.items()}
    return JobState(
        "j1", spec, status, {}, 0, steps, created_at=9.0, started_at=10.0, finished_at=12.5
    )


def test_a_live_view_draws_counts_and_running_steps_and_clears_before_each_line():
    err = io.StringIO()
    now = [100.0]
    view = RunView(err, ["load", "clean", "save"], live=True, clock=lambda: now[0])
    view.on_event(Event(EventKind.STEP_STARTED, "j1", step_id="load", attempt=1))
    now[0] += 1.5
    view.on_event(
        Event(EventKind.STEP_SUCCEEDED, "j1", step_id="load", attempt=2, duration=0.0042)
    )
    view.on_event(Event(EventKind.STEP_STARTED, "j1", step_id="clean", attempt=1))
    boom = ErrorInfo("ValueError", "bad row")
    view.on_event(Event(EventKind.STEP_RETRYING, "j1", step_id="clean", attempt=1, error=boom))
    view.on_event(
        Event(EventKind.STEP_FAILED, "j1", step_id="clean", attempt=2, error=boom, duration=2.5)
    )
    view.on_event(Event(EventKind.JOB_FAILED, "j1"))  # not a step's: no line
    job = _job(
        {"load": StepStatus.SUCCEEDED, "clean": StepStatus.FAILED, "save": StepStatus.SKIPPED},
        JobStatus.FAILED,
    )
    view.finish(job)
    text = err.getvalue()
    assert "\r\x1b[K[0/3 steps] running: load  0.0s" in text
    assert "[1/3 steps] running: -  1.5s" in text
    lines = [line.split("\r\x1b[K")[-1] for line in text.split("\n") if line]
    assert lines == [
        "  ok       load   4.2 ms, 2 attempts (1 retry)",
        "  retry    clean  attempt 1: ValueError: bad row",
        "  FAILED   clean  2.50 s, 2 attempts (1 retry): ValueError: bad row",
        "  skipped  save   (a step it needs did not succeed)",
        "job j1 FAILED in 2.50 s: 1 failed, 1 skipped, 1 succeeded",
    ]


def test_a_quiet_view_says_nothing_and_long_outputs_are_cut():
    err = io.StringIO()
    view = RunView(err, ["a"], quiet=True, live=True)
    view.start()
    view.on_event(Event(EventKind.STEP_SUCCEEDED, "j1", step_id="a", attempt=1))
    view.finish(_job({"a": StepStatus.SUCCEEDED}, JobStatus.COMPLETED))
    assert err.getvalue() == ""
    out = io.StringIO()
    print_outputs({"big": "y" * 300, "small": 1}, out, as_json=False, full=False)
    assert out.getvalue().splitlines()[1] == "small: 1"
    assert out.getvalue().startswith("big: '" + "y" * 199 + "... (302 characters")
