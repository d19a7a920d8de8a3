"""Snapshots: a job's state at one moment, and its bytes.

A snapshot is the job's frozen :class:`JobState` with its version and time;
taking one copies nothing. Its bytes go through the codec's converter. A job's
successive snapshots share most of their parts (the workflow spec, every step
that did not move), and those parts are converted once, both ways:

- to bytes: each part is packed on its own and kept, keyed by the record
  (records are immutable, so an unchanged step is the same object);
- from bytes: each part's bytes are kept with the record read from them
  (strictly, the first time), so equal bytes give the record at once.

Both caches are bounded; a miss only costs the conversion.
"""

from __future__ import annotations

from typing import Any

import attrs
import msgpack
from cattrs.gen import make_dict_unstructure_fn, override

from .._codec import converter, dump_record, load_record
from .._records import JobState, StepState
from .._spec import WorkflowSpec

FORMAT = 2  # the layout of to_bytes; 1 packed the steps inside the state


@attrs.frozen
class Snapshot:
    """A job's state at one moment; immutable (``engine.state.create_snapshot``).

    Attributes:
        job_id: the job.
        version: the job's version when taken.
        taken_at: wall-clock seconds since the epoch.
        state: the :class:`JobState`.
    """

    job_id: str
    version: int
    taken_at: float
    state: JobState

    def to_bytes(self) -> bytes:
        """Msgpack bytes (through the codec); :meth:`from_bytes` reads them back."""
        state = self.state
        spec = _SPEC_CACHE.pack(state.workflow)
        steps = [_STEP_CACHE.pack(step) for step in state.steps.values()]
        header = _header(state)
        packed: bytes = msgpack.packb(
            [FORMAT, self.job_id, self.version, self.taken_at, spec, header, steps]
        )
        return packed

    @classmethod
    def from_bytes(cls, data: bytes) -> Snapshot:
        """Read a snapshot written by :meth:`to_bytes`.

        Raises:
            ValueError: the bytes are not a snapshot (the message says why).
        """
        try:
            layout, job_id, version, taken_at, spec, header, steps = msgpack.unpackb(data)
            if layout != FORMAT:
                raise ValueError(f"layout {layout!r}, this version reads {FORMAT}")
            state = converter.structure({**header, **_EMPTY}, JobState)
            parts = (_STEP_CACHE.unpack(step) for step in steps)
            state = attrs.evolve(
                state,
                workflow=_SPEC_CACHE.unpack(spec),
                steps={step.step_id: step for step in parts},
            )
        except Exception as exc:
            raise ValueError(f"not a snapshot: {exc}") from None
        return cls(job_id, version, taken_at, state)


class _PartCache:
    """Records of one type packed once, and bytes read once; bounded."""

    def __init__(self, kind: type[Any], limit: int) -> None:
        self._kind = kind
        self._limit = limit
        self._packed: dict[int, tuple[Any, bytes]] = {}
        self._read: dict[bytes, Any] = {}

    def pack(self, record: Any) -> bytes:
        hit = self._packed.get(id(record))
        if hit is not None and hit[0] is record:
            return hit[1]
        data = dump_record(record)
        if len(self._packed) >= self._limit:
            self._packed.clear()
        self._packed[id(record)] = (record, data)  # keeps it alive: its id is not reused
        return data

    def unpack(self, data: bytes) -> Any:
        if not isinstance(data, bytes):
            raise TypeError(f"expected bytes for a {self._kind.__name__}")
        record = self._read.get(data)
        if record is None:
            record = load_record(data, self._kind)
            if len(self._read) >= self._limit:
                self._read.clear()
            self._read[data] = record
        return record


_SPEC_CACHE = _PartCache(WorkflowSpec, 256)
# ~100 jobs of 100 steps; an entry is the record (shared with the live state) and
# a few hundred bytes.
_STEP_CACHE = _PartCache(StepState, 10_000)
_header = make_dict_unstructure_fn(
    JobState, converter, workflow=override(omit=True), steps=override(omit=True)
)
_EMPTY = {"workflow": {"id": "-", "steps": []}, "steps": {}}
