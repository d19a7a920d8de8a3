"""Length-prefixed msgpack frames: how the engine and its worker processes talk."""

from __future__ import annotations

import struct
from typing import IO, Any

import msgpack

_HEADER = struct.Struct(">I")


def read_frame(stream: IO[bytes]) -> Any:
    """Read one frame; ``None`` at end of stream (a frame cut short included)."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    body = _read_exactly(stream, size)
    return None if body is None else msgpack.unpackb(body)


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    """``size`` bytes, or ``None`` if the stream ends first; an unbuffered pipe reads short."""
    data = stream.read(size)
    if data is None or len(data) == size:
        return data
    parts = bytearray(data)
    while len(parts) < size:
        chunk = stream.read(size - len(parts))
        if not chunk:
            return None
        parts += chunk
    return bytes(parts)


def write_frame(stream: IO[bytes], data: Any) -> None:
    """Write one frame and flush it."""
    body = msgpack.packb(data)
    stream.write(_HEADER.pack(len(body)) + body)
    stream.flush()
