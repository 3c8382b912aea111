"""Step ordering: dependencies from references and ``dependencies:``, cycles named.

Both walks are iterative, so a graph of thousands of steps neither overflows Python's stack
nor takes quadratic time.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Set


def find_cycle(deps: Mapping[str, Set[str]]) -> list[str] | None:
    """Return one cycle as a path ``[a, b, …, a]``, or ``None`` when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in deps:
        if root in state:
            continue
        stack: list[str] = [root]
        children: list[Iterator[str]] = [iter(sorted(deps.get(root, ())))]
        state[root] = 1
        while stack:
            dep = next(children[-1], None)
            if dep is None:
                state[stack.pop()] = 2
                children.pop()
                continue
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                state[dep] = 1
                stack.append(dep)
                children.append(iter(sorted(deps.get(dep, ()))))
    return None


def topological_order(deps: Mapping[str, Set[str]]) -> list[str]:
    """Order nodes so each comes after its dependencies; ties keep declaration order.

    Raises:
        ValueError: the graph has a cycle (the message names it).
    """
    cycle = find_cycle(deps)
    if cycle:
        raise ValueError("cycle: " + " -> ".join(cycle))
    index = {node: i for i, node in enumerate(deps)}
    waiting = {node: {d for d in needs if d in deps} for node, needs in deps.items()}
    users: dict[str, list[str]] = {node: [] for node in deps}
    for node, needs in waiting.items():
        for dep in needs:
            users[dep].append(node)
    ready = [index[node] for node, needs in waiting.items() if not needs]
    heapq.heapify(ready)
    nodes = list(deps)
    order: list[str] = []
    while ready:
        node = nodes[heapq.heappop(ready)]
        order.append(node)
        for user in users[node]:
            waiting[user].discard(node)
            if not waiting[user]:
                heapq.heappush(ready, index[user])
    return order
