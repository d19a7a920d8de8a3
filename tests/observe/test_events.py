import threading

from actors_wf import Event
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
    bus.publish_step("step.succeeded", "j", "s", 1, "c.x", 0.5, 0.25, output=3)
    assert counted == [("step.succeeded", "c.x", 0.5, 0.25)] and made == []

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
    assert counted[-1] == ("step.failed", "c.x", 1.0, None) and len(counted) == 3
    assert [e.kind for e in recorded] == ["step.started", "step.failed", "job.completed"]
