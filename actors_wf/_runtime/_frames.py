"""Length-prefixed msgpack frames: how the engine and its worker processes talk."""

from __future__ import annotations

import struct
from typing import IO, Any

import msgpack

_HEADER = struct.Struct(">I")


def read_frame(stream: IO[bytes]) -> Any:
    """Read one frame; ``None`` at end of stream."""
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    body = stream.read(size)
    if len(body) < size:
        return None
    return msgpack.unpackb(body)


def write_frame(stream: IO[bytes], data: Any) -> None:
    """Write one frame and flush it."""
    body = msgpack.packb(data)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()
