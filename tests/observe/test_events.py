import threading

from actors_wf import Event, JobStatus
from actors_wf._observe._events import EventBus


def test_publish_without_subscribers_costs_nothing():
    bus = EventBus()
    bus.publish(Event("job.created", "j"))
    bus.close()
    assert bus.dropped == 0


def test_a_failing_subscriber_does_not_stop_the_others(caplog):
    bus = EventBus()
    got = []
    done = threading.Event()

    def bad(event):
        raise RuntimeError("subscriber bug")

    def good(event):
        got.append(event.kind)
        if event.kind == "job.completed":
            done.set()

    bus.subscribe(bad)
    bus.subscribe(good)
    bus.publish(Event("job.created", "j"))
    bus.publish(Event("job.completed", "j"))
    assert done.wait(5)
    bus.close()
    assert got == ["job.created", "job.completed"]
    assert "subscriber bug" in caplog.text


def test_a_slow_subscriber_never_blocks_publish_and_drops_are_counted():
    bus = EventBus(buffer=2)
    release = threading.Event()
    entered = threading.Event()

    def slow(event):
        entered.set()
        release.wait(5)

    unsubscribe = bus.subscribe(slow)
    bus.publish(Event("job.created", "j"))
    assert entered.wait(5)
    for _ in range(5):
        bus.publish(Event("step.started", "j"))  # returns at once though the buffer is full
    assert bus.dropped == 3
    unsubscribe()
    release.set()
    bus.close()


def test_a_step_event_is_counted_always_and_made_only_for_those_who_read_it(monkeypatch):
    counted, recorded = [], []
    made = []
    monkeypatch.setattr(
        "actors_wf._observe._events.Event", lambda *a, **k: made.append(k) or Event(*a, **k)
    )
    bus = EventBus(count=lambda *figures: counted.append(figures))
    bus.publish_step("step.succeeded", "j", "s", 1, "c.x", 0.5, 0.25, workflow="w", output=3)
    assert counted == [("step.succeeded", "w", "c.x", 0.5, 0.25)] and made == []

    bus = EventBus(record=recorded.append, count=lambda *figures: counted.append(figures))
    bus.publish_step("step.started", "j", "s", 2, "c.x")
    (event,) = recorded
    assert (event.kind, event.job_id, event.step_id, event.attempt) == (
        "step.started",
        "j",
        "s",
        2,
    )
    assert event.component == "c.x" and event.duration is None and len(counted) == 2

    bus.publish(Event("step.failed", "j", step_id="s", attempt=2, component="c.x", duration=1.0))
    bus.publish(Event("job.completed", "j"))  # not a step's: nothing to count
    assert counted[-1] == ("step.failed", "", "c.x", 1.0, None) and len(counted) == 3
    assert [e.kind for e in recorded] == ["step.started", "step.failed", "job.completed"]


def test_a_subscriber_reading_the_job_on_an_event_finds_what_the_event_reports(tmp_path):
    """An event is published once the change it reports is stored (SQLite: a slow save)."""
    from actors_wf import StepStatus, testing

    found: list[tuple[str, object]] = []
    flow = {
        "id": "w",
        "steps": [
            {"id": "a", "component": "t.inc", "inputs": {"x": 1}},
            {"id": "b", "component": "t.inc", "inputs": {"x": "$steps.a.output"}},
        ],
    }
    with testing.engine({"t.inc": lambda x: x + 1}, [flow], store=tmp_path / "j.db") as engine:

        def on_event(event) -> None:
            job = engine.state.get(event.job_id)
            if event.kind == "step.succeeded":
                found.append((event.kind, job.steps[event.step_id].status))
            elif event.kind == "job.started":  # RUNNING, or past it already
                found.append((event.kind, job.status is not JobStatus.QUEUED))

        engine.subscribe(on_event)
        for _ in range(20):
            testing.run_to_end(engine, engine.jobs_sync.create_job("w", start=True))
    assert found and set(found) == {
        ("job.started", True),
        ("step.succeeded", StepStatus.SUCCEEDED),
    }, found
