"""The strict cattrs converter: records from plain data, every field's type checked.

cattrs would turn ``3.7`` into ``3`` for an ``int`` field and ``"no"`` into
``True`` for a ``bool`` one; here both are refused. Reading a workflow needs
only this, not the message codec (``_codec``), so ``actors-wf validate``
does not pay for building the messages.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any

import attrs
import cattrs
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.gen import (
    make_dict_structure_fn,
    make_dict_unstructure_fn,
    make_mapping_structure_fn,
    override,
)
from cattrs.preconf.msgpack import make_converter
from cattrs.v import format_exception

from ._records import StepMap, StepState
from ._spec import InputSpec, is_seconds, parse_duration


def _strict(kind: type, accept: type | tuple[type, ...]) -> Any:
    def hook(value: Any, _: Any) -> Any:
        # bool is an int subclass: only a bool slot takes True/False.
        if isinstance(value, accept) and (kind is bool or not isinstance(value, bool)):
            return kind(value)
        raise TypeError(f"expected {kind.__name__}, got {type(value).__name__} {value!r:.60}")

    return hook


def _seconds(value: Any, _: Any) -> float:
    if isinstance(value, str):
        return parse_duration(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise TypeError(
        "expected seconds or a duration such as 30s or 5m,"
        f" got {type(value).__name__} {value!r:.60}"
    )


def _guarded(
    make_inner: Callable[[Any], Any], accept: type | tuple[type, ...], what: str
) -> Callable[[Any], Any]:
    """A hook factory that refuses values of the wrong kind before cattrs sees them.

    cattrs would turn ``"ab"`` into ``("a", "b")`` for a tuple and fail with an
    AttributeError for a dict given a list; here both are a clear TypeError.
    """

    def factory(kind: Any) -> Any:
        inner = make_inner(kind)

        def hook(value: Any, cls: Any) -> Any:
            if not isinstance(value, accept):
                raise TypeError(f"expected {what}, got {type(value).__name__} {value!r:.60}")
            return inner(value, cls)

        return hook

    return factory


def _is_str_dict(kind: Any) -> bool:
    return typing.get_origin(kind) is dict


def _is_homogenous_tuple(kind: Any) -> bool:
    args = typing.get_args(kind)
    return typing.get_origin(kind) is tuple and len(args) == 2 and args[1] is Ellipsis


def _input_spec_hook(converter: cattrs.Converter) -> Any:
    base = make_dict_structure_fn(InputSpec, converter, _cattrs_forbid_extra_keys=True)

    def hook(value: Any, cls: Any) -> InputSpec:
        if isinstance(value, str):  # `name: int` is short for `name: {type: int}`
            return InputSpec(type=value)
        if not isinstance(value, dict):
            raise TypeError(f"expected a type name or a mapping, got {type(value).__name__}")
        if "default" in value and "required" not in value:
            value = {**value, "required": False}
        result: InputSpec = base(value, cls)
        return result

    return hook


def _format(exc: BaseException, kind: type | None) -> str:
    if isinstance(exc, KeyError):
        return "required field missing"
    if isinstance(exc, ForbiddenExtraKeysError):
        return f"unknown field(s) {', '.join(sorted(exc.extra_fields))}"
    text = str(exc)
    if text:
        return text
    return format_exception(exc, kind)


def describe_errors(exc: BaseException, path: str = "$") -> list[str]:
    """Turn a converter error into ``"what is wrong @ path"`` lines, one per problem."""
    return cattrs.transform_error(exc, path=path, format_exception=_format)


def make_strict_converter() -> cattrs.Converter:
    """Build the engine's converter (one per process; see ``converter``)."""
    conv = make_converter(detailed_validation=True, forbid_extra_keys=True)
    conv.register_structure_hook(int, _strict(int, int))
    conv.register_structure_hook(float, _strict(float, (int, float)))
    conv.register_structure_hook(str, _strict(str, str))
    conv.register_structure_hook(bool, _strict(bool, bool))
    conv.register_structure_hook_func(is_seconds, _seconds)
    records = _guarded(
        lambda cls: make_dict_structure_fn(cls, conv, _cattrs_forbid_extra_keys=True),
        dict,
        "a mapping",
    )
    sequences = _guarded(
        lambda kind: homogenous_tuple_structure_factory(kind, conv), (list, tuple), "a list"
    )
    mappings = _guarded(lambda kind: make_mapping_structure_fn(kind, conv), dict, "a mapping")
    conv.register_structure_hook_factory(attrs.has, records)
    conv.register_structure_hook_factory(_is_homogenous_tuple, sequences)
    conv.register_structure_hook_factory(_is_str_dict, mappings)
    conv.register_structure_hook(InputSpec, _input_spec_hook(conv))
    conv.register_unstructure_hook_factory(_has_omissible, lambda cls: _omitting(cls, conv))
    _step_map_hooks(conv)
    return conv


def _has_omissible(cls: Any) -> bool:
    return attrs.has(cls) and any(f.metadata.get("omit_if_default") for f in attrs.fields(cls))


def _omitting(cls: Any, conv: cattrs.Converter) -> Callable[[Any], dict[str, Any]]:
    """Leave out a field that only some records use while it is at its default.

    For fields that only steps on a cluster fill in: every other step's
    messages and records stay the size and cost they were.
    """
    omitted: dict[str, Any] = {
        f.name: override(omit_if_default=True)
        for f in attrs.fields(cls)
        if f.metadata.get("omit_if_default")
    }
    hook: Callable[[Any], dict[str, Any]] = make_dict_unstructure_fn(cls, conv, **omitted)
    return hook


def _step_map_hooks(conv: cattrs.Converter) -> None:
    """A job's steps travel as a plain mapping of step id to step."""
    as_dict = conv.get_structure_hook(dict[str, StepState])
    conv.register_structure_hook(
        StepMap, lambda value, _: StepMap(as_dict(value, dict[str, StepState]))
    )
    conv.register_unstructure_hook(StepMap, conv.get_unstructure_hook(dict[str, StepState]))


converter = make_strict_converter()


# Field types msgpack gives back as they were packed; the trusting converter
# passes them through as they are.
_PLAIN: frozenset[Any] = frozenset({str, int, float, bool, bytes, Any, dict[str, Any]})


def _flat(cls: type[Any]) -> bool:
    """Whether every field of a message is plain data, or ``None`` (nothing to structure)."""
    return all(
        kind in _PLAIN
        or (
            typing.get_origin(kind) in (typing.Union, types.UnionType)
            and all(arg in _PLAIN or arg is type(None) for arg in typing.get_args(kind))
        )
        for kind in (field.type for field in attrs.fields(attrs.resolve_types(cls)))
    )


def make_trusting_converter() -> cattrs.Converter:
    """The converter for bytes the engine wrote or has already checked.

    Same records, same layout; it only skips the per-field checks (and the
    error paths), which cost more than the rest of a message's trip.
    """
    conv = make_converter(detailed_validation=False)
    for kind in (int, float, str, bool):
        conv.register_structure_hook(kind, _as_is)
    # Inputs and outputs are plain data that msgpack has just built: as they are.
    conv.register_structure_hook_func(lambda kind: kind == dict[str, Any], _as_is)
    _step_map_hooks(conv)
    return conv


def _as_is(value: Any, _: Any) -> Any:
    return value
