"""``actors-wf serve`` and the commands that drive a serving daemon over its socket.

Exit codes: 0 ok, 1 the job failed (or was cancelled), 2 bad usage or a
refused command, 3 the daemon cannot be reached.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._core._status import JobStatus

if TYPE_CHECKING:
    from ._client import Client
    from ._core._messages import JobSummary
    from ._engine import Engine
    from ._server import ControlServer

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_UNREACHABLE = 0, 1, 2, 3
log = logging.getLogger("actors_wf.daemon")


def add_commands(sub: Any) -> None:
    """Add ``serve`` and the client commands to the ``actors-wf`` parser."""
    serve = sub.add_parser("serve", help="run an engine as a daemon on a control socket")
    serve.add_argument("--store", required=True, help="sqlite:///path/jobs.db or a path")
    serve.add_argument("--socket", required=True, help="the control socket's path")
    serve.add_argument("--components", "-c", action="append", default=[], metavar="MODULE")
    serve.add_argument("--workflows", metavar="DIR", help="register every workflow file here")
    serve.add_argument("--skip-invalid", action="store_true", help="start without broken files")
    serve.add_argument("--group", help="members of this group may use the socket too")
    serve.add_argument("--http", metavar="HOST:PORT", help="serve /metrics and /healthz")
    serve.add_argument("--drain", type=float, default=30.0, metavar="SECONDS")
    serve.add_argument("--log-format", choices=["text", "json"], default="text")
    serve.set_defaults(func=serve_command)
    commands = {
        "submit": "create and start a job",
        "status": "show a job",
        "list": "list jobs",
        "wait": "wait for a job to end",
        "cancel": "cancel a job",
        "pause": "pause a job",
        "resume": "resume a job",
        "retry": "retry a failed job",
        "signal": "send a signal to a job (a step waiting for it takes the payload)",
        "events": "follow lifecycle events (Ctrl-C ends)",
        "health": "show the daemon's health",
    }
    for name, text in commands.items():
        command = sub.add_parser(name, help=f"{text} (over the daemon's socket)")
        command.add_argument("--socket", help="the daemon's socket (default: $ACTORS_WF_SOCKET)")
        command.add_argument("--json", action="store_true", help="print JSON for tools")
        command.set_defaults(func=client_command, command_name=name)
        if name == "submit":
            command.add_argument("workflow")
            command.add_argument("--input", "-i", action="append", default=[], metavar="K=V")
            command.add_argument("--wait", action="store_true", help="wait for its end")
        elif name in ("status", "wait", "cancel", "pause", "resume", "retry"):
            command.add_argument("job_id")
        if name == "cancel":
            command.add_argument("--force", action="store_true")
        if name == "signal":
            command.add_argument("job_id")
            command.add_argument("name", help="the signal's name")
            command.add_argument(
                "--payload", "-p", help="its payload, read as YAML (3, true, {a: 1})"
            )
        if name == "list":
            command.add_argument("--status")
            command.add_argument("--limit", type=int, default=100)
            command.add_argument(
                "--store", help="read this SQLite store instead of asking a daemon"
            )
        if name == "events":
            command.add_argument("--job")
        if name in ("submit", "wait"):
            command.add_argument("--timeout", type=float, default=None)


# -- the daemon ------------------------------------------------------------------------


def serve_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run the daemon until SIGTERM or SIGINT, which drain; exit 0."""
    from ._engine import Engine  # not for the client commands: a cold start pays for it
    from ._server import ControlServer

    with contextlib.ExitStack() as stack:
        stack.callback(_log_to_stderr(args.log_format))
        engine = Engine(store=args.store, components=args.components)
        stack.callback(engine.close)
        if args.workflows and not _register(engine, Path(args.workflows), args.skip_invalid):
            return EXIT_USAGE
        recovered = engine.recover()
        log.info("recovered %d job(s)", len(recovered))
        server = ControlServer(engine, args.socket, args.group).start()
        stack.callback(server.close)
        if args.http:
            stack.callback(_serve_http(engine, server, args.http))
        engine.install_signal_handlers(drain=args.drain)
        log.info("ready: socket %s, store %s", args.socket, args.store)
        engine.wait_closed()
        log.info("stopping")
    return EXIT_OK


def _register(engine: Engine, folder: Path, skip_invalid: bool) -> bool:
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml", ".json"))
    broken = 0
    for path in files:
        result = engine.validator.validate(path)  # with the components: all of it, first
        if not result.ok:
            broken += 1
            from ._validation._report import text_report

            print(text_report(result, color=False), file=sys.stderr)
            continue
        engine.registry.register_workflow(path=path, replace=True)
    log.info("registered %d workflow(s) from %s", len(files) - broken, folder)
    if broken and not skip_invalid:
        print(
            f"error: {broken} workflow file(s) are invalid (see above); "
            "fix them, or start with --skip-invalid",
            file=sys.stderr,
        )
        return False
    return True


def _log_to_stderr(form: str) -> Callable[[], None]:
    """Log the engine's events, one line each, on stderr; return how to stop."""
    handler = logging.StreamHandler(sys.stderr)
    if form == "json":
        from ._runtime._logs import JsonFormatter

        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("actors_wf")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)

    def stop() -> None:
        logger.removeHandler(handler)
        logger.setLevel(level)

    return stop


