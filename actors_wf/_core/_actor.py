"""The base every engine actor stands on, and the bridge from Pykka futures to asyncio.

Pykka futures have no completion callbacks, and awaiting one calls its
blocking ``get()`` (it would freeze an event loop). Our actors therefore make
their reply futures :class:`NotifyingFuture`, whose callbacks let asyncio
code and other threads learn of a reply without blocking.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, ClassVar

import pykka

from ._codec import decode_trusted, encode
from ._errors import ActorsWfError
from ._messages import Message, Retold

log = logging.getLogger("actors_wf")


class NotifyingFuture(pykka.ThreadingFuture[Any]):
    """A Pykka future that also runs callbacks once it is set."""

    def __init__(self) -> None:
        super().__init__()
        self._callbacks: list[Callable[[NotifyingFuture], None]] = []
        self._done = False
        self._lock = threading.Lock()

    def set(self, value: Any = None) -> None:
        """Set the value and run the callbacks."""
        super().set(value)
        self._fire()

    def set_exception(self, exc_info: Any = None) -> None:
        """Set the exception and run the callbacks."""
        super().set_exception(exc_info)
        self._fire()

    def add_done_callback(self, fn: Callable[[NotifyingFuture], None]) -> None:
        """Call ``fn(self)`` once the future is set (at once if it is)."""
        with self._lock:
            if not self._done:
                self._callbacks.append(fn)
                return
        fn(self)

    def _fire(self) -> None:
        with self._lock:
            self._done = True
            callbacks, self._callbacks = self._callbacks, []
        for fn in callbacks:
            fn(self)


def _transfer(source: NotifyingFuture, target: asyncio.Future[Any]) -> None:
    if target.cancelled():
        return
    try:
        target.set_result(source.get(timeout=0))
    except Exception as exc:
        target.set_exception(exc)


async def await_reply(future: NotifyingFuture) -> Any:
    """Await a reply without blocking the running event loop."""
    loop = asyncio.get_running_loop()
    target: asyncio.Future[Any] = loop.create_future()

    def notify(source: NotifyingFuture) -> None:
        loop.call_soon_threadsafe(_transfer, source, target)

    future.add_done_callback(notify)
    return await target


class EngineActor(pykka.ThreadingActor):
    """An actor that takes msgpack-encoded message records.

    Subclasses fill ``handlers`` (message class -> method name); a handler
    returns a reply record or ``None``. Bytes in, bytes out.
    """

    handlers: ClassVar[dict[type[Any], str]] = {}
    # An engine left open must not keep the interpreter from exiting; an atexit
    # hook closes it (see ``_engine``), so nothing is cut off mid-write.
    use_daemon_thread = True

    @staticmethod
    def _create_future() -> NotifyingFuture:
        return NotifyingFuture()

    @staticmethod
    def _create_actor_inbox() -> queue.SimpleQueue[Any]:
        # Pykka's default, queue.Queue, locks and waits in Python code; the C
        # SimpleQueue does the same job (put, get, empty) at a fraction of the
        # cost, on every message of every step.
        return queue.SimpleQueue()

    def _handle_receive(self, message: Any) -> Any:
        # Every engine message is bytes: straight to on_receive, past Pykka's
        # four isinstance tests for its own messages (stop, proxy calls).
        if message.__class__ is bytes:
            return self.on_receive(message)
        return super()._handle_receive(message)

    # Errors a handler may raise that the actor deals with itself (``on_stopping_error``)
    # instead of dying of them; none by default.
    stopping_errors: ClassVar[tuple[type[Exception], ...]] = ()

    def on_receive(self, message: Any) -> Any:
        """Decode a message, run its handler and encode the reply."""
        record = decode_trusted(message) if isinstance(message, bytes) else message
        handler = getattr(self, self.handlers[type(record)])
        try:
            reply = handler(record)
        except self.stopping_errors as exc:  # no frame of its own: this is every message
            self.on_stopping_error(exc)
            return None
        return None if reply is None else encode(reply)

    def on_stopping_error(self, error: Exception) -> None:
        """Deal with one of ``stopping_errors`` a handler raised."""

    def on_retold(self, msg: Retold) -> None:
        """Run a command told again; a refusal is logged, as nobody waits for it."""
        try:
            self.on_receive(msg.command)
        except ActorsWfError as exc:
            log.debug("%s: a command told again was refused: %s", type(self).__name__, exc)

    def on_failure(self, exc_type: Any, exc_value: Any, tb: Any) -> None:
        """Log the death of an actor with its name; Pykka logs the traceback."""
        log.error(
            "%s died of %s: %s",
            type(self).__name__,
            getattr(exc_type, "__name__", exc_type),
            exc_value,
        )


def tell_quietly(ref: pykka.ActorRef[Any], message: bytes) -> None:
    """Tell ``ref`` a message; a stopped actor drops it (logged at debug level)."""
    try:
        ref.tell(message)
    except pykka.ActorDeadError:
        log.debug("dropped a message to a stopped actor: %s", ref)


def retell(ref: pykka.ActorRef[Any], command: Message) -> None:
    """Tell ``ref`` a command again (see :class:`Retold`); a stopped actor drops it."""
    tell_quietly(ref, encode(Retold(encode(command))))
