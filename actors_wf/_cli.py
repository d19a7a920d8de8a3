"""The ``actors-wf`` command line."""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ._cli_remote import EXIT_UNREACHABLE, add_commands, input_value
from ._cli_run import TRUNCATE_AT, RunView, print_outputs
from ._core._errors import (
    ActorsWfError,
    EngineUnavailable,
    JobFailed,
    JobNotFound,
)
from ._core._spec import WorkflowSpec
from ._core._status import JobStatus

if TYPE_CHECKING:
    from ._core._records import JobState
    from ._state._manager import StateManager

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    # The engine's warnings and errors, one line each (the package logs to nowhere by itself).
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("actors-wf: %(levelname)s %(name)s: %(message)s"))
    handler.setLevel(logging.WARNING)
    logging.getLogger("actors_wf").addHandler(handler)
    try:
        code: int = args.func(args, sys.stdout)
    except BrokenPipeError:  # `actors-wf ... | head`: the reader left, which is fine
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except EngineUnavailable as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except KeyboardInterrupt:  # Ctrl-C outside a running job: nothing to cancel
        print("\ninterrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except ActorsWfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED if isinstance(exc, JobFailed) else EXIT_USAGE
    finally:
        logging.getLogger("actors_wf").removeHandler(handler)
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="actors-wf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a workflow file and print its outputs")
    run.add_argument("file", help="the workflow, YAML or JSON")
    run.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a job input; repeat for more (values are read as YAML unless the input is a str)",
    )
    run.add_argument(
        "--components",
        "-c",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module to import for its components; a .py file beside the workflow "
        "with the same name is imported without it",
    )
    run.add_argument("--timeout", type=float, default=None, help="seconds to wait for the job")
    run.add_argument("--json", action="store_true", help="print the outputs as JSON")
    run.add_argument(
        "--store",
        help="keep the job in this SQLite store (a path or sqlite:///path), for inspect",
    )
    run.add_argument(
        "--resource",
        "-r",
        action="append",
        default=[],
        metavar="NAME=N",
        help="a resource the engine has N of (steps ask for them); repeat for more",
    )
    shown = run.add_mutually_exclusive_group()
    shown.add_argument(
        "--full", action="store_true", help=f"print outputs whole (else cut at {TRUNCATE_AT})"
    )
    shown.add_argument(
        "--quiet", "-q", action="store_true", help="print only the outputs, no step lines"
    )
    run.set_defaults(func=_run)

    check = sub.add_parser("validate", help="report every problem of a workflow file")
    check.add_argument("file", help="the workflow, YAML or JSON")
    check.add_argument("--format", "-f", choices=("text", "html", "json"), default="text")
    check.add_argument("--output", "-o", help="write the report to this file")
    check.add_argument(
        "--components",
        "-c",
        action="append",
        default=[],
        metavar="MODULE",
        help="a module to import for its components (as for run)",
    )
    check.add_argument(
        "--components-beside",
        action="store_true",
        help="import the .py file beside the workflow for its components; without it (or "
        "-c) validating runs no code, so an untrusted workflow can be checked safely",
    )
    check.add_argument("--color", choices=("auto", "always", "never"), default="auto")
    check.set_defaults(func=_validate)

    graph = sub.add_parser("graph", help="draw a workflow file's DAG (runs no code)")
    graph.add_argument("file", help="the workflow, YAML or JSON")
    graph.add_argument("--format", "-f", choices=("svg", "dot", "html"), default="svg")
    graph.add_argument("--output", "-o", help="write it to this file, not stdout")
    graph.set_defaults(func=_graph)

    schema = sub.add_parser("schema", help="print the JSON Schema of the workflow format")
    schema.set_defaults(func=_schema)

    inspect = sub.add_parser("inspect", help="show a job stored in a SQLite store")
    inspect.add_argument("job_id", help="the job's id (a unique prefix is enough)")
    inspect.add_argument("--store", required=True, help="the store: a path or sqlite:///path")
    inspect.add_argument("--history", action="store_true", help="show every status change")
    inspect.add_argument("--json", action="store_true", help="print JSON for tools")
    inspect.set_defaults(func=_inspect)
    purge = sub.add_parser("purge", help="delete finished jobs (a daemon's, or a store's)")
    where = purge.add_mutually_exclusive_group()
    where.add_argument("--store", help="a store no engine owns: a path or sqlite:///path")
    where.add_argument("--socket", help="a daemon's socket (default: $ACTORS_WF_SOCKET)")
    purge.add_argument(
        "--older-than",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="only jobs that finished at least this long ago (default: every finished job)",
    )
    purge.add_argument(
        "--status",
        action="append",
        choices=["COMPLETED", "FAILED", "CANCELLED"],
        help="only jobs of this status (again for more)",
    )
    purge.set_defaults(func=_purge)
    add_commands(sub)
    return parser


# The engine is imported by the commands that start one: `actors-wf status` is a
# client of a daemon, and a cold process should not pay for what it never runs.


