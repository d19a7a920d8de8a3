"""A job state kept in parts: its header, its workflow and its steps, each converted once.

Stores and snapshots keep a job's workflow (the same for every job of it)
and its steps apart from the rest of its state, and convert each part once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs
import msgpack
from cattrs.gen import make_dict_unstructure_fn, override

from .._core._codec import converter, dump_record, load_record
from .._core._records import JobState, StepState
from .._core._spec import WorkflowSpec


class PartCache:
    """Records of one type packed once, and bytes read once; bounded, thread-safe enough.

    Records are immutable, so a record seen again (by identity) has the same
    bytes, and bytes seen again give the record read from them the first time
    (strictly). Stores and snapshots keep a job's parts (its workflow, its
    steps) apart and convert each of them once this way.
    """

    def __init__(self, kind: type[Any], limit: int) -> None:
        self._kind = kind
        self._limit = limit
        self._packed: dict[int, tuple[Any, bytes]] = {}
        self._read: dict[bytes, Any] = {}

    def pack(self, record: Any) -> bytes:
        """The record's :func:`dump_record` bytes."""
        hit = self._packed.get(id(record))
        if hit is not None and hit[0] is record:
            return hit[1]
        data = dump_record(record)
        if len(self._packed) >= self._limit:
            self._packed.clear()
        self._packed[id(record)] = (record, data)  # keeps it alive: its id is not reused
        return data

    def unpack(self, data: bytes) -> Any:
        """The record :func:`load_record` reads from ``data``.

        Raises:
            TypeError: ``data`` is not bytes; or as :func:`load_record`.
        """
        if not isinstance(data, bytes):
            raise TypeError(f"expected bytes for a {self._kind.__name__}")
        record = self._read.get(data)
        if record is None:
            record = load_record(data, self._kind)
            if len(self._read) >= self._limit:
                self._read.clear()
            self._read[data] = record
        return record


# Workflow specs, the same for every job of a workflow and every snapshot of it.
SPECS = PartCache(WorkflowSpec, 256)


# A JobState without its workflow and steps: stores and snapshots keep those apart.
job_header = make_dict_unstructure_fn(
    JobState, converter, workflow=override(omit=True), steps=override(omit=True)
)


# The header without its inputs; the inputs are packed once per job (see pack_header).
_header_without_inputs = make_dict_unstructure_fn(
    JobState,
    converter,
    workflow=override(omit=True),
    steps=override(omit=True),
    inputs=override(omit=True),
)
_INPUTS_KEY: bytes = msgpack.packb("inputs")
_PACKED_INPUTS: dict[int, tuple[Any, bytes]] = {}


def pack_header(state: JobState) -> bytes:
    """``msgpack.packb(job_header(state))``, with the inputs packed once per job.

    A job's inputs never change, and a map over a long list keeps it there:
    packing it again at every save made each item's save cost the whole list.
    The bytes are the same msgpack map, its ``inputs`` pair spliced in.
    """
    inputs = state.inputs
    hit = _PACKED_INPUTS.get(id(inputs))
    if hit is None or hit[0] is not inputs:
        if len(_PACKED_INPUTS) >= 4096:
            _PACKED_INPUTS.clear()
        packed: bytes = msgpack.packb(inputs)
        hit = _PACKED_INPUTS[id(inputs)] = (inputs, packed)
    rest: bytes = msgpack.packb(_header_without_inputs(state))
    count, body = _map_head(rest)
    return _map_prefix(count + 1) + body + _INPUTS_KEY + hit[1]


def _map_head(packed: bytes) -> tuple[int, bytes]:
    first = packed[0]
    if 0x80 <= first <= 0x8F:
        return first & 0x0F, packed[1:]
    if first == 0xDE:
        return int.from_bytes(packed[1:3], "big"), packed[3:]
    return int.from_bytes(packed[1:5], "big"), packed[5:]  # 0xdf: map32


def _map_prefix(count: int) -> bytes:
    if count < 16:
        return bytes([0x80 | count])
    if count < 2**16:
        return b"\xde" + count.to_bytes(2, "big")
    return b"\xdf" + count.to_bytes(4, "big")


_NO_WORKFLOW = {"id": "-", "steps": []}


def structure_job(
    data: dict[str, Any], workflow: WorkflowSpec, steps: Mapping[str, StepState] | None = None
) -> JobState:
    """A JobState from plain data kept without its workflow, which is given as a record.

    ``steps`` are given as records too when ``data`` leaves them out.

    Raises:
        Exception: as the converter, when ``data`` is not a job's state.
    """
    plain = {**data, "workflow": _NO_WORKFLOW}
    if steps is not None:
        plain["steps"] = {}
    state: JobState = converter.structure(plain, JobState)
    return attrs.evolve(state, workflow=workflow, steps=state.steps if steps is None else steps)
