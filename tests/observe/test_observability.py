"""Component input/output checks, events as an async iterator, metrics, log context."""

import asyncio
import io
import json
import logging
import threading

import pytest
from prometheus_client.parser import text_string_to_metric_families

from actors_wf import (
    COMPONENT,
    Engine,
    JobFailed,
    JobStatus,
    JsonFormatter,
    LogContextFilter,
    WorkflowInvalid,
)
from tests.support.workflows import one_input

WAIT = 10.0


def test_inputs_and_output_are_checked_against_the_declared_types(engine):
    engine.registry.register(COMPONENT, "t.count", None, lambda text: len(text))
    engine.registry.register(
        COMPONENT, "t.typed", {"inputs": {"n": "int"}, "output": "str"}, lambda n: n * 2
    )
    engine.registry.register_workflow(one_input("w", "t.typed", "n", "any"))
    with pytest.raises(JobFailed) as info:
        engine.run("w", {"n": "x"}, timeout=WAIT)
    assert info.value.error_type == "ComponentInputError"
    assert info.value.error_message == "step 's' (t.typed): input 'n': expected int, got str 'x'"
    with pytest.raises(JobFailed) as info:
        engine.run("w", {"n": 2}, timeout=WAIT)
    assert info.value.error_type == "ComponentOutputError"
    assert info.value.error_message == "step 's' (t.typed): output: expected str, got int 4"
    state = engine.jobs_sync.get_job(info.value.job_id)
    assert len(state.steps["s"].attempts) == 1


def test_events_as_an_async_iterator_of_one_job(engine):
    engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
    engine.registry.register_workflow({"id": "w", "steps": [{"id": "a", "component": "t.one"}]})

    async def main():
        first = await engine.jobs.create_job("w")
        seen = []

        async def watch():
            async for event in engine.events(first):
                seen.append(event.kind)
                if event.kind == "job.completed":
                    return

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(0)  # let the watcher subscribe before the job starts
        other = await engine.jobs.create_job("w")
        await engine.jobs.start_job(other)
        await engine.jobs.start_job(first)
        await asyncio.wait_for(watcher, WAIT)
        return seen

    seen = asyncio.run(main())
    assert seen == ["job.queued", "job.started", "step.started", "step.succeeded", "job.completed"]


def test_a_consumer_that_falls_behind_drops_events_and_never_blocks_the_engine(engine):
    engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
    engine.registry.register_workflow(
        {"id": "w", "steps": [{"id": f"s{i}", "component": "t.one"} for i in range(10)]}
    )

    async def main():
        events = engine.events(buffer=2)
        first = asyncio.ensure_future(events.__anext__())
        await asyncio.sleep(0)
        job = await engine.jobs.create_job("w")
        await engine.jobs.start_job(job)
        state = await engine.jobs.wait(job, WAIT)  # finishes though nobody reads
        await first
        await events.aclose()
        return state

    assert asyncio.run(main()).status is JobStatus.COMPLETED
    assert engine.metrics().events_dropped > 0