def _run(args: argparse.Namespace, out: TextIO) -> int:
    from ._engine import Engine
    from ._validation._validator import load_workflow

    path = Path(args.file)
    spec = load_workflow(path)
    _import_components(path, args.components)
    children = _child_workflows(spec, path)
    inputs = _parse_inputs(spec, args.input)
    options: dict[str, Any] = {"resources": _parse_resources(args.resource)}
    if args.store:
        options["store"] = args.store
    view = RunView(
        sys.stderr, [s.id for s in spec.steps], quiet=args.quiet, live=sys.stderr.isatty()
    )
    with Engine(**options) as engine:
        for child in children:
            engine.registry.register_workflow(child, replace=True)
        engine.registry.register_workflow(spec, replace=True)
        engine.subscribe(view.on_event)
        job_id = engine.jobs_sync.create_job(spec.id, inputs)
        view.job_id = job_id  # its child jobs' steps show as its step's one line
        try:  # from the start: a step can be running (and Ctrl-C come) before wait is reached
            engine.jobs_sync.start_job(job_id)
            view.start()
            job = engine.jobs_sync.wait(job_id, args.timeout)
        except KeyboardInterrupt:
            job = _cancel_on_interrupt(engine, job_id, view)
        finally:
            view.stop()
    view.finish(job)  # after close: every event of the job has been shown
    if args.store and not args.quiet:
        print(f"inspect it: actors-wf inspect {job_id} --store {args.store}", file=sys.stderr)
    return _result(job, out, args)


def _cancel_on_interrupt(engine: Any, job_id: str, view: RunView) -> JobState:
    """Ctrl-C: cancel the job and wait for its steps to stop (a second Ctrl-C forces it)."""
    view.stop()
    print("\ninterrupted: cancelling the job (Ctrl-C again to force)", file=sys.stderr)
    try:
        engine.jobs_sync.cancel_job(job_id)
        job: JobState = engine.jobs_sync.wait(job_id, _CANCEL_WAIT)
    except KeyboardInterrupt:
        engine.jobs_sync.cancel_job(job_id, force=True)
        job = engine.jobs_sync.wait(job_id, _CANCEL_WAIT)
    return job


_CANCEL_WAIT = 60.0
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as a shell reports a command Ctrl-C stopped


def _result(job: JobState, out: TextIO, args: argparse.Namespace) -> int:
    if job.status is JobStatus.COMPLETED:
        print_outputs(job.outputs or {}, out, as_json=args.json, full=args.full)
        return EXIT_OK
    if job.status is JobStatus.CANCELLED:
        return EXIT_INTERRUPTED
    error = job.error
    assert error is not None
    print(f"job failed at step {error.step_id!r}: {error.type}: {error.message}", file=sys.stderr)
    if error.traceback:
        print(error.traceback, file=sys.stderr)
    return EXIT_FAILED


def _child_workflows(
    spec: WorkflowSpec, path: Path, import_beside: bool = True
) -> list[WorkflowSpec]:
    """The workflows ``spec``'s steps run (``workflow: ID``), from ``ID.yaml`` beside it.

    Each one's own ``.py`` beside it is imported for its components, as for the
    file given; children of children are found the same way.
    """
    from ._validation._validator import load_workflow

    found: dict[str, WorkflowSpec] = {}
    todo = [spec]
    while todo:
        for step in todo.pop().steps:
            wid = step.workflow
            if wid is None or wid in found or wid == spec.id:
                continue
            child_file = next(
                (f for f in (path.with_name(f"{wid}{x}") for x in _SUFFIXES) if f.is_file()), None
            )
            if child_file is None:
                continue  # a workflow registered some other way, or a WF216 the report shows
            found[wid] = load_workflow(child_file)
            if import_beside:
                _import_components(child_file, ())
            todo.append(found[wid])
    return list(found.values())


_SUFFIXES = (".yaml", ".yml", ".json")


def _parse_resources(pairs: Sequence[str]) -> dict[str, int]:
    resources: dict[str, int] = {}
    for pair in pairs:
        name, _, amount = pair.partition("=")
        if not name or not amount.isdigit() or int(amount) < 1:
            raise SystemExit(
                f"error: --resource takes NAME=N with N a whole number >= 1, got {pair!r}"
            )
        resources[name] = int(amount)
    return resources


def _validate(args: argparse.Namespace, out: TextIO) -> int:
    from ._registry._declare import Declared
    from ._validation._report import summary
    from ._validation._validator import Validator, load_workflow

    path = Path(args.file)
    _import_components(path, args.components, beside=args.components_beside)
    color = {"auto": None, "always": True, "never": False}[args.color]
    if args.output:
        color = False
    children: list[WorkflowSpec] = []
    with contextlib.suppress(ActorsWfError):  # a file that does not load: the report says why
        children = _child_workflows(load_workflow(path), path, args.components_beside)
    # What the imported modules declare, and the child workflows beside: no engine started.
    validator = Validator(Declared({child.id: child for child in children}))
    result = validator.validate(path)
    report = validator.get_visual_report(result, args.format, color=color)
    if args.output:
        Path(args.output).write_text(report + "\n", encoding="utf-8")
        print(summary(result), file=out)
    else:
        print(report, file=out)
    return EXIT_OK if result.ok else EXIT_FAILED


