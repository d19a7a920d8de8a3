"""Importing the modules that register components, with errors that say where to look."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from .._core._errors import ComponentImportError


def import_components(modules: Iterable[str]) -> None:
    """Import each module by name, as ``python -m`` would find it (the working directory first).

    Raises:
        ComponentImportError: a module failed; the message says why and what to try.
    """
    for name in modules:
        _search_here()
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ComponentImportError(name, exc, _hint(name, exc)) from None


def import_file(path: Path, name: str) -> ModuleType:
    """Import a ``.py`` file as module ``name`` (a process worker loads it the same way).

    Raises:
        ComponentImportError: the file failed to import.
    """
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise ComponentImportError(str(path), exc, _hint(str(path), exc)) from None
    return module


def _search_here() -> None:
    """Put the working directory on the path, as ``python -m`` and uvicorn do."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


def _hint(name: str, exc: Exception) -> str:
    if name.endswith(".py"):
        return f"give a module name ({Path(name).stem}), not a file name"
    if not isinstance(exc, ModuleNotFoundError) or exc.name is None:
        return ""
    missing = exc.name
    if name != missing and not name.startswith(missing + "."):
        return f"{name} imports {missing}, which is not installed here: pip install it"
    head = missing.partition(".")[0]
    if missing == head:
        return (
            f"no {head}/ or {head}.py in {os.getcwd()} or on sys.path: run from the"
            " directory that holds it, set PYTHONPATH to that directory, or pip install -e"
            " the project that contains it"
        )
    parent, _, leaf = missing.rpartition(".")
    return f"{parent} has no module {leaf} ({parent.replace('.', '/')}/{leaf}.py)"
