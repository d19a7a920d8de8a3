"""The one codec: attrs records to msgpack bytes and back, with cattrs.

Messages between actors, replies on the control interface and stored
snapshots all go through here; nothing else hand-writes (de)serialisation.

The converter is strict: cattrs would turn ``3.7`` into ``3`` for an ``int``
field and ``"no"`` into ``True`` for a ``bool`` one; here both are refused.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import cattrs
import msgpack
from cattrs.cols import homogenous_tuple_structure_factory
from cattrs.errors import ForbiddenExtraKeysError
from cattrs.gen import (
    make_dict_structure_fn,
    make_mapping_structure_fn,
)
from cattrs.preconf.msgpack import make_converter
from cattrs.v import format_exception

from ._errors import MessageError
from ._messages import Message
from ._records import StepMap, StepState
from ._spec import InputSpec, is_seconds, parse_duration

T = TypeVar("T")

MESSAGE_TYPES: dict[str, type[Any]] = {cls.TAG: cls for cls in typing.get_args(Message)}
TAG_FIELD = "type"


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


def _tag_of(cls: type[Any]) -> str:
    tag: str = getattr(cls, "TAG")  # noqa: B009 - every message class has one
    return tag


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
    _step_map_hooks(conv)
    return conv


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


# Per message class: its unstructure hook and tag (encode), per tag: its
# structure hook and class (decode). A dict lookup instead of cattrs' union
# dispatch: the same hooks, a quarter of the time per message. Each is made
# on a message type's first use: making them all costs a cold start 40 ms.
_UNSTRUCTURE: dict[type[Any], tuple[Callable[[Any], Any], str]] = {}
_TRUSTING = make_trusting_converter()
_TRUSTED: dict[str, tuple[Callable[..., Any] | None, type[Any]]] = {}
_MESSAGE_CLASSES = frozenset(MESSAGE_TYPES.values())


def _unstructure_hook(cls: type[Any]) -> tuple[Callable[[Any], Any], str]:
    found = _UNSTRUCTURE.get(cls)
    if found is None:
        if cls not in _MESSAGE_CLASSES:
            raise MessageError(f"cannot encode {cls.__name__}: not a message")
        found = _UNSTRUCTURE[cls] = (converter.get_unstructure_hook(cls), _tag_of(cls))
    return found


def _trusted_hook(tag: str) -> tuple[Callable[..., Any] | None, type[Any]]:
    """The tag's structure hook (``None``: a flat message, built by its class) and class."""
    found = _TRUSTED.get(tag)
    if found is None:
        cls = MESSAGE_TYPES[tag]
        hook = None if _flat(cls) else _TRUSTING.get_structure_hook(cls)
        found = _TRUSTED[tag] = (hook, cls)
    return found


def encode(message: Message) -> bytes:
    """Encode a message record to msgpack bytes, tag included.

    Raises:
        MessageError: a field holds a value msgpack cannot carry.
    """
    hook, tag = _UNSTRUCTURE.get(type(message)) or _unstructure_hook(type(message))
    try:
        data = hook(message)
        data[TAG_FIELD] = tag
        packed: bytes = msgpack.packb(data)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MessageError(f"cannot encode {type(message).__name__}: {exc}") from exc
    return packed


def decode(data: bytes) -> Message:
    """Decode msgpack bytes into a message record, checking every field.

    For bytes from outside (the control interface, a user's ``handle``).

    Raises:
        MessageError: the bytes are not a message (truncated, unknown tag,
            a field of the wrong type); the message says which.
    """
    try:
        raw = msgpack.unpackb(data)
    except Exception as exc:  # msgpack raises several unrelated types
        raise MessageError(f"not msgpack: {exc}") from None
    tag = raw.get(TAG_FIELD) if isinstance(raw, dict) else None
    if not isinstance(tag, str) or tag not in MESSAGE_TYPES:  # a list or map is unhashable
        known = ", ".join(sorted(MESSAGE_TYPES))
        raise MessageError(f"unknown message type {tag!r}; known types: {known}")
    fields = {key: value for key, value in raw.items() if key != TAG_FIELD}
    try:
        message: Message = converter.structure(fields, MESSAGE_TYPES[tag])
    except Exception as exc:
        problems = "; ".join(describe_errors(exc, path=raw[TAG_FIELD]))
        raise MessageError(f"bad {raw[TAG_FIELD]} message: {problems}") from None
    return message


def decode_trusted(data: bytes) -> Message:
    """Decode bytes that :func:`encode` wrote, or that :func:`decode` has accepted.

    Messages between actors take this path: no field is checked again. Bytes
    that do not even decode still get :func:`decode`'s clear error.

    Raises:
        MessageError: as :func:`decode`.
    """
    try:
        raw = msgpack.unpackb(data)
        tag = raw.pop(TAG_FIELD)
        hook, cls = _TRUSTED.get(tag) or _trusted_hook(tag)
        # A flat message: cattrs would only pass each field through an identity
        # hook; calling the class does the same in one step.
        message: Message = cls(**raw) if hook is None else hook(raw, cls)
    except Exception:
        return decode(data)
    return message


def dump_record(record: attrs.AttrsInstance) -> bytes:
    """Serialise any engine record (a snapshot, a spec) to msgpack bytes."""
    packed: bytes = msgpack.packb(converter.unstructure(record))
    return packed


def load_record(data: bytes, cls: type[T]) -> T:
    """Rebuild a record of type ``cls`` from :func:`dump_record` bytes."""
    return converter.structure(msgpack.unpackb(data), cls)
