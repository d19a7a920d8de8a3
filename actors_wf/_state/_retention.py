"""How long finished jobs are kept: a policy, and the purge that applies it in small batches."""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable
from urllib.parse import parse_qsl

import attrs

from .._core._status import JobStatus
from ._store import FINISHED, Store


def _seconds(value: float | datetime.timedelta | None) -> float | None:
    return value.total_seconds() if isinstance(value, datetime.timedelta) else value


@attrs.frozen
class Retention:
    """Which finished jobs an engine deletes, with their journals and outputs.

    Running, queued and paused jobs are never deleted; a finished one goes
    when either limit says so. Applied in the background every ``interval``
    seconds, ``batch`` jobs per transaction, so a running job's commit waits
    for one small batch at most.

    Attributes:
        max_age: keep finished jobs this long (seconds or a ``timedelta``).
        max_finished: keep at most this many finished jobs, the newest.
        interval: seconds between two runs of the policy.
        batch: jobs deleted per transaction.
    """

    max_age: float | None = attrs.field(default=None, converter=_seconds)
    max_finished: int | None = None
    interval: float = 60.0
    batch: int = 100

    def __attrs_post_init__(self) -> None:
        for name in ("max_age", "max_finished"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Retention.{name} must be 0 or more, got {value}")
        if self.interval <= 0 or self.batch < 1:
            raise ValueError("Retention.interval must be above 0 and batch at least 1")

    @classmethod
    def from_url(cls, url: str) -> Retention | None:
        """The policy in a store URL (``?max_age=2592000&max_finished=100000``), if any.

        Raises:
            ValueError: a value that is not a number.
        """
        options = dict(parse_qsl(url.partition("?")[2]))
        if "max_age" not in options and "max_finished" not in options:
            return None
        try:
            age = options.get("max_age")
            count = options.get("max_finished")
            return cls(
                max_age=float(age) if age is not None else None,
                max_finished=int(count) if count is not None else None,
            )
        except ValueError:
            raise ValueError(
                f"store URL {url!r}: max_age is seconds and max_finished a count"
            ) from None


# Store URL options that are the engine's (its retention), not the store's.
URL_OPTIONS = frozenset({"max_age", "max_finished"})


def purge(
    store: Store,
    older_than: float | datetime.timedelta | None,
    status: Iterable[JobStatus | str] | JobStatus | str | None,
    *,
    keep: int,
    batch: int,
    max_batches: int | None,
) -> int:
    """Delete finished jobs, a transaction per batch (see ``StateManager.purge``)."""
    statuses = _finished_statuses(status)
    age = _seconds(older_than)
    cutoff = time.time() - age if age else None
    total, done = 0, 0
    while max_batches is None or done < max_batches:
        ids = store.finished(before=cutoff, statuses=statuses, keep=keep, limit=batch)
        if not ids:
            break
        total += len(store.delete(ids))
        done += 1
        if len(ids) < batch:
            break
    return total


def retain(store: Store, policy: Retention, max_batches: int | None) -> int:
    """Apply ``policy`` (see ``StateManager.retain``); return how many jobs went."""
    deleted = 0
    if policy.max_age is not None:
        deleted += purge(
            store, policy.max_age, None, keep=0, batch=policy.batch, max_batches=max_batches
        )
    if policy.max_finished is not None:
        left = None if max_batches is None else max_batches - (deleted > 0)
        if left is None or left > 0:
            deleted += purge(
                store, None, None, keep=policy.max_finished, batch=policy.batch, max_batches=left
            )
    return deleted


def _finished_statuses(
    status: Iterable[JobStatus | str] | JobStatus | str | None,
) -> tuple[JobStatus, ...]:
    if status is None:
        return FINISHED
    wanted = [status] if isinstance(status, JobStatus | str) else list(status)
    statuses = tuple(JobStatus(s) for s in wanted)
    unfinished = [s.value for s in statuses if not s.is_terminal]
    if unfinished:
        raise ValueError(
            f"only finished jobs are purged; {', '.join(unfinished)} is not finished "
            f"(use one of: {', '.join(s.value for s in FINISHED)})"
        )
    return statuses
