"""Components of examples/approval.yaml."""

from actors_wf import component


@component("docs.draft")
def draft(title: str) -> str:
    return f"{title} (draft)"


@component("docs.publish")
def publish(draft: str, by: str) -> str:
    return f"{draft.replace(' (draft)', '')}, approved by {by}"
