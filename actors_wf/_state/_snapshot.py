"""Snapshots: a job's state at one moment, and its bytes.

A snapshot is the job's frozen :class:`JobState` with its version and time;
taking one copies nothing. Its bytes go through the codec's converter. A job's
successive snapshots share most of their parts (the workflow spec, every step
that did not move), and those parts are converted once, both ways:

- to bytes: each part is packed on its own and kept, keyed by the record
  (records are immutable, so an unchanged step is the same object);
- from bytes: each part's bytes are kept with the record read from them
  (strictly, the first time), so equal bytes give the record at once.

Both caches (``_parts.PartCache``) are bounded; a miss only costs the
conversion. The workflow cache is the one the SQLite store uses too.
"""

from __future__ import annotations

import attrs
import msgpack

from .._core._records import JobState, StepState
from ._parts import SPECS, PartCache, job_header, structure_job

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
        spec = SPECS.pack(state.workflow)
        steps = [_STEPS.pack(step) for step in state.steps.values()]
        header = job_header(state)
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
            parts = (_STEPS.unpack(step) for step in steps)
            state = structure_job(
                header, SPECS.unpack(spec), steps={step.step_id: step for step in parts}
            )
        except Exception as exc:
            raise ValueError(f"not a snapshot: {exc}") from None
        return cls(job_id, version, taken_at, state)


# ~100 jobs of 100 steps; an entry is the record (shared with the live state) and
# a few hundred bytes.
_STEPS = PartCache(StepState, 10_000)
