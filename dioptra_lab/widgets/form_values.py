"""The fields of one entry point together: presets, checks, the values and the sweep grid."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dioptra_lab.entrypoints.model import EntryPoint
from dioptra_lab.errors import ParameterError
from dioptra_lab.models import EntryPointInfo, ParameterInfo
from dioptra_lab.widgets.form_fields import Field, problems_for, split_sweep

PRESET_SWEEPS = ("int", "float", "choice")  # kinds whose preset "a,b" means a sweep, not a value


class FieldSet:
    """One :class:`Field` per parameter of an entry point, each checked as it changes.

    Args:
        ep: the entry point whose ``coerce`` checks every value.
        info: its view (``api.describe``), which gives each field's type, bounds and choices.
        models: model URIs offered by fields whose type is an object.
        on_change: called after any field was checked again.
    """

    def __init__(
        self, ep: EntryPoint, info: EntryPointInfo, models: list[str], on_change: Callable[[], Any]
    ) -> None:
        self.entrypoint = ep
        self.fields = {p.name: Field(p, models) for p in info.parameters}
        for name in ep.artifact_inputs:  # Dioptra's artifact inputs: a path or a runs:/ URI each
            self.fields[name] = Field(ParameterInfo(name, "artifact", "str", True), sweepable=False)
        self.on_change = on_change

    def watch(self) -> None:
        """Check every field now and again whenever it changes."""
        for field in self.fields.values():
            for widget in (field.value, field.sweep_toggle, field.sweep_text):
                if widget is not None:
                    widget.observe(lambda _, f=field: self.check(f), "value")
            field.show(problems_for(self.entrypoint, field.name, field.texts()))

    def check(self, field: Field) -> None:
        """Show a field's problems (the CLI's words) and tell the form."""
        field.show(problems_for(self.entrypoint, field.name, field.texts()))
        self.on_change()

    @property
    def has_errors(self) -> bool:
        """Whether some field shows a problem."""
        return any(f.error.value for f in self.fields.values())

    @property
    def sweeping(self) -> bool:
        """Whether some field is swept."""
        return any(f.sweeping for f in self.fields.values())

    def apply(self, presets: dict[str, str]) -> list[str]:
        """Show text values in their fields; return warnings (unknown names, unusable text)."""
        warnings: list[str] = []
        unknown = [name for name in presets if name not in self.fields]
        for name, text in presets.items():
            field = self.fields.get(name)
            if field is None:
                continue
            if field.sweep_toggle and field.sweep_text and field.info.kind in PRESET_SWEEPS:
                if len(split_sweep(text)) > 1:
                    field.sweep_text.value = text
                    field.sweep_toggle.value = True
                    continue
            if not field.set_text(text):
                # the widget cannot hold it (text in a number box): say why, in the CLI's words
                problems = problems_for(self.entrypoint, name, [text])
                warnings += problems or [f"preset {name}={text!r} ignored"]
        if unknown:
            known = ", ".join(self.fields) or "none"
            warnings.append(
                f"ignored unknown parameters in the presets: {', '.join(unknown)} (known: {known})"
            )
        return warnings

    def values(self) -> dict[str, Any]:
        """The checked values of the fields that are not swept (defaults filled).

        Raises:
            ParameterError: every problem of every field, swept ones included.
        """
        texts: dict[str, str] = {}
        problems: list[str] = []
        for name, field in self.fields.items():
            given = field.texts()
            if field.sweeping:  # the first value is checked with the others below
                problems += [p for p in problems_for(self.entrypoint, name, given[1:]) if p not in problems]
            if given[0] is not None:
                texts[name] = given[0]
        values: dict[str, Any] = {}
        try:
            values = self.entrypoint.coerce(texts, from_text=True)
        except ParameterError as exc:
            problems = [*exc.problems, *(p for p in problems if p not in exc.problems)]
        if problems:
            raise ParameterError(problems)
        return {name: value for name, value in values.items() if not self.fields[name].sweeping}

    def grid(self) -> dict[str, list[Any]]:
        """The checked values of each swept field (empty without sweeps).

        Raises:
            ParameterError: a swept value does not fit its parameter.
        """
        grid = {}
        for name, field in self.fields.items():
            if field.sweeping:
                texts = [t or "" for t in field.texts()]
                problems = problems_for(self.entrypoint, name, texts)
                if problems:
                    raise ParameterError(problems)
                grid[name] = [self.entrypoint.parameters[name].coerce(t, from_text=True) for t in texts]
        return grid
