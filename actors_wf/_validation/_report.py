"""Reports of a validation: text with the source line and a caret, or a self-contained HTML page.

The text form follows the Rust and Elm compilers: what is wrong, where, the
line itself with a caret under the fault, and the fix.
"""

from __future__ import annotations

import html
import json
import os
import sys
from collections.abc import Iterable, Mapping

from .._core._graph import toposort
from .._core._spec import StepSpec
from ._problems import ERROR, Problem, ValidationResult

_COLOURS = {ERROR: "\033[1;31m", "warning": "\033[1;33m", "bold": "\033[1m", "dim": "\033[2;36m"}
_RESET = "\033[0m"
_TOKEN_END = " ,]}#\n"


def render(result: ValidationResult, format: str = "text", *, color: bool | None = None) -> str:
    """Render ``result`` as ``text``, ``html`` or ``json``.

    Raises:
        ValueError: an unknown format.
    """
    if format == "text":
        return text_report(result, color=_wants_colour() if color is None else color)
    if format == "html":
        return html_report(result)
    if format == "json":
        return json_report(result)
    raise ValueError(f"unknown report format {format!r}; use text, html or json")


def _wants_colour() -> bool:
    return (
        sys.stdout.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"
    )


def json_report(result: ValidationResult) -> str:
    """Every problem as JSON, for tools."""
    return json.dumps(
        {
            "workflow": result.workflow_id,
            "source": result.source_name,
            "ok": result.ok,
            "problems": [p.to_dict() for p in result.problems],
        },
        indent=2,
    )


def summary(result: ValidationResult) -> str:
    """``2 errors, 1 warning in workflow 'hello'``."""
    errors, warnings = len(result.errors), len(result.warnings)
    name = result.workflow_id or result.source_name
    if not result.problems:
        return f"workflow {name!r} is valid"
    parts = [f"{errors} error{'s' * (errors != 1)}"]
    if warnings:
        parts.append(f"{warnings} warning{'s' * (warnings != 1)}")
    return f"{', '.join(parts)} in workflow {name!r}"


def text_report(result: ValidationResult, *, color: bool = False) -> str:
    """Each problem with its source line and a caret under the fault."""

    def paint(kind: str, text: str) -> str:
        return f"{_COLOURS[kind]}{text}{_RESET}" if color else text

    lines = (result.source_text or "").splitlines()
    out: list[str] = []
    for p in result.problems:
        out.append(paint(p.severity, f"{p.severity}[{p.code}]") + paint("bold", f": {p.message}"))
        at = (
            f"{result.source_name}:{p.line}:{p.column}"
            if p.line is not None
            else result.source_name
        )
        out.append(paint("dim", "  --> ") + f"{at} ({p.where})")
        if p.line is not None and 0 < p.line <= len(lines):
            out += _quote(lines[p.line - 1], p, paint)
        elif p.hint:
            out.append(paint("dim", "   = ") + f"fix: {p.hint}")
        out.append("")
    out.append(paint(ERROR if result.errors else "bold", summary(result)))
    return "\n".join(out)


def _quote(source_line: str, p: Problem, paint: object) -> list[str]:
    assert callable(paint)
    number = str(p.line)
    pad = " " * len(number)
    column = max(1, p.column or 1)
    token = source_line[column - 1 :]
    width = next((i for i, ch in enumerate(token) if ch in _TOKEN_END), len(token)) or 1
    caret = " " * (column - 1) + "^" * width
    hint = f" {p.hint}" if p.hint else ""
    return [
        paint("dim", f" {pad} |"),
        paint("dim", f" {number} | ") + source_line,
        paint("dim", f" {pad} | ") + paint(p.severity, caret + hint),
    ]


# -- HTML ---------------------------------------------------------------------

_NODE_W, _NODE_H, _GAP_X, _GAP_Y = 170, 44, 60, 24

_CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:20px;margin:0 0 4px} .summary{margin:0 0 18px;color:#555}
.bad{color:#b3261e}.ok{color:#1b7f3b}
table{border-collapse:collapse;width:100%;margin-bottom:24px}
td,th{border-bottom:1px solid #e3e3e3;padding:6px 8px;text-align:left;vertical-align:top}
th{background:#f5f6f8} code,pre{font:12px/1.4 ui-monospace,monospace}
pre{margin:4px 0 0;background:#f7f7f9;padding:4px 6px;overflow-x:auto}
.error{color:#b3261e;font-weight:600}.warning{color:#a15c00;font-weight:600}
.hint{color:#1b5e20} svg{border:1px solid #e3e3e3;background:#fcfcfd}
.node rect{fill:#e8f0fe;stroke:#4a6fa5;stroke-width:1.2}
.node.failing rect{fill:#fde7e7;stroke:#b3261e;stroke-width:2.4}
.node.warned rect{fill:#fff4e0;stroke:#a15c00}
.node text{font:12px ui-monospace,monospace;fill:#1d2330}
.edge{stroke:#7a8699;stroke-width:1.4;fill:none}
.edge.failing{stroke:#b3261e;stroke-width:2.6}
.edge.conditional{stroke-dasharray:6 4}
"""


def html_report(result: ValidationResult) -> str:
    """One self-contained HTML page: the problems, and the DAG with the faults in red."""
    title = f"Validation of {result.workflow_id or result.source_name}"
    status = "bad" if result.errors else "ok"
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='summary {status}' id='summary'>{html.escape(summary(result))}</p>",
        _problem_table(result),
        "<h2>Workflow graph</h2>",
        _svg(result),
        "</body></html>",
    ]
    return "\n".join(parts)


def _problem_table(result: ValidationResult) -> str:
    if not result.problems:
        return "<p>No problems found.</p>"
    lines = (result.source_text or "").splitlines()
    rows = [
        "<table id='problems'><tr><th>severity</th><th>code</th><th>where</th>"
        "<th>problem</th></tr>"
    ]
    for p in result.problems:
        where = html.escape(p.where)
        if p.line is not None:
            where += f"<br>line {p.line}, column {p.column}"
        quoted = ""
        if p.line is not None and 0 < p.line <= len(lines):
            quoted = f"<pre>{html.escape(lines[p.line - 1])}</pre>"
        hint = f"<div class='hint'>fix: {html.escape(p.hint)}</div>" if p.hint else ""
        rows.append(
            f"<tr class='problem'><td class='{p.severity}'>{p.severity}</td><td>{p.code}</td>"
            f"<td><code>{where}</code></td><td>{html.escape(p.message)}{quoted}{hint}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def graph_of(result: ValidationResult) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(nodes, edges)`` of the workflow: nodes ``(id, component)``, edges ``(from, to)``."""
    cache = result.cache
    if cache is None:
        return [], []
    nodes = [(sid, _label(s.partial)) for sid, s in cache.steps.items() if s.partial]
    edges = sorted({(dep, sid) for sid, f in cache.facts.items() for dep in f.deps})
    return nodes, edges


def _label(step: StepSpec) -> str:
    """What a node says under its id: the component, and what makes the step dynamic."""
    if step.wait_for is not None:
        return f"waits for {step.wait_for.signal}"
    return f"{step.component} (each)" if step.for_each is not None else step.component


def _conditional(result: ValidationResult) -> set[str]:
    """The steps that run only when their ``when:`` holds: edges into them are drawn dashed."""
    cache = result.cache
    if cache is None:
        return set()
    return {sid for sid, s in cache.steps.items() if s.partial and s.partial.when is not None}


def _marked(result: ValidationResult) -> tuple[dict[str, str], set[tuple[str, str]]]:
    index_to_id = _index_to_id(result)
    nodes: dict[str, str] = {}
    edges: set[tuple[str, str]] = set()
    for p in result.problems:
        sid = index_to_id.get(p.path[1]) if len(p.path) > 1 and p.path[0] == "steps" else None
        if sid is not None:
            kind = "failing" if p.severity == ERROR else "warned"
            if nodes.get(sid) != "failing":
                nodes[sid] = kind
        if p.code == "WF210":
            cycle = list(p.related)
            edges |= set(zip(cycle, cycle[1:] + cycle[:1], strict=True))
            nodes.update(dict.fromkeys(cycle, "failing"))
        elif p.related and sid is not None and p.severity == ERROR:
            edges.add((p.related[0], sid))
    return nodes, edges


def _index_to_id(result: ValidationResult) -> dict[int | str, str]:
    spec_ids: dict[int | str, str] = {}
    cache = result.cache
    if cache is None:
        return spec_ids
    for i, sid in enumerate(cache.order):
        if sid is not None:
            spec_ids[i] = sid
    return spec_ids


def _layers(nodes: Iterable[str], deps: Mapping[str, set[str]]) -> dict[str, int]:
    """Longest-path depth in the DAG; steps on a cycle go after what they read that has one."""
    nodes = list(nodes)
    order, stuck = toposort(nodes, {n: [p for p in deps.get(n, ()) if p != n] for n in nodes})
    depth: dict[str, int] = {}
    for n in [*order, *stuck]:  # the steps of cycles last, which Kahn's order never frees
        placed = [depth[p] for p in deps.get(n, ()) if p in depth and p != n]
        depth[n] = 1 + max(placed, default=-1)
    return depth


def _svg(result: ValidationResult) -> str:
    nodes, edges = graph_of(result)
    if not nodes:
        return "<p>No steps could be read.</p>"
    deps: dict[str, set[str]] = {}
    for a, b in edges:
        deps.setdefault(b, set()).add(a)
    depth = _layers([n for n, _ in nodes], deps)
    rows: dict[int, list[str]] = {}
    for sid, _ in nodes:
        rows.setdefault(depth[sid], []).append(sid)
    pos = {
        sid: (24 + col * (_NODE_W + _GAP_X), 24 + row * (_NODE_H + _GAP_Y))
        for col, members in rows.items()
        for row, sid in enumerate(members)
    }
    width = 48 + (max(rows) + 1) * (_NODE_W + _GAP_X)
    height = 48 + max(len(m) for m in rows.values()) * (_NODE_H + _GAP_Y)
    bad_nodes, bad_edges = _marked(result)
    conditional = _conditional(result)
    out = [
        f"<svg id='dag' xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}'>",
        "<defs><marker id='arrow' viewBox='0 0 10 10' refX='10' refY='5' markerWidth='7' "
        "markerHeight='7' orient='auto-start-reverse'><path d='M0,0 L10,5 L0,10 z' "
        "fill='#7a8699'/></marker></defs>",
    ]
    for a, b in edges:
        (x1, y1), (x2, y2) = pos[a], pos[b]
        cls = "edge failing" if (a, b) in bad_edges else "edge"
        if b in conditional:
            cls += " conditional"
        out.append(
            f"<path class='{cls}' marker-end='url(#arrow)' d='M{x1 + _NODE_W},{y1 + _NODE_H / 2} "
            f"C{x1 + _NODE_W + 40},{y1 + _NODE_H / 2} {x2 - 40},{y2 + _NODE_H / 2} "
            f"{x2},{y2 + _NODE_H / 2}'>"
            f"<title>{html.escape(a)} -&gt; {html.escape(b)}</title></path>"
        )
    components = dict(nodes)
    for sid, (x, y) in pos.items():
        cls = f"node {bad_nodes.get(sid, '')}".strip()
        out.append(
            f"<g class='{cls}' data-step='{html.escape(sid)}'><rect x='{x}' y='{y}' rx='6' "
            f"width='{_NODE_W}' height='{_NODE_H}'/><text x='{x + 8}' y='{y + 18}'>"
            f"{html.escape(sid[:22])}</text><text x='{x + 8}' y='{y + 34}' opacity='.65'>"
            f"{html.escape(components[sid][:22])}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out)


# -- the graph alone (actors-wf graph) ------------------------------------------

GRAPH_FORMATS = ("svg", "dot", "html")


def render_graph(result: ValidationResult, format: str = "svg") -> str:
    """The workflow's DAG alone: a standalone ``svg``, Graphviz ``dot``, or the ``html`` report.

    Raises:
        ValueError: an unknown format.
    """
    if format == "dot":
        return _dot(result)
    if format == "svg":
        svg = _svg(result)
        if not svg.startswith("<svg"):
            return svg
        head, _, rest = svg.partition("\n")
        return f"{head}\n<style>{_SVG_CSS}</style>\n{rest}"
    if format == "html":
        return html_report(result)
    raise ValueError(f"unknown graph format {format!r}; use one of {', '.join(GRAPH_FORMATS)}")


_SVG_CSS = "".join(
    line for line in _CSS.splitlines() if line.startswith((".node", ".edge", "svg"))
)


def _dot(result: ValidationResult) -> str:
    """Graphviz: data flows drawn solid, ``depends_on`` order-only edges dashed."""
    nodes, edges = graph_of(result)
    cache = result.cache
    data = {(d, sid) for sid, f in cache.facts.items() for d in f.data_deps} if cache else set()
    bad_nodes, bad_edges = _marked(result)
    conditional = _conditional(result)
    name = result.workflow_id or result.source_name
    out = [f"digraph {_quoted(name)} {{", "  rankdir=LR;", "  node [shape=box, style=rounded];"]
    for sid, component in nodes:
        colour = ", color=red" if bad_nodes.get(sid) == "failing" else ""
        label = _quoted(sid + "\n" + component).replace("\n", "\\n")
        out.append(f"  {_quoted(sid)} [label={label}{colour}];")
    for a, b in edges:
        style = [] if (a, b) in data else ["style=dashed"]
        if b in conditional:
            style.append('label="when"')
        if (a, b) in bad_edges:
            style.append("color=red")
        attrs_text = f" [{', '.join(style)}]" if style else ""
        out.append(f"  {_quoted(a)} -> {_quoted(b)}{attrs_text};")
    out.append("}")
    return "\n".join(out)


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
