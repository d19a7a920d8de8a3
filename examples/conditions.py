"""Components of examples/conditions.yaml."""

from typing import TypedDict

from actors_wf import component


class Review(TypedDict):
    passed: bool
    score: int


@component("review.check")
def check(score: int) -> Review:
    return {"passed": score > 0, "score": score}


@component("review.publish")
def publish(score: int) -> str:
    return f"published with score {score}"


@component("review.notify")
def notify(published: str) -> str:
    return f"notice: {published}"
