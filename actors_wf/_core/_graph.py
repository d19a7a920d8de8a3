"""The one graph module: topological order, cycles written out, reachability.

The plan, the validator and the report's drawing all order steps with
:func:`toposort`; nothing else in the package walks a DAG by itself.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping

MAX_CYCLES = 50


def toposort(
    nodes: Iterable[str], deps: Mapping[str, Iterable[str]]
) -> tuple[list[str], list[str]]:
    """Kahn's algorithm: ``(order, stuck)``; ``stuck`` holds the nodes on or behind a cycle.

    ``deps[a]`` are the nodes ``a`` waits for; a dependency that is not one of
    ``nodes`` is ignored. Ties go first in, first out: with few slots, steps
    start in the order they are written.
    """
    order_in = list(dict.fromkeys(nodes))
    known = set(order_in)
    waiting = dict.fromkeys(order_in, 0)
    users: dict[str, list[str]] = {n: [] for n in order_in}
    for node in order_in:
        for dep in dict.fromkeys(deps.get(node, ())):
            if dep in known:
                users[dep].append(node)
                waiting[node] += 1
    queue = collections.deque(n for n in order_in if waiting[n] == 0)
    order: list[str] = []
    while queue:
        node = queue.popleft()
        order.append(node)
        for user in users[node]:
            waiting[user] -= 1
            if waiting[user] == 0:
                queue.append(user)
    return order, [n for n in order_in if waiting[n] > 0]


def strongly_connected(
    nodes: Iterable[str], edges: Mapping[str, Iterable[str]]
) -> list[list[str]]:
    """Tarjan's algorithm, iterative (a 10,000-step chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    groups: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, list[str]]] = [(root, list(edges.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, pending = work[-1]
            if pending:
                nxt = pending.pop()
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, list(edges.get(nxt, ()))))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def cycles(
    order: list[str], edges: Mapping[str, Iterable[str]], limit: int = MAX_CYCLES
) -> list[list[str]]:
    """Every elementary cycle (up to ``limit``), each starting at its earliest node.

    ``edges[a]`` are the nodes ``a`` leads to. A cycle ``[a, b, c]`` means
    a -> b -> c -> a. Nodes are ranked by ``order`` so the output is stable.
    """
    rank = {n: i for i, n in enumerate(order)}
    found: list[list[str]] = []
    for group in strongly_connected(order, edges):
        members = set(group)
        if len(group) == 1 and group[0] not in set(edges.get(group[0], ())):
            continue
        for start in sorted(members, key=rank.__getitem__):
            allowed = {m for m in members if rank[m] >= rank[start]}
            _cycles_from(start, edges, allowed, found, limit)
            if len(found) >= limit:
                return found
    return found


def _cycles_from(
    start: str,
    edges: Mapping[str, Iterable[str]],
    allowed: set[str],
    found: list[list[str]],
    limit: int,
) -> None:
    path = [start]
    on_path = {start}
    work = [iter(sorted(set(edges.get(start, ())) & allowed))]
    while work and len(found) < limit:
        nxt = next(work[-1], None)
        if nxt is None:
            work.pop()
            on_path.discard(path.pop())
            continue
        if nxt == start:
            found.append(list(path))
        elif nxt not in on_path:
            path.append(nxt)
            on_path.add(nxt)
            work.append(iter(sorted(set(edges.get(nxt, ())) & allowed)))


def reaching(targets: Iterable[str], deps: Mapping[str, Iterable[str]]) -> set[str]:
    """Every node from which some target can be reached (the targets included).

    ``deps[a]`` are the nodes ``a`` reads from, so this walks ``deps`` from the targets.
    """
    seen = set(targets)
    todo = list(seen)
    while todo:
        node = todo.pop()
        for dep in deps.get(node, ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen
