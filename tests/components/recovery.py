"""Components a recovering engine imports by module path (test_sqlite)."""

from actors_wf import component


@component("t.a")
def a(x: int) -> int:
    return x + 1


@component("t.b")
def b(x: int) -> int:
    return x + 1


@component("t.c")
def c(x: int) -> int:
    return x + 1
