"""Small pure components the kit's tests generate workflows over."""

from typing import TypedDict


def add(a: int, b: int) -> int:
    return a + b


def concat(a: str, b: str = "-") -> str:
    return a + b


def length(s: str) -> int:
    return len(s)


def half(x: int) -> int:
    """Fails on odd numbers: the generated workflows fail and skip too."""
    if x % 2:
        raise ValueError(f"{x} is odd")
    return x // 2


class Labelled(TypedDict):
    n: int
    label: str


def label(n: int, label: str) -> Labelled:
    return {"n": n, "label": label}


def total(xs: list[int]) -> int:
    return sum(xs)


COMPONENTS = {
    "t.add": add,
    "t.concat": concat,
    "t.length": length,
    "t.half": half,
    "t.label": label,
    "t.total": total,
}
