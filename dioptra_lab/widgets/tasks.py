"""The task browser: every registered task by plugin, a search box, and one task's details.

It shows what ``dioptra-lab plugins list`` and ``plugins show`` print, from the same
:func:`dioptra_lab.api.list_tasks` views, plus the plugins that failed to import and why.
"""

from __future__ import annotations

import html
import math

import ipywidgets as w

from dioptra_lab import api
from dioptra_lab.models import ParameterInfo, TaskInfo
from dioptra_lab.widgets.common import guarded

_HEADER = "plugin:"  # option values of the group headers in the list


def bounds_text(info: ParameterInfo) -> str:
    """An input's range or choices: ``[0, 10]``, ``(0, 1]``, ``≥ 0``, ``fast | slow``."""
    if info.choices is not None:
        return " | ".join(repr(c) if isinstance(c, str) else str(c) for c in info.choices)
    low, high = info.minimum, info.maximum
    if low is None and high is None:
        return ""

    def show(x: float) -> str:
        return str(int(x)) if float(x).is_integer() and math.isfinite(x) else str(x)

    if low is not None and high is not None:
        left, right = "(" if info.exclusive_minimum else "[", ")" if info.exclusive_maximum else "]"
        return f"{left}{show(low)}, {show(high)}{right}"
    if low is not None:
        return f"{'>' if info.exclusive_minimum else '≥'} {show(low)}"
    assert high is not None
    return f"{'<' if info.exclusive_maximum else '≤'} {show(high)}"


def details_html(task: TaskInfo) -> str:
    """One task as HTML: name, docstring, inputs table, outputs table."""
    esc = html.escape
    flags = [f"retries {task.retries}"] if task.retries else []
    flags += ["cached"] if task.cache else []
    head = (
        f"<h4 style='margin:4px 0'>{esc(task.name)}</h4>"
        f"<div><code>{esc(task.qualname)}</code> · plugin <code>{esc(task.plugin)}</code>"
        f"{' · ' + esc(', '.join(flags)) if flags else ''}</div>"
        f"<pre style='white-space:pre-wrap'>{esc(task.doc or task.description or '(no docstring)')}</pre>"
    )
    cell = "style='padding:2px 8px;text-align:left'"
    rows = "".join(
        f"<tr><td {cell}><code>{esc(i.name)}</code>{'' if not i.required else '*'}</td>"
        f"<td {cell}>{esc(i.type)}</td>"
        f"<td {cell}>{'' if i.required else esc(repr(i.default))}</td>"
        f"<td {cell}>{esc(bounds_text(i))}</td><td {cell}>{esc(i.description)}</td></tr>"
        for i in task.inputs
    )
    titles = (
        "<tr>" + "".join(f"<th {cell}>{t}</th>" for t in ("input", "type", "default", "bounds", "")) + "</tr>"
    )
    inputs = f"<b>inputs</b> (* required)<table>{titles}{rows}</table>" if task.inputs else "<b>no inputs</b>"
    outs = "".join(
        f"<tr><td {cell}><code>{esc(o.name)}</code></td><td {cell}>{esc(o.type)}</td></tr>"
        for o in task.outputs
    )
    outputs = f"<b>outputs</b><table>{outs}</table>" if task.outputs else "<b>no output</b> (returns None)"
    return f'<div class="dioptra-lab-task">{head}{inputs}<br>{outputs}</div>'


class TaskBrowser(w.VBox):
    """Every registered task grouped by plugin, searchable, with the selected task's details."""

    def __init__(self) -> None:
        self.errors = w.HTML()
        self.search = w.Text(placeholder="search tasks by name or description", continuous_update=True)
        self.reload_button = w.Button(description="reload plugins", tooltip="import the plugins again")
        self.listing = w.Select(options=[], rows=18, layout=w.Layout(width="380px"))
        self.details = w.HTML(layout=w.Layout(width="100%"))
        self.broken = w.HTML()
        self.tasks: list[TaskInfo] = []
        self.search.observe(lambda _: self._filter(), names="value")
        self.listing.observe(lambda _: self._show(), names="value")
        self.reload_button.on_click(lambda _: guarded(self.reload, self.errors))
        super().__init__(
            [
                w.HBox([self.search, self.reload_button]),
                self.errors,
                w.HBox([self.listing, self.details]),
                self.broken,
            ]
        )
        guarded(self.refresh, self.errors)

    def refresh(self) -> None:
        """Read the tasks and the broken plugins from the registry again."""
        self.tasks = sorted(api.list_tasks(), key=lambda t: (t.plugin, t.name))
        broken = api.broken_plugins()
        self.broken.value = (
            "<b>plugins that failed to import</b><ul>"
            + "".join(
                f"<li><code>{html.escape(b.module)}</code> ({html.escape(b.location)}): "
                f'<span style="color:#b00020">{html.escape(b.reason)}</span></li>'
                for b in broken
            )
            + "</ul>"
            if broken
            else ""
        )
        self._filter()

    def reload(self) -> None:
        """Import every plugin again (picks up edited plugin files), then refresh."""
        api.reload_plugins()
        self.refresh()

    def _matches(self, task: TaskInfo) -> bool:
        words = self.search.value.lower().split()
        text = " ".join((task.name, task.qualname, task.description)).lower()
        return all(word in text for word in words)

    def _filter(self) -> None:
        selected = self.listing.value
        options: list[tuple[str, str]] = []
        for plugin in dict.fromkeys(t.plugin for t in self.tasks):
            found = [t for t in self.tasks if t.plugin == plugin and self._matches(t)]
            if found:
                options.append((f"▾ {plugin} ({len(found)})", _HEADER + plugin))
                options += [(f"    {t.name} — {t.description}", t.qualname) for t in found]
        self.listing.options = options
        values = [value for _, value in options]
        self.listing.value = selected if selected in values else None
        self._show()

    def _show(self) -> None:
        value = self.listing.value
        task = next((t for t in self.tasks if t.qualname == value), None)
        if task is not None:
            self.details.value = details_html(task)
        elif isinstance(value, str) and value.startswith(_HEADER):
            plugin = value[len(_HEADER) :]
            names = ", ".join(t.name for t in self.tasks if t.plugin == plugin)
            self.details.value = f"<h4>{html.escape(plugin)}</h4><div>{html.escape(names)}</div>"
        else:
            self.details.value = "<i>select a task to see its inputs and outputs</i>"

    @property
    def visible(self) -> list[str]:
        """The short names of the tasks the list shows now (after the search)."""
        by_qualname = {t.qualname: t.name for t in self.tasks}
        return [by_qualname[value] for _, value in self.listing.options if value in by_qualname]

    def select(self, name: str) -> TaskInfo:
        """Show one task (short or qualified name), clearing the search if it hides the task.

        Raises:
            UnknownTaskError: no such task.
        """
        info = api.task_info(name)
        if info.qualname not in [value for _, value in self.listing.options]:
            self.search.value = ""
        self.listing.value = info.qualname
        return info
