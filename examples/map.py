"""Components of examples/map.yaml; `actors-wf run examples/map.yaml` imports this file."""

from typing import Any

from actors_wf import component


@component("docs.count_words")
def count_words(text: str, position: int) -> dict[str, int]:
    if not text:
        raise ValueError(f"document {position} is empty")
    return {"position": position, "words": len(text.split())}


@component("docs.total")
def total(counts: list[Any]) -> int:
    return sum(c["words"] for c in counts if "words" in c)


@component("docs.describe")
def describe(count: dict[str, int]) -> str:
    return f"document {count['position']} has {count['words']} words"