def test_metrics_count_attempts_and_time_them_per_component(engine):
    calls = []

    def flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise ConnectionError("once")
        return 1

    engine.registry.register(
        COMPONENT, "t.flaky", {"retry": {"max_attempts": 2, "initial_interval": 0}}, flaky
    )
    engine.registry.register(COMPONENT, "t.boom", None, lambda: 1 // 0)
    engine.registry.register_workflow({"id": "ok", "steps": [{"id": "a", "component": "t.flaky"}]})
    engine.registry.register_workflow({"id": "bad", "steps": [{"id": "b", "component": "t.boom"}]})
    engine.run("ok", timeout=WAIT)
    with pytest.raises(JobFailed):
        engine.run("bad", timeout=WAIT)
    metrics = engine.orchestrator.collect_metrics()
    assert metrics.jobs == {"COMPLETED": 1, "FAILED": 1}
    flaky_m = metrics.components["t.flaky"]
    assert (flaky_m.started, flaky_m.succeeded, flaky_m.retried, flaky_m.failed) == (2, 1, 1, 0)
    assert set(flaky_m.duration) == {"0.5", "0.95", "0.99"}
    assert metrics.components["t.boom"].failed == 1
    assert metrics.steps_finished == 3 and metrics.steps_per_second > 0
    text = metrics.to_prometheus()
    assert 'actors_wf_jobs{status="COMPLETED"} 1' in text
    assert 'actors_wf_step_attempts_retried_total{workflow="ok",component="t.flaky"} 1' in text
    assert (
        'actors_wf_step_duration_seconds{workflow="ok",component="t.flaky",quantile="0.95"}'
        in text
    )
    families = {f.name: f for f in text_string_to_metric_families(text)}
    failed = {
        (s.labels["workflow"], s.labels["component"], s.labels["final"]): s.value
        for s in families["actors_wf_step_attempts_failed"].samples
    }
    assert failed == {
        ("bad", "t.boom", "true"): 1,
        ("bad", "t.boom", "false"): 0,
        ("ok", "t.flaky", "true"): 0,
        ("ok", "t.flaky", "false"): 1,
    }
    duration = families["actors_wf_step_duration_seconds"]
    assert duration.type == "summary"
    counts = {
        s.labels["component"]: s.value for s in duration.samples if s.name.endswith("_count")
    }
    assert counts == {"t.flaky": 2, "t.boom": 1}
    assert {s.name for s in duration.samples} == {
        "actors_wf_step_duration_seconds",
        "actors_wf_step_duration_seconds_sum",
        "actors_wf_step_duration_seconds_count",
    }
    assert "# TYPE actors_wf_step_attempts_started_total counter" in text


def test_log_records_carry_the_job_step_attempt_and_trace(engine):
    records = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Keep()
    handler.addFilter(LogContextFilter())
    component_log = logging.getLogger("my.component")
    context_log = logging.getLogger("actors_wf.component")  # what ctx.log writes to
    for log in (component_log, context_log):
        log.addHandler(handler)
        log.setLevel(logging.INFO)

    def chatty(ctx) -> int:
        logging.getLogger("my.component").info("plain logger")
        ctx.log.info("context logger")
        return 1

    engine.registry.register(COMPONENT, "t.chatty", None, chatty)
    engine.registry.register_workflow(
        {"id": "w", "steps": [{"id": "talk", "component": "t.chatty"}]}
    )
    try:
        engine.run("w", timeout=WAIT)
        component_log.info("outside a step")
    finally:
        for log in (component_log, context_log):
            log.removeHandler(handler)
    job_id = engine.jobs_sync.list_jobs()[0].job_id
    inside = [(r.job_id, r.step_id, r.attempt, r.trace_id) for r in records[:2]]
    assert inside == [(job_id, "talk", 1, job_id)] * 2
    assert (records[2].job_id, records[2].step_id) == ("-", "-")


def test_the_json_formatter_writes_one_line_per_record_with_the_step_it_came_from(engine):
    lines = io.StringIO()
    handler = logging.StreamHandler(lines)
    handler.setFormatter(JsonFormatter())
    component_log = logging.getLogger("my.json.component")
    component_log.addHandler(handler)
    component_log.setLevel(logging.INFO)

    def chatty(ctx) -> int:
        component_log.info("plain %s", "logger")
        ctx.log.warning("context logger")
        try:
            raise KeyError("k")
        except KeyError:
            component_log.exception("failed with %r", object)
        return 1

    context_log = logging.getLogger("actors_wf.component")
    context_log.addHandler(handler)
    engine.registry.register(COMPONENT, "t.chatty_json", None, chatty)
    engine.registry.register_workflow(
        {"id": "wj", "steps": [{"id": "talk", "component": "t.chatty_json"}]}
    )
    try:
        engine.run("wj", timeout=WAIT)
        component_log.info("outside a step")
    finally:
        component_log.removeHandler(handler)
        context_log.removeHandler(handler)
    job_id = engine.jobs_sync.list_jobs()[0].job_id
    records = [json.loads(line) for line in lines.getvalue().splitlines()]
    assert [r["message"] for r in records] == [
        "plain logger",
        "context logger",
        "failed with <class 'object'>",
        "outside a step",
    ]
    for record in records[:3]:
        assert (record["job_id"], record["step_id"], record["attempt"]) == (job_id, "talk", 1)
        assert record["trace_id"] == job_id
    assert records[1]["level"] == "warning"
    assert "KeyError: 'k'" in records[2]["exception"]
    assert "job_id" not in records[3]


def test_execute_step_runs_one_step_with_its_retry_policy(engine):
    calls = []

    def twice(x: int) -> int:
        calls.append(x)
        if len(calls) < 2:
            raise ConnectionError("first")
        return x * 10

    engine.registry.register(COMPONENT, "t.twice", None, twice)
    out = engine.orchestrator.execute_step(
        {"id": "only", "component": "t.twice", "inputs": {"x": 4}},
        {"max_attempts": 2, "initial_interval": 0},
        timeout=WAIT,
    )
    assert out == 40 and calls == [4, 4]
    assert not [e for e in engine.registry.list("workflow")]  # the ad-hoc workflow is gone


def test_cancel_a_job_with_20_running_steps_then_run_the_next(engine):
    started = threading.Barrier(21, timeout=WAIT)

    def waits(ctx) -> None:
        started.wait()
        ctx.wait_cancelled(WAIT)
        ctx.check()

    engine.registry.register(COMPONENT, "t.waits", None, waits)
    engine.registry.register(COMPONENT, "t.one", None, lambda: 1)
    engine.registry.register_workflow(
        {"id": "wide", "steps": [{"id": f"w{i}", "component": "t.waits"} for i in range(20)]}
    )
    engine.registry.register_workflow(
        {
            "id": "next",
            "steps": [{"id": "a", "component": "t.one"}],
            "outputs": {"a": "$steps.a.output"},
        }
    )

    async def main():
        job = await engine.jobs.create_job("wide")
        await engine.jobs.start_job(job)
        await asyncio.to_thread(started.wait)  # all 20 are running
        await engine.jobs.cancel_job(job)
        return await engine.jobs.wait(job, WAIT)

    state = asyncio.run(main())
    assert state.status is JobStatus.CANCELLED
    assert {s.status.value for s in state.steps.values()} == {"CANCELLED"}
    assert engine.run("next", timeout=WAIT) == {"a": 1}


def test_each_job_and_step_attempt_is_a_span_parent_linked():
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with Engine(tracer=provider.get_tracer("test")) as eng:
        calls = []

        def once_flaky() -> int:
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionError("first")
            return 1

        eng.registry.register(
            COMPONENT, "t.f", {"retry": {"max_attempts": 2, "initial_interval": 0}}, once_flaky
        )
        eng.registry.register_workflow(
            {
                "id": "w",
                "steps": [
                    {"id": "a", "component": "t.f"},
                    {"id": "b", "component": "t.f", "depends_on": ["a"]},
                ],
            }
        )
        eng.run("w", timeout=WAIT)
        job_id = eng.jobs_sync.list_jobs()[0].job_id
    spans = {
        (s.name, s.attributes.get("actors_wf.attempt")): s for s in exporter.get_finished_spans()
    }
    job = spans["job", None]
    assert job.attributes["actors_wf.job_id"] == job_id
    assert job.attributes["actors_wf.status"] == "COMPLETED"
    assert {k for k in spans if k[0] != "job"} == {("step a", 1), ("step a", 2), ("step b", 1)}
    for key in (("step a", 1), ("step a", 2), ("step b", 1)):
        assert spans[key].parent.span_id == job.context.span_id
        assert spans[key].context.trace_id == job.context.trace_id
    assert spans["step a", 1].attributes["actors_wf.error_type"] == "ConnectionError"
    assert spans["step a", 1].end_time <= spans["step a", 2].start_time


def test_component_executor_calls_one_component_with_its_checks(engine):
    engine.registry.register(COMPONENT, "t.double", None, lambda x: 2 * x)
    engine.registry.register(COMPONENT, "t.typed", {"inputs": {"x": "int"}}, lambda x: x)
    assert engine.component_executor.execute("t.double", {"x": 21}, timeout=WAIT) == 42
    with pytest.raises(WorkflowInvalid, match="WF208"):  # refused before it runs
        engine.component_executor.execute("t.typed", {"x": "a"}, timeout=WAIT)


def test_throughput_counts_the_steps_of_the_last_minute_on_the_recorders_clock():
    from actors_wf._observe._metrics import MetricsRecorder

    now = [1000.0]
    metrics = MetricsRecorder(window=2, now=lambda: now[0])
    for duration in (1.0, 2.0, 3.0):
        metrics.count_step("step.succeeded", "w", "c.x", duration, 0.5)
    metrics.count_step("step.started", "w", "c.x", None, None)
    metrics.count_step("job.completed", "w", "c.x", None, None)  # not a step's: not counted
    now[0] += 61
    metrics.count_step("step.failed", "w2", "c.x", 4.0, None)

    figures = metrics.snapshot([], dropped=0)
    component = figures.components["c.x"]
    assert (component.started, component.succeeded, component.failed) == (1, 3, 1)
    assert component.duration["0.99"] == 4.0 and min(component.duration.values()) >= 3.0
    assert figures.steps_finished == 4 and figures.steps_per_second == 1 / 60
    # The window keeps the last two timings; the sum and count keep every one.
    assert (component.duration_sum, component.duration_count) == (10.0, 4)
    assert (component.queue_wait_sum, component.queue_wait_count) == (1.5, 3)
    assert figures.series[("w", "c.x")].succeeded == 3
    assert figures.series[("w2", "c.x")].failed == 1
