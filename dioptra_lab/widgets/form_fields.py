"""The widgets of one entry-point parameter, chosen from its type, and sweep value lists.

Every value is checked as text by the entry point itself (``EntryPoint.coerce(...,
from_text=True)``), the way the command line checks ``-p name=value``, so a field shows
the very message the CLI would print.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import yaml

from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.errors import ParameterError
from dioptra_lab.models import ParameterInfo
from dioptra_lab.widgets.common import message_html

STRUCTURED = ("list", "tuple", "dict", "record")
SWEEPABLE = ("int", "float", "str", "bool", "choice", "any", "union", "object")
MAX_SWEEP = 1000  # a range longer than this is read as one (invalid) value, not generated
OBJECT_HINT = "models:/NAME/VERSION or runs:/RUN_ID/PATH"


def problems_for(ep: EntryPoint, name: str, texts: Sequence[str | None]) -> list[str]:
    """The problems ``ep.coerce`` finds with each text of one parameter (``None``: not given)."""
    found: list[str] = []
    for text in texts:
        try:
            ep.coerce({} if text is None else {name: text}, from_text=True)
        except ParameterError as exc:
            # the other parameters are not given here: keep only this one's problems
            mine = (f"parameter {name!r}:", f"parameter {name!r} ", f"artifact input {name!r} ")
            found.extend(p for p in exc.problems if p.startswith(mine) and p not in found)
    return found


def split_sweep(text: str) -> list[str]:
    """``"0.1, 0.2"`` → ``["0.1", "0.2"]``; ``"0:0.3:0.1"`` → ``["0", "0.1", "0.2", "0.3"]``.

    A range includes its stop when a step lands on it. Text that is no valid range is one
    value, so the parameter's type reports what is wrong with it.
    """
    parts = text.split(":")
    if len(parts) == 3:
        try:
            start, stop, step = (float(p) for p in parts)
        except ValueError:
            return [text.strip()]
        if step == 0 or (stop - start) / step < 0 or (stop - start) / step >= MAX_SWEEP:
            return [text.strip()]
        count = math.floor((stop - start) / step + 1e-9) + 1
        whole = all(p.strip().lstrip("+-").isdigit() for p in parts)
        values = [start + i * step for i in range(count)]
        return [str(int(v)) if whole else str(round(v, 12)) for v in values]
    return [v.strip() for v in text.split(",") if v.strip()]


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return yaml.safe_dump(value, default_flow_style=True, sort_keys=False).strip()
    return str(value)


class Field:
    """The widgets of one parameter: value, optional slider, sweep toggle and text, error line."""

    def __init__(self, info: ParameterInfo, models: list[str] | None = None, sweepable: bool = True) -> None:
        self.name = info.name
        self.info = info
        self.slider: w.FloatSlider | w.IntSlider | None = None
        self.value = self._value_widget(info, models or [])
        self.error = w.HTML()
        self.sweep_toggle: w.Checkbox | None = None
        self.sweep_text: w.Text | None = None
        if sweepable and info.kind in SWEEPABLE:
            self.sweep_toggle = w.Checkbox(value=False, description="sweep", indent=False)
            self.sweep_text = w.Text(
                placeholder="v1, v2, … or start:stop:step", layout=w.Layout(display="none")
            )
            self.sweep_toggle.observe(self._toggled, "value")
        label = w.HTML(
            f"<b>{html.escape(info.name)}</b> <code>{html.escape(info.type)}</code>",
            layout=w.Layout(width="220px"),
        )
        inputs = [self.value] if self.slider is None else [self.slider, self.value]
        toggles = [self.sweep_text, self.sweep_toggle] if self.sweep_toggle else []
        about = html.escape(info.description)
        help_line = w.HTML(f'<small style="color:#666">{about}</small>' if about else "")
        self.box = w.VBox([w.HBox([label, *inputs, *toggles]), help_line, self.error])

    # -- widgets by type -------------------------------------------------------------------
    def _value_widget(self, info: ParameterInfo, models: list[str]) -> w.Widget:
        default = info.default
        if info.kind in ("int", "float"):
            return self._number(info)
        if info.kind == "choice" and info.choices:
            options = [(_as_text(c), c) for c in info.choices]
            return w.Dropdown(options=options, value=default if default in info.choices else info.choices[0])
        if info.kind == "bool":
            return w.Checkbox(value=bool(default), indent=False)
        if info.kind in STRUCTURED:
            return w.Textarea(value=_as_text(default), placeholder=f"YAML: {info.type}", rows=2)
        if info.kind == "object":
            given = [default] if isinstance(default, str) else []
            uris = given + [m for m in models if m != default]
            return w.Combobox(
                value=default if isinstance(default, str) else "",
                options=uris,
                ensure_option=False,  # type your own URI
                placeholder=OBJECT_HINT,
            )
        return w.Text(value=_as_text(default), placeholder=info.type)

    def _number(self, info: ParameterInfo) -> w.Widget:
        integer = info.kind == "int"
        if info.required:  # no default: an empty box reads "required" rather than a made-up 0
            box: w.Widget = w.Text(value="", placeholder=info.type)
        else:
            box = (w.IntText if integer else w.FloatText)(
                value=info.default or 0, layout=w.Layout(width="120px")
            )
        low, high = info.minimum, info.maximum
        if low is not None and high is not None and math.isfinite(low) and math.isfinite(high) and low < high:
            if integer:
                self.slider = w.IntSlider(min=int(low), max=int(high), step=1, readout=False)
            else:
                self.slider = w.FloatSlider(min=low, max=high, step=(high - low) / 100, readout=False)
            self._link(self.slider, box, low, high)
        return box

    @staticmethod
    def _link(slider: w.Widget, box: w.Widget, low: float, high: float) -> None:
        def from_box(change: dict[str, Any]) -> None:
            try:
                number = float(change["new"])
            except (TypeError, ValueError):
                return
            # the slider would clamp an out-of-range value and write it back over the
            # user's text; leave it where it is so the box keeps what was typed
            if low <= number <= high and slider.value != number:
                slider.value = int(number) if isinstance(slider, w.IntSlider) else number

        def from_slider(change: dict[str, Any]) -> None:
            try:
                same = float(box.value) == change["new"]
            except (TypeError, ValueError):
                same = False
            if not same:
                box.value = change["new"] if not isinstance(box, w.Text) else _as_text(change["new"])

        from_box({"new": box.value})
        slider.observe(from_slider, "value")
        box.observe(from_box, "value")

    # -- values ------------------------------------------------------------------------------
    @property
    def sweeping(self) -> bool:
        """Whether the field takes a list of values to sweep over."""
        return bool(self.sweep_toggle and self.sweep_toggle.value)

    def text(self) -> str | None:
        """The value as text, as typed on a command line (``None``: left empty, not given)."""
        widget = self.value
        if isinstance(widget, w.Dropdown):
            return widget.label
        if isinstance(widget, w.Checkbox):
            return _as_text(widget.value)
        if isinstance(widget, w.Text | w.Textarea | w.Combobox):
            return None if widget.value == "" and self.info.required else widget.value
        return _as_text(widget.value)

    def texts(self) -> list[str | None]:
        """Every value to check: the sweep's values while sweeping, else the one value."""
        if self.sweeping and self.sweep_text is not None:
            return list(split_sweep(self.sweep_text.value)) or [""]
        return [self.text()]

    def set_text(self, text: str) -> bool:
        """Show ``text`` (a preset) in the field; return whether the widget could hold it."""
        widget = self.value
        try:
            if isinstance(widget, w.Dropdown):
                matches = [value for label, value in widget.options if label == text]
                if not matches:
                    return False
                widget.value = matches[0]
            elif isinstance(widget, w.Checkbox):
                widget.value = text.strip().lower() in {"true", "yes", "y", "on", "1"}
            elif isinstance(widget, w.IntText | w.FloatText):
                widget.value = int(text) if isinstance(widget, w.IntText) else float(text)
            else:
                widget.value = text
        except (ValueError, TypeError):
            return False
        return True

    def _toggled(self, change: dict[str, Any]) -> None:
        assert self.sweep_text is not None
        on = bool(change["new"])
        if on and not self.sweep_text.value:
            self.sweep_text.value = self.text() or ""
        self.sweep_text.layout.display = None if on else "none"
        for widget in (self.value, self.slider):
            if widget is not None:
                widget.layout.display = "none" if on else None

    def show(self, problems: list[str]) -> None:
        """Show the field's problems right under it (none: clear)."""
        self.error.value = "".join(message_html(p) for p in problems)
