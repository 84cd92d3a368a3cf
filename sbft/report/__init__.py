"""What sbft shows about a run: report.md and plots after it, tables and progress during it.

- `record`: a run folder read back, and what metric names say (headline, quality, main metric);
- `markdown`: report.md, with a warning per dataset that got worse than the base model;
- `plots`: the PNG plots beside it;
- `tables`: metric tables for the terminal and Markdown, and the one number formatter;
- `live`: `MetricsCallback`, the progress and evaluation tables while training.

`MetricsCallback` is imported on first use: it subclasses a transformers class, and `sbft report`
should not wait for transformers to load.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sbft.report.markdown import REPORT, regressions, write_report
from sbft.report.plots import PLOTS, write_plots
from sbft.report.record import (
    RunRecord,
    headline_metrics,
    main_metric,
    quality_metrics,
    read_run,
    split_metric,
)
from sbft.report.tables import comparison_table, format_number, metrics_table

if TYPE_CHECKING:
    from sbft.report.live import MetricsCallback

__all__ = [
    "PLOTS",
    "REPORT",
    "MetricsCallback",
    "RunRecord",
    "comparison_table",
    "format_number",
    "headline_metrics",
    "main_metric",
    "metrics_table",
    "quality_metrics",
    "read_run",
    "regressions",
    "split_metric",
    "write_plots",
    "write_report",
]


def __getattr__(name: str) -> Any:
    if name == "MetricsCallback":
        from sbft.report.live import MetricsCallback

        return MetricsCallback
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
