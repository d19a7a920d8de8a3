"""Shared fixtures: every test ends with no thread of its own left running."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from actors_wf import COMPONENT, Engine, Validator
from tests.components.fixture import register_fixture_components

THREAD_EXIT_TIMEOUT = 10.0
# The kit's pytest plugin, loaded here, not through its entry point (`-p no:actors_wf` in
# pyproject.toml): an entry point is imported before coverage starts measuring.
pytest_plugins = ("actors_wf.testing._plugin", "pytester")


@pytest.fixture(autouse=True)
def no_threads_left() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    leftover = [t for t in threading.enumerate() if t not in before]
    for thread in leftover:
        # An actor's thread exits right after its stop is acknowledged: join, not sleep.
        thread.join(THREAD_EXIT_TIMEOUT)
    alive = [t.name for t in leftover if t.is_alive()]
    assert not alive, f"threads left running: {alive}"


def add(a: int, b: int) -> int:
    return a + b


def inc(x: int) -> int:
    return x + 1


def boom(x: int = 0) -> int:
    raise ValueError(f"boom {x}")


@pytest.fixture
def validator() -> Iterator[Validator]:
    """An engine's validator that knows the fixture components."""
    with Engine() as eng:
        register_fixture_components(eng)
        yield eng.validator


@pytest.fixture
def engine_options() -> dict[str, Any]:
    """Keyword arguments of the ``engine`` fixture's Engine; a test module overrides it."""
    return {}


@pytest.fixture
def engine_setup() -> Callable[[Engine], None]:
    """What the ``engine`` fixture does to a new engine (register components...); overridable."""
    return lambda engine: None


@pytest.fixture
def engine(
    engine_options: dict[str, Any], engine_setup: Callable[[Engine], None]
) -> Iterator[Engine]:
    """The one engine fixture: an Engine with the math.* components, closed after the test."""
    with Engine(**engine_options) as eng:
        eng.registry.register(COMPONENT, "math.add", None, add)
        eng.registry.register(COMPONENT, "math.inc", None, inc)
        eng.registry.register(COMPONENT, "math.boom", None, boom)
        engine_setup(eng)
        yield eng
