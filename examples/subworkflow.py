"""Components of examples/subworkflow.yaml."""

from actors_wf import component


@component("text.shout")
def shout(text: str) -> str:
    return text.upper()
