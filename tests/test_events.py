import threading

from actors_wf import Event
from actors_wf._state._events import EventBus


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
