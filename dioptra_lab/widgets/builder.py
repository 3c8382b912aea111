"""The graph builder: compose plugin tasks into a Dioptra-format entry point, in a notebook.

Pick a task, name the step, bind each input to a value, a parameter or a fitting output
of another step. Every change is validated by the loader `dioptra-lab validate` uses, each
problem is shown next to its step, and the picture of the graph is redrawn. ``save`` writes
YAML that any dioptra_lab command (and Dioptra) reads; ``GraphBuilder.load`` opens a file.
"""

from __future__ import annotations

import html
from pathlib import Path

import ipywidgets as w

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.models import ProblemInfo
from dioptra_lab.widgets.builder_edits import GraphEdits
from dioptra_lab.widgets.builder_parts import ParameterList, picture_of, task_names
from dioptra_lab.widgets.builder_step import StepPanel
from dioptra_lab.widgets.common import guarded, message_html, problems_html
from dioptra_lab.widgets.graph_doc import GraphDocument


class GraphBuilder(GraphEdits, w.VBox):
    """Compose plugin tasks into an entry point; validated and redrawn on every change."""

    def __init__(self, document: GraphDocument | None = None, path: str | Path | None = None) -> None:
        self.doc = document or GraphDocument()
        self.path = Path(path) if path else None
        self.problems: list[ProblemInfo] = []
        self.panels: dict[str, StepPanel] = {}
        self._by_step: dict[str, list[ProblemInfo]] = {}
        self.errors = w.HTML()
        self.task_picker = w.Combobox(options=task_names(), placeholder="task", ensure_option=False)
        self.step_name = w.Text(placeholder="step name (default: the task's)")
        self.add_button = w.Button(description="add step", button_style="primary")
        self.add_button.on_click(lambda _: guarded(self._add_clicked, self.errors))
        self.file_path = w.Text(value=str(self.path or ""), placeholder="entry point file (.yaml)")
        self.open_button = w.Button(description="open")
        self.save_button = w.Button(description="save")
        self.open_button.on_click(
            lambda _: guarded(lambda: self.open_file(self.file_path.value), self.errors)
        )
        self.save_button.on_click(lambda _: guarded(lambda: self.save(self.file_path.value), self.errors))
        self.status = w.HTML()
        self.parameters = ParameterList(self)
        self.general_problems = w.HTML()
        self.steps_box = w.VBox()
        self.picture = w.HTML(layout=w.Layout(overflow="auto"))
        self.yaml_view = w.HTML()
        yaml_box = w.Accordion([self.yaml_view], titles=("YAML",), selected_index=None)
        super().__init__(
            [
                w.HBox([self.file_path, self.open_button, self.save_button, self.status]),
                w.HBox([self.task_picker, self.step_name, self.add_button]),
                self.errors,
                self.general_problems,
                self.parameters,
                w.HBox([self.steps_box, self.picture]),
                yaml_box,
            ]
        )
        self._changed()

    # -- files -----------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> GraphBuilder:
        """A builder editing an existing entry point file.

        Raises:
            EntryPointError: the file is not YAML, or its graph is not a mapping.
        """
        builder = cls()
        builder.open_file(path)
        return builder

    @classmethod
    def from_text(cls, text: str) -> GraphBuilder:
        """A builder editing Dioptra-format YAML text."""
        return cls(GraphDocument.from_text(text))

    def open_file(self, path: str | Path) -> None:
        """Replace what is being edited with the entry point in ``path`` (what the open button does)."""
        path = Path(path)
        if not path.is_file():
            raise DioptraLabError(f"no such file {str(path)!r}; check the path")
        if path.suffix not in (".yaml", ".yml"):
            raise DioptraLabError(
                f"{path.name}: the graph builder edits .yaml task graphs (notebooks: in Jupyter)"
            )
        self.doc = GraphDocument.from_text(path.read_text(), source=str(path))
        self.path = path
        self.file_path.value = str(path)
        self.status.value = ""
        self._changed()

    def yaml(self) -> str:
        """The entry point as Dioptra-format YAML text."""
        return self.doc.to_yaml()

    def save(self, path: str | Path | None = None) -> Path:
        """Write the YAML to ``path`` (default: the file opened or saved last); return the path.

        It saves even with problems (work in progress), and says how many remain.
        """
        target = Path(path) if path else self.path
        if target is None:
            raise DioptraLabError("give a file to save to (the box left of the save button)")
        target.write_text(self.yaml())
        self.path = target
        self.file_path.value = str(target)
        if self.problems:
            self.status.value = message_html(
                f"saved {target} with {len(self.problems)} problem(s); it will not run until they are fixed",
                "warning",
            )
        else:
            self.status.value = message_html(f"saved {target}", "ok")
        return target

    def _add_clicked(self) -> None:
        self.add_step(self.task_picker.value.strip(), self.step_name.value.strip() or None)
        self.step_name.value = ""

    # -- validation and display -------------------------------------------------------------
    def _changed(self) -> None:
        """Validate the YAML as `dioptra-lab validate` does, then show problems and picture."""
        text = self.yaml()
        self._validate(text)
        general = [p for p in self.problems if not any(p in found for found in self._by_step.values())]
        if self.problems:
            summary = message_html(
                f"{len(self.problems)} problem(s); those of a step are shown at it", "warning"
            )
        else:
            summary = message_html(f"valid: {len(self.doc.steps)} step(s)", "ok")
        self.general_problems.value = summary + problems_html(general)
        panels = {}
        for name, step in self.doc.steps.items():
            panel = self.panels.get(name)
            if (
                panel is None
                or panel.task != step.task
                or set(panel.rows) != {i.name for i in self.input_specs(name)}
            ):
                panel = StepPanel(self, name)
            panel.refresh()
            panels[name] = panel
        self.panels = panels
        self.steps_box.children = tuple(panels.values())
        self.parameters.refresh()
        self.picture.value = picture_of(self)
        self.yaml_view.value = f"<pre>{html.escape(text)}</pre>"