def _serve_http(engine: Engine, server: ControlServer, where: str) -> Any:
    """``GET /metrics`` and ``GET /healthz`` on the stdlib's threading HTTP server."""
    import http.server

    host, _, port = where.rpartition(":")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                body, kind = engine.metrics().to_prometheus().encode(), "text/plain; version=0.0.4"
            elif self.path == "/healthz":
                health = _plain(server.health())
                body, kind = json.dumps(health, default=repr).encode(), "application/json"
            else:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug(format, *args)

    httpd = http.server.ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    thread = threading.Thread(target=httpd.serve_forever, name="actors_wf-http", daemon=True)
    thread.start()
    log.info("http on %s:%s", host or "127.0.0.1", port)

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()
        thread.join()

    return stop


# -- the client commands -----------------------------------------------------------------


def client_command(args: argparse.Namespace, out: TextIO) -> int:
    """Run one client command against the daemon."""
    if getattr(args, "store", None):
        return _list_store(args, out)
    from ._client import Client  # only here: `actors-wf validate` never loads the codec

    with Client(args.socket or os.environ.get("ACTORS_WF_SOCKET")) as client:
        return _COMMANDS[args.command_name](client, args, out)


def _plain(record: Any) -> Any:
    """A record as plain data, for ``--json``."""
    from ._core._codec import converter

    return converter.unstructure(record)


def input_value(text: str) -> Any:
    """A ``--input NAME=VALUE`` value: YAML (``3``, ``true``, ``[1, 2]``), or the text as it is."""
    import yaml  # only a command that takes inputs pays for it

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _submit(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    inputs = {}
    for item in args.input:
        name, eq, text = item.partition("=")
        if not eq:
            print(f"error: --input {item!r} is not NAME=VALUE", file=sys.stderr)
            return EXIT_USAGE
        inputs[name] = input_value(text)
    job_id = client.create_job(args.workflow, inputs, start=True)
    if not args.wait:
        _show(out, args, {"job_id": job_id}, job_id)
        return EXIT_OK
    return _ended(client.wait(job_id, args.timeout), args, out)


def _status(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.json:
        _show(out, args, _plain(client.get_job(args.job_id)), "")
    else:
        print(client.describe(args.job_id), file=out)
    return EXIT_OK


def _wait(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    return _ended(client.wait(args.job_id, args.timeout), args, out)


def _ended(state: Any, args: argparse.Namespace, out: TextIO) -> int:
    _show(out, args, _plain(state), f"{state.job_id} {state.status.value}")
    return EXIT_OK if state.status is JobStatus.COMPLETED else EXIT_FAILED


def _list(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    _print_jobs(client.list_jobs(args.status, limit=args.limit), args, out)
    return EXIT_OK


def _list_store(args: argparse.Namespace, out: TextIO) -> int:
    """``list --store``: read the jobs straight from the file (read-only, beside any engine)."""
    from ._core._messages import JobSummary
    from ._state._manager import StateManager
    from ._state._sqlite import open_store

    state = StateManager(open_store(args.store, read_only=True))
    try:
        jobs = [
            JobSummary(j.job_id, j.workflow_id, j.status.value, j.priority, j.created_at)
            for j in state.list_jobs(args.status, limit=args.limit)
        ]
    finally:
        state.close()
    _print_jobs(jobs, args, out)
    return EXIT_OK


def _print_jobs(jobs: Sequence[JobSummary], args: argparse.Namespace, out: TextIO) -> None:
    if args.json:
        _show(out, args, [_plain(j) for j in jobs], "")
    for job in [] if args.json else jobs:
        print(f"{job.job_id}  {job.status:<10}  {job.workflow_id}", file=out)


def _signal(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    payload = input_value(args.payload) if args.payload is not None else None
    status = client.signal(args.job_id, args.name, payload)
    _show(
        out, args, {"job_id": args.job_id, "status": status.value}, f"{args.job_id} {status.value}"
    )
    return EXIT_OK


def _move(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    name = args.command_name
    if name == "cancel":
        status = client.cancel_job(args.job_id, args.force)
    else:
        status = getattr(client, f"{name}_job")(args.job_id)
    _show(out, args, {"job_id": args.job_id, "status": status.value}, status.value)
    return EXIT_OK


def _events(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    with client.events(args.job) as stream, contextlib.suppress(KeyboardInterrupt):
        for note in stream:
            if args.json:
                print(json.dumps(_plain(note), default=repr), file=out, flush=True)
            else:
                step = f" {note.step_id}" if note.step_id else ""
                print(f"{note.kind} {note.job_id}{step}", file=out, flush=True)
    return EXIT_OK


def _health(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    health = client.health()
    jobs = ", ".join(f"{k} {v}" for k, v in sorted(health.jobs.items())) or "none"
    text = (
        f"actors_wf {health.version}, up {health.uptime:.0f}s, store {health.store}, jobs: {jobs}"
    )
    _show(out, args, _plain(health), text)
    return EXIT_OK


def _show(out: TextIO, args: argparse.Namespace, data: Any, text: str) -> None:
    print(json.dumps(data, indent=2, default=repr) if args.json else text, file=out)


_COMMANDS = {
    "submit": _submit,
    "status": _status,
    "list": _list,
    "wait": _wait,
    "cancel": _move,
    "pause": _move,
    "resume": _move,
    "retry": _move,
    "signal": _signal,
    "events": _events,
    "health": _health,
}
