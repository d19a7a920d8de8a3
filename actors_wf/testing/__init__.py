"""The test kit: property-test your own workflows and job transitions, in-process.

- :func:`engine`: a test engine on a :class:`ManualClock`, your components
  and workflows registered, checked for leaks at exit; the pytest fixture
  ``actors_wf_engine`` gives the same.
- :mod:`actors_wf.testing.faults`: fail, hang, crash, slow down or hold back
  a component's attempts by id, without editing its code.
- :mod:`actors_wf.testing.strategies`: hypothesis strategies for valid and
  broken workflows, their inputs and job commands.
- :func:`reference_run` and :func:`assert_same_as_reference`: a plain,
  one-thread oracle and the differential property against it.
- :class:`JobLifecycleMachine`: a hypothesis state machine over jobs of
  your workflows, to subclass with your own invariants.
- Assertions: :func:`assert_job`, :func:`assert_replays`,
  :func:`assert_transition_allowed`, :func:`assert_no_leaks`.

The strategies and the machine need hypothesis (``pip install
actors-wf[testing]``); the rest does not.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .._runtime._clock import ManualClock
from ._assertions import (
    assert_job,
    assert_journal_replays,
    assert_replays,
    assert_transition_allowed,
)
from ._engine import SequentialIds, engine
from ._leaks import assert_no_leaks
from ._oracle import Reference, assert_same_as_reference, reference_run, run_to_end

if TYPE_CHECKING:
    from ._machine import JobLifecycleMachine

__all__ = [
    "JobLifecycleMachine",
    "ManualClock",
    "Reference",
    "SequentialIds",
    "assert_job",
    "assert_journal_replays",
    "assert_no_leaks",
    "assert_replays",
    "assert_same_as_reference",
    "assert_transition_allowed",
    "engine",
    "reference_run",
    "run_to_end",
]


def __getattr__(name: str) -> Any:
    # The machine subclasses hypothesis' RuleBasedStateMachine: imported when asked for.
    if name == "JobLifecycleMachine":
        try:
            module = importlib.import_module("._machine", __name__)
        except ModuleNotFoundError as exc:
            if exc.name != "hypothesis":
                raise
            raise ImportError(
                "actors_wf.testing.JobLifecycleMachine needs hypothesis: "
                "pip install 'actors-wf[testing]'"
            ) from None
        value = module.JobLifecycleMachine
        globals()[name] = value
        return value
    raise AttributeError(f"module 'actors_wf.testing' has no attribute {name!r}")
