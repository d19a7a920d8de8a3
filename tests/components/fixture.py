"""The components the validation fixtures (tests/fixtures/invalid/) are written against.

Shared by the validation tests, the report tests and docs/make_errors.py.
"""

from typing import TypedDict

from actors_wf import COMPONENT, Engine


class Count(TypedDict):
    words: int
    chars: int


def greet(name: str) -> str:
    return f"Hello, {name}!"


def upper(text: str) -> str:
    return text.upper()


def repeat(text: str, times: int = 2) -> str:
    return " ".join([text] * times)


def count(text: str) -> Count:
    return {"words": len(text.split()), "chars": len(text)}


def register_fixture_components(engine: Engine) -> None:
    for cid, fn in [
        ("text.greet", greet),
        ("text.upper", upper),
        ("text.repeat", repeat),
        ("text.count", count),
    ]:
        engine.registry.register(COMPONENT, cid, None, fn)
    # Runs on an executor no engine of the fixtures has (WF218).
    engine.registry.register(COMPONENT, "text.remote", {"isolation": "cluster"}, upper)
