"""A user's components: what an ETL project would register."""

from typing import TypedDict

from actors_wf import component


class Page(TypedDict):
    url: str
    words: int


@component("etl.fetch")
def fetch(url: str) -> Page:
    """Pretend to fetch a page: its word count is the url's length."""
    if not url.startswith("https://"):
        raise ValueError(f"not an https url: {url!r}")
    return {"url": url, "words": len(url)}


@component("etl.score")
def score(page: Page, weight: int = 2) -> int:
    """A page's score."""
    return page["words"] * weight


@component("etl.store")
def store(url: str, score: int) -> str:
    """Pretend to store the score; return a receipt."""
    return f"{url}={score}"
