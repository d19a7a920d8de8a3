"""The pytest plugin, as a user's suite meets it: installed, found through its entry point."""

TEST_FILE = """
import pytest
from actors_wf import ManualClock

def inc(x: int) -> int:
    return x + 1

FLOW = {"id": "w", "inputs": {"x": "int"},
        "steps": [{"id": "s", "component": "t.inc", "inputs": {"x": "$inputs.x"}}],
        "outputs": {"y": "$steps.s.output"}}

@pytest.fixture
def actors_wf_components():
    return {"t.inc": inc}

@pytest.fixture
def actors_wf_workflows():
    return [FLOW]

def test_the_fixture_is_a_test_engine(actors_wf_engine):
    assert isinstance(actors_wf_engine.clock, ManualClock)
    assert actors_wf_engine.run("w", {"x": 1}, timeout=10) == {"y": 2}

@pytest.mark.actors_wf(ids="sequential")
def test_the_marker_adds_options(actors_wf_engine):
    assert actors_wf_engine.jobs_sync.create_job("w", {"x": 1}) == "job-1"
"""


def test_a_suite_gets_the_fixture_from_the_installed_package(pytester):
    pytester.makepyfile(test_user=TEST_FILE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-W", "error")
    result.assert_outcomes(passed=2)
