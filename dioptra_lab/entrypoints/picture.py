"""A picture of a task graph as inline SVG, laid out here (no graphviz in a notebook).

Steps are boxes labelled ``name (task)``, parameters small rounded tags; references are
solid arrows, explicit dependencies dashed ones; a step with problems has a red border.
The layout is :mod:`dioptra_lab.entrypoints.picture_layout`'s.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

from dioptra_lab.entrypoints.picture_layout import Box, Edge, Layout, Node, curve

if TYPE_CHECKING:
    from dioptra_lab.entrypoints.model import EntryPoint

COLOURS = {"step": "#e8f0fe", "parameter": "#fff4e0", "artifact": "#e6f4ea"}
__all__ = ["Edge", "Node", "entrypoint_svg", "graph_svg"]


def graph_svg(nodes: Sequence[Node], edges: Sequence[Edge]) -> str:
    """The picture as an ``<svg>`` element; one ``<g class="step">`` per step node."""
    if not nodes:
        return (
            '<svg xmlns="http://www.w3.org/2000/svg" width="240" height="40"><text x="10" y="24" '
            'font-family="sans-serif" font-size="12" fill="#666">no steps yet</text></svg>'
        )
    layout = Layout(nodes, edges)
    box, total, height = layout.box, layout.width, layout.height
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="dioptra-lab-graph" width="{total:.0f}" '
        f'height="{height:.0f}" font-family="sans-serif" font-size="12">',
        '<defs><marker id="dl-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
        "</marker></defs>",
    ]
    for index, edge in enumerate(edges):
        if edge.source in box and edge.target in box:
            points = [edge.source, *layout.route.get(index, []), edge.target]  # through skipped layers
            parts.append(_edge(edge, [box[p] for p in points]))
    parts += [_node(n, box[n.id]) for n in nodes]
    parts.append("</svg>")
    return "".join(parts)


def _edge(edge: Edge, boxes: list[Box]) -> str:
    """One arrow through its boxes: curves between them, straight through pass-through points."""
    path = ""
    for index, (source, target) in enumerate(zip(boxes, boxes[1:], strict=False)):
        x1, y1, x2, y2, bend = curve(source, target)
        path += f"L{x1:.1f},{y1:.1f} " if index else f"M{x1:.1f},{y1:.1f} "  # straight through a point
        path += f"C{x1:.1f},{y1 + bend:.1f} {x2:.1f},{y2 - bend:.1f} {x2:.1f},{y2:.1f} "
    style = {
        "dependency": 'stroke="#999" stroke-dasharray="5,4"',
        "parameter": 'stroke="#c08000"',
    }.get(edge.kind, 'stroke="#555"')
    title = f"<title>{html.escape(edge.title)}</title>" if edge.title else ""
    return (
        f'<path class="edge {edge.kind}" d="{path.strip()}" fill="none" {style} stroke-width="1.3" '
        f'marker-end="url(#dl-arrow)">{title}</path>'
    )


def _node(node: Node, where: Box) -> str:
    x, y, w, h = where
    stroke = "#b00020" if node.problem else "#5f6368"
    radius = h / 2 if node.kind != "step" else 5
    return (
        f'<g class="{node.kind}" data-name="{html.escape(node.id.split(":", 1)[-1])}">'
        f"<title>{html.escape(node.label)}</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h}" rx="{radius:.0f}" '
        f'fill="{COLOURS.get(node.kind, "#eee")}" stroke="{stroke}" '
        f'stroke-width="{2 if node.problem else 1}"/>'
        f'<text x="{x + w / 2:.1f}" y="{y + h / 2 + 4:.1f}" text-anchor="middle">'
        f"{html.escape(node.label)}</text>"
        "</g>"
    )


def entrypoint_svg(ep: EntryPoint) -> str:
    """The picture of a loaded entry point's graph (what its notebook display shows)."""
    from dioptra_lab.entrypoints.references import iter_refs

    nodes = [Node(f"parameter:{p}", f"${p}", "parameter") for p in ep.parameters]
    nodes += [Node(f"artifact:{a}", f"${a}", "artifact") for a in ep.artifact_inputs]
    nodes += [
        Node(f"step:{name}", f"{name} ({step.spec.name if step.spec else step.task})", "step")
        for name, step in ep.steps.items()
    ]
    edges: dict[tuple[str, str, str], Edge] = {}
    for name, step in ep.steps.items():
        for ref, _ in iter_refs([step.args, step.kwargs]):
            if ref.name in ep.steps:
                key = (f"step:{ref.name}", f"step:{name}", "reference")
            elif ref.name in ep.parameters or ref.name in ep.artifact_inputs:
                kind = "parameter" if ref.name in ep.parameters else "artifact"
                key = (f"{kind}:{ref.name}", f"step:{name}", "parameter")
            else:
                continue
            edges.setdefault(key, Edge(*key, title=f"{ref} → {name}"))
        for dep in step.dependencies:
            key = (f"step:{dep}", f"step:{name}", "dependency")
            edges.setdefault(key, Edge(*key, title=f"{name} runs after {dep}"))
    used = {e.source for e in edges.values()}
    nodes = [n for n in nodes if n.kind == "step" or n.id in used]  # unused parameters are noise
    return graph_svg(nodes, list(edges.values()))
