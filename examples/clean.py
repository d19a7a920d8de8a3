"""Components of examples/clean.yaml."""

from actors_wf import component


@component("text.strip")
def strip(raw: str) -> str:
    return raw.strip()


@component("text.squeeze")
def squeeze(text: str) -> str:
    return " ".join(text.split())
