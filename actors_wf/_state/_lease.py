"""One engine per store: an exclusive lock on a file beside it, held for the engine's life.

An OS lock (``flock``) and not a lease row with a heartbeat: the kernel lets
it go the moment its process dies, kill -9 included, so a crashed owner is
taken over at once and a live one can never be, whatever the clocks say.
It needs a local file system, as SQLite's WAL mode already does. The owner
writes who it is (pid, host, since) into the file, for the error a second
engine gets and for ``actors-wf inspect``, which takes no lock.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

from .._core._errors import StoreLocked


class StoreLease:
    """The exclusive hold of one engine on one store file.

    Args:
        store: the store file; the lock is ``<store>-owner``.
        wait: seconds to wait for an owner to exit; ``None`` refuses at once.

    Raises:
        StoreLocked: another process holds the store (after ``wait``).
    """

    def __init__(self, store: Path, wait: float | None = None) -> None:
        self.path = Path(f"{store}-owner")
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
            self.created = True
        except FileExistsError:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            self.created = False
        try:
            self._take(store, wait)
            self._record()
        except BaseException:
            os.close(self._fd)
            raise

    def _take(self, store: Path, wait: float | None) -> None:
        deadline = time.monotonic() + (wait or 0.0)
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreLocked(str(store), read_owner(self.path)) from None
            time.sleep(_POLL)  # a flock has no timeout

    def _record(self) -> None:
        since = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": since}
        record["started"] = _start_time(os.getpid())
        data = json.dumps(record).encode()
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, data, 0)

    def close(self, *, remove: bool = False) -> None:
        """Let the store go (the record stays: a reader checks whether its process lives).

        ``remove``: delete the file if this lease made it (the store was refused:
        nothing of ours is left beside a file that is not ours).
        """
        if remove and self.created:
            with contextlib.suppress(OSError):
                self.path.unlink()
        with contextlib.suppress(OSError):
            os.close(self._fd)


def read_owner(path: Path) -> dict[str, Any] | None:
    """The owner record in a lock file, with ``alive`` (``None`` when it cannot tell)."""
    try:
        record = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict):
        return None
    record["alive"] = _alive(record)
    return record


def _alive(record: dict[str, Any]) -> bool | None:
    """Whether the recorded process still runs: on this host, by pid and start time."""
    if record.get("host") != socket.gethostname() or not isinstance(record.get("pid"), int):
        return None
    started = _start_time(record["pid"])
    return started is not None and started == record.get("started")


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot: a pid reused later differs."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat.rpartition(")")[2].split()[19])


# Seconds between two tries while waiting for the store's owner to exit.
_POLL = 0.05