def _graph(args: argparse.Namespace, out: TextIO) -> int:
    """The DAG as read from the file; problems that hide steps or edges are said on stderr."""
    from ._validation._report import render_graph, summary
    from ._validation._validator import Validator

    result = Validator().validate(Path(args.file))
    if result.cache is None:  # nothing to draw: the text did not parse
        print(summary(result), file=sys.stderr)
        print(Validator().get_visual_report(result, color=False), file=sys.stderr)
        return EXIT_FAILED
    drawing = render_graph(result, args.format)
    if args.output:
        Path(args.output).write_text(drawing + "\n", encoding="utf-8")
    else:
        print(drawing, file=out)
    if result.errors:
        print(f"note: {summary(result)}; actors-wf validate shows them", file=sys.stderr)
    return EXIT_OK


def _schema(args: argparse.Namespace, out: TextIO) -> int:
    from ._validation._schema import workflow_schema

    print(json.dumps(workflow_schema(), indent=2), file=out)
    return EXIT_OK


def _inspect(args: argparse.Namespace, out: TextIO) -> int:
    from ._core._codec import converter
    from ._state._manager import StateManager
    from ._state._sqlite import open_store

    state = StateManager(open_store(args.store, read_only=True))
    try:
        job_id = _find_job(state, args.job_id)
        if args.json:
            data: Any = (
                [converter.unstructure(t) for t in state.history(job_id)]
                if args.history
                else converter.unstructure(state.get(job_id))
            )
            print(json.dumps(data, indent=2, default=repr), file=out)
        elif args.history:
            for entry in state.history(job_id):
                print(entry.describe(), file=out)
        else:
            print(state.describe(job_id), file=out)
            note = _owner_note(state, job_id)
            if note:
                print(note, file=out)
    finally:
        state.close()
    return EXIT_OK


def _purge(args: argparse.Namespace, out: TextIO) -> int:
    """Delete finished jobs: through the daemon, or in a store no engine owns."""
    if args.store is None:
        from ._client import Client

        with Client(args.socket or os.environ.get("ACTORS_WF_SOCKET")) as client:
            count = client.purge(args.older_than, args.status)
    else:
        from ._state._manager import StateManager
        from ._state._sqlite import open_store

        state = StateManager(open_store(args.store))
        try:
            count = state.purge(args.older_than, args.status)
        finally:
            state.close()
    print(f"deleted {count} finished job(s)", file=out)
    return EXIT_OK


def _owner_note(state: StateManager, job_id: str) -> str:
    """Whether an unfinished job's engine still runs: a RUNNING job of a dead one is not."""
    job = state.get(job_id)
    if job.status.is_terminal or job.status in (JobStatus.CREATED, JobStatus.PAUSED):
        return ""
    owner = getattr(state.store, "owner", None)
    if owner is not None and owner.get("alive") is not False:
        return f"engine: pid {owner.get('pid')} on {owner.get('host')}, since {owner.get('since')}"
    gone = f" (pid {owner.get('pid')}, since {owner.get('since')})" if owner else ""
    return (
        f"interrupted: the engine that ran this job is gone{gone}; an engine started on "
        "this store with recover=True resumes it"
    )


def _find_job(state: StateManager, prefix: str) -> str:
    if state.find(prefix) is not None:
        return prefix
    matches = state.find_prefix(prefix, limit=6)
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise JobNotFound(prefix, matches)
    raise JobNotFound(prefix)


def _import_components(
    workflow_file: Path, modules: Sequence[str], *, beside: bool = True
) -> None:
    """Import the component modules (and the .py beside the workflow, if ``beside``).

    A module that fails is named, with what to try, not a traceback.
    """
    from ._registry._imports import import_components, import_file

    import_components(modules)
    if not beside:
        return
    beside_file = workflow_file.with_suffix(".py")
    if beside_file.is_file() and workflow_file.suffix in (".yaml", ".yml", ".json"):
        import_file(beside_file, f"_actors_wf_components_{beside_file.stem}")


def _parse_inputs(spec: WorkflowSpec, pairs: Sequence[str]) -> dict[str, Any]:
    inputs: dict[str, Any] = {}
    for pair in pairs:
        name, sep, text = pair.partition("=")
        if not sep or not name:
            raise SystemExit(f"error: --input takes NAME=VALUE, got {pair!r}")
        declared = spec.inputs.get(name)
        if declared is not None and declared.type in ("str", "str | None"):
            inputs[name] = text
        else:
            inputs[name] = input_value(text)
    return inputs


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
