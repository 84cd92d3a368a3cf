"""The PNG plots of a run report: training loss, dev metrics per dataset, base vs fine-tuned.

matplotlib is imported lazily and used through `Figure` objects, never pyplot: no display, no
global backend switch in the caller's process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sbft.report.record import RunRecord, by_dataset, quality_metrics, split_metric

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOTS = "plots"
"""The plots' folder in a run folder."""
STEP_LABEL = "training step"
_BASE_COLOUR, _TUNED_COLOUR = "#9e9e9e", "#1f77b4"
_SMOOTH_FROM = 30
"""Loss curves with this many points get a moving average drawn over the raw values."""


def write_plots(record: RunRecord, folder: Path) -> dict[str, Path]:
    """The plots there is data for, by title: loss curve, dev metrics per dataset, base vs tuned."""
    figures: dict[str, tuple[str, Figure]] = {}
    if record.losses:
        figures["Training loss"] = ("loss.png", _loss_figure(record))
    if record.evaluations:
        keys = quality_metrics(dict.fromkeys(k for e in record.evaluations for k in e))
        for dataset, group in by_dataset(keys, record.dataset_names).items():
            title = (
                f"Dev metrics of '{dataset}' during training" if dataset else "Dev metrics during training"
            )
            figures[title] = (
                f"dev-{_file_safe(dataset or 'all')}.png",
                _metrics_figure(record, dataset, group),
            )
    if _compared(record):
        figures["Base vs fine-tuned"] = ("base-vs-tuned.png", _comparison_figure(record))
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for title, (file_name, figure) in figures.items():
        figure.savefig(folder / file_name, dpi=110)
        written[title] = folder / file_name
    return written


def _file_safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)


def _new_figure(width: float = 8.0, height: float = 4.5) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _style(axes: Axes, title: str, xlabel: str, ylabel: str) -> None:
    axes.set_title(title, fontsize=12, fontweight="bold")
    axes.set_xlabel(xlabel)
    axes.set_ylabel(ylabel)
    axes.grid(alpha=0.3)
    if xlabel == STEP_LABEL:
        from matplotlib.ticker import MaxNLocator

        axes.xaxis.set_major_locator(MaxNLocator(integer=True))


def _loss_figure(record: RunRecord) -> Figure:
    figure = _new_figure()
    axes = figure.subplots()
    steps, values = zip(*sorted(record.losses.items()), strict=True)
    if len(values) < _SMOOTH_FROM:
        axes.plot(steps, values, color=_TUNED_COLOUR, marker=".", label="training loss")
    else:
        window = len(values) // 15
        averages = [
            sum(values[max(0, i - window + 1) : i + 1]) / min(i + 1, window) for i in range(len(values))
        ]
        axes.plot(steps, values, color=_TUNED_COLOUR, alpha=0.3, label="training loss")
        axes.plot(steps, averages, color=_TUNED_COLOUR, label=f"moving average of {window} logs")
    dev_losses = by_dataset(
        [k for e in record.evaluations for k in e if k == "loss" or k.endswith("_loss")], record.dataset_names
    )
    for colour, (dataset, keys) in enumerate(dev_losses.items(), start=1):  # C0 is the training loss
        points = [(e["step"], e[keys[0]]) for e in record.evaluations if keys[0] in e]
        axes.plot(
            *zip(*points, strict=True),
            color=f"C{colour}",
            marker="o",
            linestyle="--",
            label=f"dev loss ({dataset})" if dataset else "dev loss",
        )
    _style(axes, f"Training loss ({record.name})", STEP_LABEL, "loss (lower is better)")
    axes.legend()
    return figure


def _metrics_figure(record: RunRecord, dataset: str, keys: list[str]) -> Figure:
    figure = _new_figure()
    axes = figure.subplots()
    for key in keys:
        points = [(e["step"], e[key]) for e in record.evaluations if key in e]
        label = split_metric(key, record.dataset_names)[1]
        (line,) = axes.plot(*zip(*points, strict=True), marker="o", label=label)
        if key in record.baseline_dev:
            axes.axhline(record.baseline_dev[key], color=line.get_color(), linestyle="--", alpha=0.7)
    if any(key in record.baseline_dev for key in keys):
        axes.plot([], [], color="grey", linestyle="--", label="base model (dashed)")
    title = f"Dev metrics: {dataset}" if dataset else "Dev metrics"
    _style(axes, title, STEP_LABEL, "score (higher is better)")
    axes.legend(fontsize=8)
    return figure


def _compared(record: RunRecord) -> dict[str, list[str]]:
    """Per split, the quality metrics that both the base and the tuned model have."""
    compared = {
        split: quality_metrics(k for k in tuned if k in base)
        for split, (base, tuned, _) in record.comparisons.items()
    }
    return {split: keys for split, keys in compared.items() if keys}


def _comparison_figure(record: RunRecord) -> Figure:
    compared = _compared(record)
    rows = max(len(keys) for keys in compared.values())
    figure = _new_figure(width=5.0 * len(compared) + 1, height=1.5 + 0.55 * rows)
    axes_list = figure.subplots(1, len(compared), squeeze=False)[0]
    sources = record.comparisons
    for axes, (split, keys) in zip(axes_list, compared.items(), strict=True):
        base, tuned, tuned_label = sources[split]
        positions = range(len(keys))
        height = 0.38
        for offset, values, label, colour in (
            (-height / 2, base, "base", _BASE_COLOUR),
            (height / 2, tuned, tuned_label, _TUNED_COLOUR),
        ):
            bars = axes.barh(
                [p + offset for p in positions], [values[k] for k in keys], height, label=label, color=colour
            )
            axes.bar_label(bars, fmt="%.3f", fontsize=8, padding=2)
        axes.set_yticks(list(positions), [k.replace("_", " ") for k in keys], fontsize=8)
        axes.invert_yaxis()
        axes.margins(x=0.18)
        _style(axes, f"{split}: base vs fine-tuned", "score (higher is better)", "")
    figure.legend(*axes_list[0].get_legend_handles_labels(), loc="outside lower center", ncol=2)
    return figure
