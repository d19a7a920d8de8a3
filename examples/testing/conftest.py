"""What the actors_wf_engine fixture (from the installed actors_wf) is made with."""

from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.fixture
def actors_wf_components() -> list[str]:
    return ["etl_components"]  # modules whose @component declarations to import


@pytest.fixture
def actors_wf_workflows() -> list[Path]:
    return [HERE / "flows" / "etl.yaml"]
