"""The pytest plugin (entry point ``pytest11``): the ``actors_wf_engine`` fixture.

Installed with actors_wf, so any test suite has it. Configure it per test
module or ``conftest.py`` by overriding the fixtures ``actors_wf_components``,
``actors_wf_workflows`` and ``actors_wf_options``, or per test with the
marker ``@pytest.mark.actors_wf(components=..., workflows=..., **options)``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """Declare the marker."""
    config.addinivalue_line(
        "markers",
        "actors_wf(components=None, workflows=(), **options): what actors_wf_engine is made with",
    )


@pytest.fixture
def actors_wf_components() -> Any:
    """The components of ``actors_wf_engine``: override it (by id, or module paths)."""
    return {}


@pytest.fixture
def actors_wf_workflows() -> list[Any]:
    """The workflows of ``actors_wf_engine``: override it (dicts, YAML/JSON text, paths)."""
    return []


@pytest.fixture
def actors_wf_options() -> dict[str, Any]:
    """More keywords for ``actors_wf.testing.engine`` (``store=``, ``ids=``...)."""
    return {}


@pytest.fixture
def actors_wf_engine(
    request: pytest.FixtureRequest,
    actors_wf_components: Any,
    actors_wf_workflows: list[Any],
    actors_wf_options: dict[str, Any],
) -> Iterator[Any]:
    """A test engine (``actors_wf.testing.engine``) on a ManualClock, checked for leaks after."""
    from actors_wf.testing import engine

    options = {
        "components": actors_wf_components,
        "workflows": actors_wf_workflows,
        **actors_wf_options,
    }
    marker = request.node.get_closest_marker("actors_wf")
    if marker is not None:
        options.update(marker.kwargs)
    with engine(**options) as made:
        yield made
