"""A step's settings are merged once per step spec and component definition."""

from __future__ import annotations

import pytest

from actors_wf import ComponentDefinition, RetryPolicy, StepSpec
from actors_wf._runtime import _step_settings
from actors_wf._runtime._step_settings import merged_settings


def test_settings_are_shared_until_the_spec_or_the_definition_changes(monkeypatch):
    monkeypatch.setattr(_step_settings, "_SETTINGS", {})
    spec = StepSpec(id="a", component="c.x", timeout=5.0)
    definition = ComponentDefinition(retry=RetryPolicy(max_attempts=3), resources={"db": 1})

    first = merged_settings(spec, definition)

    assert merged_settings(spec, definition) is first
    assert (first.timeout, first.retry.max_attempts, first.need) == (5.0, 3, {"steps": 1, "db": 1})
    again = ComponentDefinition(retry=RetryPolicy(max_attempts=9))  # registered again
    assert merged_settings(spec, again).retry.max_attempts == 9 and merged_settings(
        spec, again
    ).need == {"steps": 1}


def test_the_settings_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    cache: dict[object, object] = {}
    monkeypatch.setattr(_step_settings, "_SETTINGS", cache)
    monkeypatch.setattr(_step_settings, "_SETTINGS_KEPT", 2)
    definition = ComponentDefinition()
    specs = [StepSpec(id=f"s{i}", component="c.x") for i in range(5)]
    for spec in specs:
        merged_settings(spec, definition)
    assert 1 <= len(cache) <= 2  # emptied when full, then filled again
