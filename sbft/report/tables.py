"""Metric tables, for the terminal (rich) and for report.md, with one way of writing a number.

The base-vs-tuned comparison has one set of rows (`comparison_rows`), rendered either way, so
the closing tables of `sbft train`, the live evaluation tables and report.md always agree.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sbft.report.record import headline_metrics

if TYPE_CHECKING:
    from rich.table import Table


def format_number(value: float | None) -> str:
    """Four decimals; tiny values (learning rates) in exponent form; 'n/a' for a missing value, and
    'nan' (or 'inf') for an undefined one: shown as it is, never passed off as missing or as a number."""
    if value is None:
        return "n/a"
    if not math.isfinite(value):
        return str(float(value))
    return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"


def format_change(before: float | None, after: float | None) -> str:
    """'+0.0300' from before to after; empty when either side is missing."""
    return "" if before is None or after is None else f"{after - before:+.4f}"


def _cell(value: float | None) -> str:
    """A table cell: empty where the source has no such metric."""
    return "" if value is None else format_number(value)


def comparison_rows(base: dict[str, float], tuned: dict[str, float]) -> list[tuple[str, str, str, str]]:
    """Each headline metric of either model: (metric, base, tuned, change), as text."""
    rows = []
    for key in headline_metrics(dict.fromkeys([*base, *tuned])):
        before, after = base.get(key), tuned.get(key)
        rows.append((key, _cell(before), _cell(after), format_change(before, after)))
    return rows


def comparison_table(
    title: str, base: dict[str, float], tuned: dict[str, float], tuned_label: str = "fine-tuned"
) -> Table:
    """Each metric: base model, fine-tuned model, and the difference (green up, red down)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    for column in ("metric", "base", tuned_label, "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key, before, after, change in comparison_rows(base, tuned):
        style = None if not change or float(change) == 0 else "green" if change[0] == "+" else "red"
        table.add_row(key, before, after, f"[{style}]{change}[/]" if style else change)
    return table


def comparison_markdown(base: dict[str, float], tuned: dict[str, float], tuned_label: str) -> list[str]:
    """The same comparison as a Markdown table, one line a row."""
    lines = [f"| metric | base | {tuned_label} | change |", "|---|---:|---:|---:|"]
    lines += [f"| {' | '.join(row)} |" for row in comparison_rows(base, tuned)]
    return lines


def metrics_table(title: str, columns: dict[str, dict[str, float]]) -> Table:
    """A metric-per-row table with one column per source (e.g. per split or per model)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    keys = headline_metrics(dict.fromkeys(k for metrics in columns.values() for k in metrics))
    for key in keys:
        table.add_row(key, *(_cell(m.get(key)) for m in columns.values()))
    return table
