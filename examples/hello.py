"""Components of the hello workflow; `actors-wf run examples/hello.yaml` imports this file."""

from actors_wf import component


@component("text.greet")
def greet(name: str) -> str:
    return f"Hello, {name}!"


@component("text.upper")
def upper(text: str) -> str:
    return text.upper()


@component("text.repeat")
def repeat(text: str, times: int = 2) -> str:
    return " ".join([text] * times)


@component("text.summary")
def summary(quiet: str, loud: str) -> dict[str, object]:
    return {"quiet": quiet, "loud": loud, "words": len(quiet.split()) + len(loud.split())}
