"""Step ordering: dependencies from references and ``dependencies:``, cycles named."""

from __future__ import annotations

from collections.abc import Mapping, Set


def find_cycle(deps: Mapping[str, Set[str]]) -> list[str] | None:
    """Return one cycle as a path ``[a, b, …, a]``, or ``None`` when the graph is acyclic."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(deps.get(node, ())):
            if dep not in deps:
                continue
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in deps:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def topological_order(deps: Mapping[str, Set[str]]) -> list[str]:
    """Order nodes so each comes after its dependencies; ties keep declaration order.

    Raises:
        ValueError: the graph has a cycle (the message names it).
    """
    cycle = find_cycle(deps)
    if cycle:
        raise ValueError("cycle: " + " -> ".join(cycle))
    order: list[str] = []
    done: set[str] = set()
    remaining = list(deps)
    while remaining:
        for node in remaining:
            if all(d in done or d not in deps for d in deps[node]):
                order.append(node)
                done.add(node)
                remaining.remove(node)
                break
    return order
