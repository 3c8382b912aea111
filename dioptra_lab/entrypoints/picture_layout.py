"""Where the boxes of a graph picture go: layers, pass-through points, tags off the arrows.

Steps are boxes in layers (a step sits one layer below the deepest step it needs); an
arrow that skips layers passes through an invisible point in each (so it goes around the
boxes, not through them); parameters are small tags in the half-layer just above the
first step they feed, slid sideways off the arrows that cross their row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from operator import itemgetter

CHAR_WIDTH = 7.0  # px per character of the 12px sans-serif labels (an estimate; no fonts here)
STEP_HEIGHT, TAG_HEIGHT = 30, 20
ROW_GAP, NODE_GAP, MARGIN = 34, 18, 12


@dataclass(frozen=True)
class Node:
    """A box in the picture: a step (``label`` is ``name (task)``), a parameter or an artifact input.

    ``id`` is unique across kinds (``step:NAME``, ``parameter:NAME``); a step and a
    parameter may share a name while the validator complains about it.
    """

    id: str
    label: str
    kind: str = "step"  # step | parameter | artifact
    problem: bool = False


@dataclass(frozen=True)
class Edge:
    """An arrow from ``source`` to ``target``; ``kind`` is reference, parameter or dependency."""

    source: str
    target: str
    kind: str = "reference"
    title: str = ""


def _layers(nodes: Sequence[Node], edges: Sequence[Edge]) -> dict[str, int]:
    """Longest-path layer of every step; a cycle is cut where the walk meets it again."""
    steps = {n.id for n in nodes if n.kind == "step"}
    needs: dict[str, set[str]] = {s: set() for s in steps}
    for edge in edges:
        if edge.source in steps and edge.target in steps:
            needs[edge.target].add(edge.source)
    layer: dict[str, int] = {}
    walking: set[str] = set()

    def depth(step: str) -> int:
        if step in layer:
            return layer[step]
        walking.add(step)
        found = [depth(s) for s in sorted(needs[step]) if s not in walking]
        walking.discard(step)
        layer[step] = 1 + max(found, default=-1)
        return layer[step]

    for node in nodes:
        if node.kind == "step":
            depth(node.id)
    return layer


Box = tuple[float, float, float, float]  # x, y, width, height
DUMMY = "dummy"  # a point a long arrow passes through in a layer it skips


def _width(node: Node) -> float:
    if node.kind == DUMMY:
        return 6.0
    return len(node.label) * CHAR_WIDTH + (20 if node.kind == "step" else 14)


class Layout:
    """Sugiyama-style: layers, a pass-through point per skipped layer, barycenter ordering."""

    def __init__(self, nodes: Sequence[Node], edges: Sequence[Edge]) -> None:
        self.nodes, self.edges = list(nodes), list(edges)
        layer = _layers(nodes, edges)
        self.route: dict[int, list[str]] = {}  # edge index -> the points it passes, in order
        above: dict[str, list[str]] = {}
        below: dict[str, list[str]] = {}
        for index, edge in enumerate(edges):
            if edge.source not in layer or edge.target not in layer:
                continue
            chain = [edge.source]
            for skipped in range(layer[edge.source] + 1, layer[edge.target]):
                dummy = Node(f"{DUMMY}:{index}:{skipped}", "", DUMMY)
                self.nodes.append(dummy)
                layer[dummy.id] = skipped
                chain.append(dummy.id)
            self.route[index] = chain[1:]
            chain.append(edge.target)
            if layer[edge.target] > layer[edge.source]:  # arrows back up do not order layers
                for upper, lower in zip(chain, chain[1:], strict=False):
                    above.setdefault(lower, []).append(upper)
                    below.setdefault(upper, []).append(lower)
        order = {n.id: i for i, n in enumerate(self.nodes)}
        depth = max(layer.values(), default=-1) + 1
        self.layers = [[n for n in self.nodes if layer.get(n.id) == d] for d in range(depth)]
        for neighbours in (above, below, above):  # down, up, down again
            position: dict[str, float] = {}
            sweep = self.layers if neighbours is above else self.layers[::-1]
            for row in sweep:
                keyed = [(_barycenter(n.id, neighbours, position, order), n) for n in row]
                row[:] = [n for _, n in sorted(keyed, key=itemgetter(0))]
                position.update({n.id: float(i) for i, n in enumerate(row)})
        targets: dict[str, list[str]] = {}
        for edge in edges:
            targets.setdefault(edge.source, []).append(edge.target)
        self.tags: dict[int, list[Node]] = {}  # layer -> the tags in the half-row above it
        for node in nodes:
            if node.kind not in ("step", DUMMY):
                fed = [layer[t] for t in targets.get(node.id, []) if t in layer]
                self.tags.setdefault(min(fed, default=0), []).append(node)
        self.box: dict[str, Box] = {}
        self.width = self.height = 0.0
        self.place(edges)

    def place(self, edges: Sequence[Edge]) -> None:
        """Coordinates: step layers centred, each tag row placed after, off the arrows."""
        widths = [sum(_width(n) for n in row) + NODE_GAP * (len(row) - 1) for row in self.layers]
        total = max(widths, default=0.0) + 2 * MARGIN
        box = self.box
        tag_rows: list[tuple[list[Node], float]] = []
        y = float(MARGIN)
        rows = [*zip(self.layers, widths, strict=True)] or [([], 0.0)]  # tags may have no step
        for depth, (row, width) in enumerate(rows):
            if depth in self.tags:
                tag_rows.append((self.tags[depth], y))
                y += TAG_HEIGHT + ROW_GAP
            x = (total - width) / 2
            for node in row:
                box[node.id] = (x, y, _width(node), STEP_HEIGHT)
                x += _width(node) + NODE_GAP
            y += STEP_HEIGHT + ROW_GAP
        # the pieces of the arrows between steps, through their pass-through points
        segments = [
            pair
            for index, points in self.route.items()
            for pair in zip([edges[index].source, *points], [*points, edges[index].target], strict=True)
        ]
        for row, row_y in tag_rows:
            _place_tags(row, row_y, box, edges, segments)
        self.width = max([total, *(b[0] + b[2] + MARGIN for b in box.values())])
        self.height = y - ROW_GAP + MARGIN


def _barycenter(
    node: str, neighbours: dict[str, list[str]], position: dict[str, float], order: dict[str, int]
) -> tuple[float, int]:
    placed = [position[n] for n in neighbours.get(node, []) if n in position]
    return (sum(placed) / len(placed) if placed else float(order[node]), order[node])


def curve(source: Box, target: Box) -> tuple[float, float, float, float, float]:
    """An arrow's ends and bend: from the bottom middle of ``source`` to the top middle of ``target``."""
    x1, y1, x2, y2 = source[0] + source[2] / 2, source[1] + source[3], target[0] + target[2] / 2, target[1]
    bend = 60.0 if y2 <= y1 else max(20.0, (y2 - y1) / 2)  # an arrow back up (a cycle) loops
    return x1, y1, x2, y2, bend


