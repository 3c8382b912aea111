"""One step of the graph builder: its inputs' bindings, dependencies, problems and buttons.

Every button calls a method of :class:`~dioptra_lab.widgets.builder.GraphBuilder`, so a
test that clicks and one that calls the methods exercise the same code.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from dioptra_lab.entrypoints.references import parse_ref
from dioptra_lab.models import ProblemInfo
from dioptra_lab.plugins.task import MISSING, InputSpec
from dioptra_lab.widgets.common import guarded, problems_html
from dioptra_lab.widgets.graph_doc import literal_text

if TYPE_CHECKING:
    from dioptra_lab.widgets.builder import GraphBuilder

MODES = [("not set", "none"), ("value", "literal"), ("parameter", "parameter"), ("step output", "output")]


class InputRow(w.HBox):
    """One input of a step: how it is bound (value, parameter, step output) and a set button."""

    def __init__(self, builder: GraphBuilder, step: str, spec: InputSpec) -> None:
        self.builder, self.step, self.spec = builder, step, spec
        default = "" if spec.default is MISSING else f" = {spec.default!r}"
        mark = "*" if spec.required else ""
        self.label = w.HTML(
            f"<code>{html.escape(spec.name)}{mark}</code> <small>{html.escape(str(spec.type))}"
            f"{html.escape(default)}</small>",
            layout=w.Layout(width="260px"),
        )
        self.mode = w.Dropdown(options=MODES, value="none", layout=w.Layout(width="120px"))
        self.literal = w.Text(placeholder="value", layout=w.Layout(width="220px"))
        self.parameter = w.Combobox(placeholder="new or existing parameter", layout=w.Layout(width="220px"))
        self.output = w.Dropdown(options=[], layout=w.Layout(width="220px"))
        self.set_button = w.Button(description="set", layout=w.Layout(width="60px"))
        self.set_button.on_click(lambda _: guarded(self.apply, builder.errors))
        self.mode.observe(lambda _: self._show_mode(), names="value")
        self._shown: tuple[bool, Any] | None = None
        super().__init__([self.label, self.mode, self.literal, self.parameter, self.output, self.set_button])
        self._show_mode()

    def _show_mode(self) -> None:
        for mode, widget in (
            ("literal", self.literal),
            ("parameter", self.parameter),
            ("output", self.output),
        ):
            widget.layout.display = "" if self.mode.value == mode else "none"

    def apply(self) -> None:
        """Bind the input as the row says (what the set button does)."""
        mode, builder = self.mode.value, self.builder
        if mode == "none":
            builder.unbind(self.step, self.spec.name)
        elif mode == "literal":
            builder.bind(self.step, self.spec.name, literal=self.literal.value)
        elif mode == "parameter":
            builder.bind(self.step, self.spec.name, parameter=self.parameter.value)
        else:
            builder.bind(self.step, self.spec.name, output=self.output.value or "")

    def refresh(self, bound: bool, value: Any, problem: bool) -> None:
        """Show the current binding (unless unchanged: keep what is being typed) and the choices."""
        builder = self.builder
        self.parameter.options = tuple(builder.doc.parameters)
        sources = builder.sources(self.step, self.spec.name)
        ref = parse_ref(value) if bound else None
        current = None
        if ref is not None and ref.name not in builder.doc.parameters:
            current = str(ref)[1:]
            if current not in sources:  # shown, though it does not fit, until it is changed
                sources = [*sources, current]
        self.output.options = sources
        self.label.layout.border = "1px solid #b00020" if problem else ""
        if self._shown == (bound, value):
            return
        self._shown = (bound, value)
        if not bound:
            self.mode.value = "none"
        elif ref is not None and ref.name in builder.doc.parameters:
            self.mode.value, self.parameter.value = "parameter", ref.name
        elif ref is not None:
            self.mode.value, self.output.value = "output", current
        else:
            self.mode.value, self.literal.value = "literal", literal_text(value)


class StepPanel(w.VBox):
    """A step of the graph builder: name and task, input rows, dependencies, problems."""

    def __init__(self, builder: GraphBuilder, name: str) -> None:
        self.builder, self.name = builder, name
        self.task = builder.doc.step(name).task
        spec = builder.task_spec(name)
        about = f" — {html.escape(spec.description)}" if spec is not None and spec.description else ""
        self.title = w.HTML(f"<b>{html.escape(name)}</b> <code>{html.escape(self.task)}</code>{about}")
        self.up_button = w.Button(description="↑", tooltip="move up", layout=w.Layout(width="36px"))
        self.down_button = w.Button(description="↓", tooltip="move down", layout=w.Layout(width="36px"))
        self.remove_button = w.Button(
            description="remove", button_style="danger", layout=w.Layout(width="80px")
        )
        self.rename_text = w.Text(value=name, layout=w.Layout(width="160px"))
        self.rename_button = w.Button(description="rename", layout=w.Layout(width="80px"))
        errors = builder.errors
        self.up_button.on_click(lambda _: guarded(lambda: builder.move_step(self.name, -1), errors))
        self.down_button.on_click(lambda _: guarded(lambda: builder.move_step(self.name, +1), errors))
        self.remove_button.on_click(lambda _: guarded(lambda: builder.remove_step(self.name), errors))
        self.rename_button.on_click(
            lambda _: guarded(lambda: builder.rename_step(self.name, self.rename_text.value.strip()), errors)
        )
        self.rows = {i.name: InputRow(builder, name, i) for i in builder.input_specs(name)}
        self.dependencies = w.SelectMultiple(description="after", rows=3, layout=w.Layout(width="400px"))
        self.dependencies.observe(self._dependencies_changed, names="value")
        self.problems = w.HTML()
        self.note = w.HTML()
        self._updating = False
        header = w.HBox(
            [
                self.title,
                self.up_button,
                self.down_button,
                self.rename_text,
                self.rename_button,
                self.remove_button,
            ]
        )
        super().__init__(
            [header, self.note, *self.rows.values(), self.dependencies, self.problems],
            layout=w.Layout(border="1px solid #ccc", padding="4px", margin="3px 0"),
        )

    def _dependencies_changed(self, change: dict[str, Any]) -> None:
        if not self._updating:
            guarded(
                lambda: self.builder.set_dependencies(self.name, list(change["new"])), self.builder.errors
            )

    def refresh(self) -> None:
        """Show the step as the builder's document and validation have it now."""
        builder, step = self.builder, self.builder.doc.step(self.name)
        problems = builder.step_problems(self.name)
        prefix = f"graph.{self.name}"  # the panel says which step; show the rest of each place
        self.problems.value = problems_html(
            ProblemInfo(
                p.message, p.place[len(prefix) :].lstrip(".") if p.place.startswith(prefix) else p.place
            )
            for p in problems
        )
        self.layout.border = "2px solid #b00020" if problems else "1px solid #ccc"
        if step.raw is not None:
            self.note.value = "<i>this step is malformed; edit it in a text editor</i>"
        elif builder.task_spec(self.name) is None:
            self.note.value = "<i>unknown task: its inputs cannot be listed</i>"
        else:
            self.note.value = ""
        for input_name, row in self.rows.items():
            bound, value = builder.binding(self.name, input_name)
            flagged = any(
                _concerns(p.place, self.name, input_name, builder.positional(self.name)) for p in problems
            )
            row.refresh(bound, value, flagged)
        self._updating = True
        try:
            self.dependencies.options = [n for n in builder.doc.steps if n != self.name]
            self.dependencies.value = tuple(d for d in step.dependencies if d in self.dependencies.options)
        finally:
            self._updating = False


def _concerns(place: str, step: str, input_name: str, positional: list[str]) -> bool:
    """Whether a problem's place is this input's: ``graph.STEP.NAME``, ``graph.STEP.kwargs.NAME…``
    or ``graph.STEP.args[i]…`` (the validator writes all three)."""
    prefix = f"graph.{step}."
    if not place.startswith(prefix):
        return False
    rest = place[len(prefix) :].removeprefix("kwargs.")
    if rest.startswith("args["):
        index = rest[len("args[") :].split("]")[0]
        return input_name in positional and index == str(positional.index(input_name))
    return re.split(r"[.\[]", rest)[0] == input_name
