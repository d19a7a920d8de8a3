"""The one codec: attrs records to msgpack bytes and back, with cattrs.

Messages between actors, replies on the control interface and stored
snapshots all go through here; nothing else hand-writes (de)serialisation.
The strict converter it uses lives in ``_convert``.
"""

from __future__ import annotations

import operator
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import attrs
import msgpack

from ._convert import (
    _flat,
    converter,
    describe_errors,
    make_strict_converter,
    make_trusting_converter,
)
from ._errors import MessageError
from ._messages import Message

__all__ = [
    "MESSAGE_TYPES",
    "TAG_FIELD",
    "converter",
    "decode",
    "decode_trusted",
    "describe_errors",
    "dump_record",
    "encode",
    "load_record",
    "make_strict_converter",
    "make_trusting_converter",
]

T = TypeVar("T")

MESSAGE_TYPES: dict[str, type[Any]] = {cls.TAG: cls for cls in typing.get_args(Message)}
TAG_FIELD = "type"


def _tag_of(cls: type[Any]) -> str:
    tag: str = getattr(cls, "TAG")  # noqa: B009 - every message class has one
    return tag


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


# The two flat messages every step sends, which only an engine's own actors
# exchange: an array (the tag, then the attrs fields in order), as unpacking a
# map interns each key and builds a dict (see docs/performance.md).
_ARRAY_TAGS = ("run_step", "step_succeeded")
_AS_ARRAY: dict[type[Any], Callable[[Any], tuple[Any, ...]]] = {}
_ARRAY_FIELDS: dict[str, tuple[type[Any], tuple[str, ...]]] = {}
for _tag in _ARRAY_TAGS:
    _names = tuple(field.name for field in attrs.fields(MESSAGE_TYPES[_tag]))
    _AS_ARRAY[MESSAGE_TYPES[_tag]] = operator.attrgetter(*_names)
    _ARRAY_FIELDS[_tag] = (MESSAGE_TYPES[_tag], _names)


def encode(message: Message) -> bytes:
    """Encode a message record to msgpack bytes, tag included.

    Raises:
        MessageError: a field holds a value msgpack cannot carry.
    """
    fields = _AS_ARRAY.get(message.__class__)
    try:
        if fields is not None:
            as_array: bytes = msgpack.packb((message.TAG, *fields(message)))
            return as_array
        hook, tag = _UNSTRUCTURE.get(type(message)) or _unstructure_hook(type(message))
        data = hook(message)
        data[TAG_FIELD] = tag
        packed: bytes = msgpack.packb(data)
    except (TypeError, ValueError, OverflowError) as exc:
        raise MessageError(f"cannot encode {type(message).__name__}: {exc}") from exc
    return packed


def _as_map(raw: list[Any]) -> dict[str, Any] | None:
    """An array-layout message as the map the strict decoder reads; ``None`` if it is none."""
    found = _ARRAY_FIELDS.get(raw[0]) if raw and isinstance(raw[0], str) else None
    if found is None:
        return None
    names = found[1]
    if len(raw) - 1 != len(names):
        raise MessageError(f"bad {raw[0]} message: {len(raw) - 1} fields, expected {len(names)}")
    return {TAG_FIELD: raw[0], **dict(zip(names, raw[1:], strict=True))}


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
    if isinstance(raw, list):
        raw = _as_map(raw)
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
        if raw.__class__ is list:
            cls, names = _ARRAY_FIELDS[raw[0]]
            if len(raw) - 1 != len(names):  # no silent default for a field left out
                return decode(data)
            array_message: Message = cls(*raw[1:])
            return array_message
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