def _crossing(source: Box, target: Box, y: float) -> float | None:
    """Where the arrow between two boxes crosses the height ``y`` (``None``: it does not)."""
    x1, y1, x2, y2, bend = curve(source, target)
    if not y1 < y < y2:
        return None
    best, found = float("inf"), x1
    for step in range(41):  # the cubic's y is monotonic here; sampling is plenty for a picture
        t = step / 40
        u = 1 - t
        cy = u**3 * y1 + 3 * u * u * t * (y1 + bend) + 3 * u * t * t * (y2 - bend) + t**3 * y2
        if abs(cy - y) < best:
            best, found = abs(cy - y), u**3 * x1 + 3 * u * u * t * x1 + 3 * u * t * t * x2 + t**3 * x2
    return found


def _place_tags(
    row: list[Node], y: float, box: dict[str, Box], edges: Sequence[Edge], segments: list[tuple[str, str]]
) -> None:
    """Put each tag near the steps it feeds, but off the step-to-step arrows crossing its row."""
    blocked = []  # where each arrow crosses the row, from its top to its bottom
    for source, target in segments:
        xs = [_crossing(box[source], box[target], y + dy) for dy in (0.0, TAG_HEIGHT / 2, TAG_HEIGHT)]
        found = [x for x in xs if x is not None]
        if found:
            blocked.append((min(found), max(found)))
    blocked.sort()
    wanted = {}
    for node in row:
        fed = [box[e.target] for e in edges if e.source == node.id and e.target in box]
        wanted[node.id] = sum(b[0] + b[2] / 2 for b in fed) / len(fed) if fed else MARGIN + _width(node) / 2
    left_limit = float(MARGIN)
    for node in sorted(row, key=lambda n: wanted[n.id]):
        width = _width(node)
        x = max(wanted[node.id] - width / 2, left_limit)
        for low, high in blocked:  # slide right past every arrow the tag would sit on
            if low < x + width + 6 and high > x - 6:
                x = high + 6
        box[node.id] = (x, y, width, TAG_HEIGHT)
        left_limit = x + width + NODE_GAP / 2
