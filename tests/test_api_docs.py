"""The API reference builds from the public docstrings, with warnings as errors."""

import builtins
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pdoc.doc
import pytest

import actors_wf
import actors_wf.testing
import actors_wf.testing.faults
import actors_wf.testing.strategies

PUBLIC_MODULES = (
    actors_wf,
    actors_wf.testing,
    actors_wf.testing.faults,
    actors_wf.testing.strategies,
)
# actors_wf imports a name on first use; pdoc's command line does the same
# through its TYPE_CHECKING pass, pdoc.doc.Module needs them loaded.
for _module in (actors_wf, actors_wf.testing):
    for _name in _module.__all__:
        getattr(_module, _name)
# A class-like name in backticks (`Engine`, `JobManager.wait`) is a cross-reference.
CLASS_REF = re.compile(r"`([A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*)(?:\.([a-z_]\w*))?(?:\(\))?`")
OUTSIDE = {"Path", "BaseException"}


def _documented(doc: pdoc.doc.Doc) -> Iterator[pdoc.doc.Doc]:  # type: ignore[type-arg]
    yield doc
    members = (
        doc.own_members
        if isinstance(doc, pdoc.doc.Class)
        else getattr(doc, "members", {}).values()
    )
    for member in members:
        if not member.name.startswith("_"):
            yield from _documented(member)


def _all_docs() -> Iterator[pdoc.doc.Doc]:  # type: ignore[type-arg]
    for module in PUBLIC_MODULES:
        yield from _documented(pdoc.doc.Module(module))


def test_reference_builds_with_warnings_as_errors(tmp_path: Path) -> None:
    out = tmp_path / "api"
    command = [
        sys.executable,
        "-W",
        "error",
        "-m",
        "pdoc",
        "-d",
        "google",
        "actors_wf",
        "actors_wf.testing",
    ]
    done = subprocess.run([*command, "-o", str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (out / "actors_wf.html").is_file()
    assert "Engine" in (out / "actors_wf.html").read_text()
    assert (out / "actors_wf" / "testing.html").is_file()


def test_every_public_item_has_a_docstring() -> None:
    missing = [
        doc.qualname or doc.modulename
        for doc in _all_docs()
        if not isinstance(doc, pdoc.doc.Variable) and not doc.docstring.strip()
    ]
    assert missing == []


def _resolves(name: str, attribute: str | None) -> bool:
    if name in OUTSIDE or hasattr(builtins, name):
        return attribute is None or hasattr(getattr(builtins, name, None), attribute)
    owner = next((getattr(m, name) for m in PUBLIC_MODULES if name in m.__all__), None)
    return owner is not None and (attribute is None or hasattr(owner, attribute))


def test_every_cross_reference_names_a_public_item() -> None:
    broken = {
        f"{doc.qualname or doc.modulename}: {match.group(0)}"
        for doc in _all_docs()
        for match in CLASS_REF.finditer(doc.docstring)
        if not _resolves(match.group(1), match.group(2))
    }
    assert sorted(broken) == []


@pytest.mark.parametrize("text", ["`Nowhere`", "`Engine.no_such_method()`"])
def test_a_broken_reference_is_caught(text: str) -> None:
    match = CLASS_REF.search(text)
    assert match is not None and not _resolves(match.group(1), match.group(2))
