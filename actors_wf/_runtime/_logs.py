"""Log records as JSON lines, each carrying the job, step, attempt and trace it belongs to."""

from __future__ import annotations

import json
import logging
from typing import Any

from ._executor import LOG_CONTEXT

_CONTEXT_FIELDS = ("job_id", "step_id", "attempt", "trace_id")


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object on one line, for log shippers.

    Keys: ``time`` (epoch seconds), ``level``, ``logger``, ``message``, and,
    when the record was logged in a step (by the engine, ``ctx.log`` or a
    plain ``logging.getLogger`` in a component), ``job_id``, ``step_id``,
    ``attempt`` and ``trace_id`` (the job id: one job, one trace); an
    exception's traceback under ``exception``. Values JSON cannot hold are
    written as their ``repr``.

    ``handler.setFormatter(actors_wf.JsonFormatter())``; no filter is needed.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as a JSON line."""
        line: dict[str, Any] = {
            "time": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update(_context(record))
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=repr)


def _context(record: logging.LogRecord) -> dict[str, Any]:
    found = {name: getattr(record, name) for name in _CONTEXT_FIELDS if hasattr(record, name)}
    if "job_id" not in found:
        current = LOG_CONTEXT.get()
        if current is None:
            return {k: v for k, v in found.items() if v != "-"}
        found.update(zip(("job_id", "step_id", "attempt"), current, strict=True))
    found.setdefault("trace_id", found["job_id"])
    return {k: v for k, v in found.items() if v != "-"}
