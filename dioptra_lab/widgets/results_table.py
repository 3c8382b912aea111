"""The pieces of the results view that are not widgets: sorting, the HTML table, CSV, the plot."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

from dioptra_lab.errors import DioptraLabError
from dioptra_lab.models import ExperimentResults, RunRow
from dioptra_lab.plots import as_number, comparison_figure

FIXED = ("run_id", "status", "entrypoint", "sweep")


def cell(row: RunRow, column: str) -> Any:
    """The value of a column of a row: a fixed column, then a metric, then a parameter."""
    if column in FIXED:
        value = getattr(row, column)
        return getattr(value, "value", value)
    if column in row.metrics:
        return row.metrics[column]
    return row.params.get(column)


def sort_rows(rows: list[RunRow], column: str | None, ascending: bool = True) -> list[RunRow]:
    """Rows sorted by a column, numbers by value; rows without the column go last either way."""
    if not column:
        return list(rows)
    present = [r for r in rows if cell(r, column) not in (None, "")]
    missing = [r for r in rows if cell(r, column) in (None, "")]

    def key(row: RunRow) -> tuple[int, float, str]:
        value = cell(row, column)
        found = as_number(value) if not isinstance(value, float) else value
        return (0, found, "") if found is not None else (1, 0.0, str(value))

    return sorted(present, key=key, reverse=not ascending) + missing


def _show(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table_html(results: ExperimentResults, rows: list[RunRow], selected: str | None = None) -> str:
    """The rows as an HTML table: run, status, entry point, sweep, parameters, metrics."""
    columns = [*FIXED, *results.params, *results.metrics]
    head = "".join(f'<th style="text-align:left;padding:2px 8px">{html.escape(c)}</th>' for c in columns)
    body = []
    for row in rows:
        shade = ' style="background:#e3f2fd"' if row.run_id == selected else ""
        texts = [_show(cell(row, c))[: 12 if c == "run_id" else None] for c in columns]
        cells = "".join(f'<td style="padding:2px 8px">{html.escape(t)}</td>' for t in texts)
        body.append(f'<tr class="dioptra-lab-run" data-run="{row.run_id}"{shade}>{cells}</tr>')
    if not rows:
        body.append(f'<tr><td colspan="{len(columns)}"><i>no runs</i></td></tr>')
    return (
        '<table class="dioptra-lab-results" style="border-collapse:collapse;font-size:90%">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def csv_text(results: ExperimentResults, rows: list[RunRow]) -> str:
    """The rows as CSV, with the headers of ``ExperimentResults.table()``."""
    return ExperimentResults(results.experiment, results.params, results.metrics, rows).csv()


def csv_link(results: ExperimentResults, rows: list[RunRow]) -> str:
    """An anchor that downloads the rows as a CSV file (a ``data:`` URI: no server needed)."""
    data = base64.b64encode(csv_text(results, rows).encode()).decode()
    name = html.escape(f"{results.experiment}.csv")
    return f'<a download="{name}" href="data:text/csv;base64,{data}" target="_blank">Download CSV</a>'


def comparison_png(rows: list[RunRow], metric: str, param: str, group: str | None = None) -> bytes:
    """A PNG of ``metric`` against ``param``, one line per value of ``group`` (empty: nothing to draw)."""
    try:
        fig = comparison_figure(rows, metric, param, by=group)
    except DioptraLabError:
        return b""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
