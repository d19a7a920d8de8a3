import threading

from actors_wf import Event
from actors_wf._observe._events import EventBus


def test_publish_without_subscribers_costs_nothing():
    bus = EventBus()
    bus.publish(Event("JobCreated", "j"))
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
        if event.kind == "JobCompleted":
            done.set()

    bus.subscribe(bad)
    bus.subscribe(good)
    bus.publish(Event("JobCreated", "j"))
    bus.publish(Event("JobCompleted", "j"))
    assert done.wait(5)
    bus.close()
    assert got == ["JobCreated", "JobCompleted"]
    assert "subscriber bug" in caplog.text


def test_a_slow_subscriber_never_blocks_publish_and_drops_are_counted():
    bus = EventBus(buffer=2)
    release = threading.Event()
    entered = threading.Event()

    def slow(event):
        entered.set()
        release.wait(5)

    unsubscribe = bus.subscribe(slow)
    bus.publish(Event("JobCreated", "j"))
    assert entered.wait(5)
    for _ in range(5):
        bus.publish(Event("StepStarted", "j"))  # returns at once though the buffer is full
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
    bus.publish_step("StepSucceeded", "j", "s", 1, "c.x", 0.5, 0.25, output=3)
    assert counted == [("StepSucceeded", "c.x", 0.5, 0.25)] and made == []

    bus = EventBus(record=recorded.append, count=lambda *figures: counted.append(figures))
    bus.publish_step("StepStarted", "j", "s", 2, "c.x")
    (event,) = recorded
    assert (event.kind, event.job_id, event.step_id, event.attempt) == ("StepStarted", "j", "s", 2)
    assert event.component == "c.x" and event.duration is None and len(counted) == 2

    bus.publish(Event("StepFailed", "j", step_id="s", attempt=2, component="c.x", duration=1.0))
    bus.publish(Event("JobCompleted", "j"))  # not a step's: nothing to count
    assert counted[-1] == ("StepFailed", "c.x", 1.0, None) and len(counted) == 3
    assert [e.kind for e in recorded] == ["StepStarted", "StepFailed", "JobCompleted"]
