"""The PNG plots of a run report: training loss, dev metrics per dataset, base vs fine-tuned, and
the main metric by embedding size for Matryoshka evaluations.

matplotlib is imported lazily and used through `Figure` objects, never pyplot: no display, no
global backend switch in the caller's process.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from sbft.files import atomic_path
from sbft.report.record import (
    RunRecord,
    by_dataset,
    full_size,
    main_metric,
    quality_metrics,
    split_metric,
    truncated_size,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PLOTS = "plots"
"""The plots' folder in a run folder."""
STEP_LABEL = "training step"
_BASE_COLOUR, _TUNED_COLOUR = "#9e9e9e", "#1f77b4"
_BETTER_COLOUR, _WORSE_COLOUR = "#2e7d32", "#c62828"
_SMOOTH_FROM = 30
"""Loss curves with this many points get a moving average drawn over the raw values."""


def write_plots(record: RunRecord, folder: Path) -> dict[str, Path]:
    """The plots there is data for, by title: loss curve, dev metrics per dataset, base vs tuned."""
    figures: dict[str, tuple[str, Figure]] = {}
    if record.losses:
        figures["Training loss"] = ("loss.png", _loss_figure(record))
    if record.evaluations:
        keys = full_size(quality_metrics(dict.fromkeys(k for e in record.evaluations for k in e)))
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
    if _by_size(record):
        figures["Main metric by embedding size"] = ("dimensions.png", _dimensions_figure(record))
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for title, (file_name, figure) in figures.items():
        with atomic_path(folder / file_name) as partial:  # a full disk leaves no half-written PNG
            figure.savefig(partial, dpi=110, format="png")
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
    """Training loss above, dev loss below on its own axis: they are measured on different
    batches (and a loss with in-batch negatives depends on the batch), so one scale would mislead."""
    dev_losses = by_dataset(
        [k for e in record.evaluations for k in e if k == "loss" or k.endswith("_loss")], record.dataset_names
    )
    figure = _new_figure(height=6.5 if dev_losses else 4.5)
    axes_list = figure.subplots(2 if dev_losses else 1, 1, sharex=True, squeeze=False)[:, 0]
    training = record.recipe.get("training") or {}
    train_batch, eval_batch = (training.get(f"per_device_{s}_batch_size") for s in ("train", "eval"))
    axes = axes_list[0]
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
    batches = f", batches of {train_batch}" if train_batch else ""
    _style(axes, f"Training loss ({record.name}{batches})", "", "training loss")
    axes.legend(fontsize=8)
    if dev_losses:
        axes = axes_list[1]
        for colour, (dataset, keys) in enumerate(dev_losses.items(), start=1):  # C0: the training loss
            points = [(e["step"], e[keys[0]]) for e in record.evaluations if keys[0] in e]
            axes.plot(
                *zip(*points, strict=True),
                color=f"C{colour}",
                marker="o",
                linestyle="--",
                label=f"dev loss ({dataset})" if dataset else "dev loss",
            )
        batches = f", batches of {eval_batch}" if eval_batch else ""
        _style(axes, f"Dev loss (the whole dev set{batches})", STEP_LABEL, "dev loss")
        axes.legend(fontsize=8)
    else:
        axes.set_xlabel(STEP_LABEL)
    axes_list[0].xaxis.set_tick_params(labelbottom=True)
    return figure


def _metrics_figure(record: RunRecord, dataset: str, keys: list[str]) -> Figure:
    """Each metric from the base model (step 0) on; the kept model's step marked."""
    figure = _new_figure()
    axes = figure.subplots()
    for key in keys:
        points = [(e["step"], e[key]) for e in record.evaluations if key in e]
        if key in record.baseline_dev:
            points.insert(0, (0, record.baseline_dev[key]))
        label = split_metric(key, record.dataset_names)[1]
        (line,) = axes.plot(*zip(*points, strict=True), marker="o", label=label)
        if key in record.baseline_dev:
            axes.plot(0, record.baseline_dev[key], marker="s", color=line.get_color(), markersize=8)
    if any(key in record.baseline_dev for key in keys):
        axes.plot([], [], color="grey", marker="s", linestyle="none", label="step 0: the base model")
    kept = 0 if record.selected == "base" else record.kept_step
    if kept is not None and record.finished:
        axes.axvline(kept, color="black", linestyle=":", alpha=0.7, label=f"kept: step {kept}")
    title = f"Dev metrics: {dataset}" if dataset else "Dev metrics"
    _style(axes, title, STEP_LABEL, "score (higher is better)")
    axes.legend(fontsize=8)
    return figure


def _compared(record: RunRecord) -> dict[str, list[str]]:
    """Per split, the quality metrics that both the base and the tuned model have."""
    compared = {
        split: full_size(quality_metrics(k for k in tuned if k in base))
        for split, (base, tuned, _) in record.comparisons.items()
    }
    return {split: keys for split, keys in compared.items() if keys}


def _comparison_figure(record: RunRecord) -> Figure:
    """The change of each metric (tuned - base), labelled with both values: a +0.01 change on a
    0..1 axis would be invisible, drawn from zero it is the whole picture."""
    compared = _compared(record)
    rows = max(len(keys) for keys in compared.values())
    figure = _new_figure(width=6.0 * len(compared) + 1, height=1.8 + 0.5 * rows)
    axes_list = figure.subplots(1, len(compared), squeeze=False)[0]
    changes = {
        split: [record.comparisons[split][1][k] - record.comparisons[split][0][k] for k in keys]
        for split, keys in compared.items()
    }
    reach = max(abs(change) for split_changes in changes.values() for change in split_changes) or 0.01
    for axes, (split, keys) in zip(axes_list, compared.items(), strict=True):
        base, tuned, tuned_label = record.comparisons[split]
        colours = [_BETTER_COLOUR if change >= 0 else _WORSE_COLOUR for change in changes[split]]
        bars = axes.barh(range(len(keys)), changes[split], 0.6, color=colours)
        labels = [
            f"{change:+.4f} ({base[k]:.4f} → {tuned[k]:.4f})"
            for change, k in zip(changes[split], keys, strict=True)
        ]
        axes.bar_label(bars, labels, fontsize=8, padding=3)
        axes.axvline(0, color="black", linewidth=0.8)
        axes.set_xlim(-reach * 2.8, reach * 2.8)  # one scale for every split, room for the labels
        axes.set_yticks(range(len(keys)), [k.replace("_", " ") for k in keys], fontsize=8)
        axes.invert_yaxis()
        _style(axes, f"{split}: {tuned_label} - base", "change of the score (right is better)", "")
    return figure


def _by_size(record: RunRecord) -> dict[str, dict[str, list[tuple[int, str]]]]:
    """Per split and dataset: (size, metric key) of the main metric at each truncated size, where
    both the base and the tuned model have it."""
    found: dict[str, dict[str, list[tuple[int, str]]]] = {}
    for split, (base, tuned, _) in record.comparisons.items():
        shared = [k for k in tuned if k in base]
        for dataset, keys in by_dataset(full_size(quality_metrics(shared)), record.dataset_names).items():
            main = main_metric(keys)
            sizes = sorted((truncated_size(k), k) for k in shared if k.startswith(f"{main}_dim"))
            if main is not None and sizes:
                found.setdefault(split, {})[dataset] = sizes
    return found


def _dimensions_figure(record: RunRecord) -> Figure:
    sizes_by_split = _by_size(record)
    figure = _new_figure(width=5.0 * len(sizes_by_split) + 1, height=4.5)
    axes_list = figure.subplots(1, len(sizes_by_split), squeeze=False)[0]
    for axes, (split, datasets) in zip(axes_list, sizes_by_split.items(), strict=True):
        base, tuned, tuned_label = record.comparisons[split]
        for colour, (dataset, sizes) in enumerate(datasets.items()):
            dims = [size for size, _ in sizes]
            name = split_metric(sizes[0][1], record.dataset_names)[1].rsplit("_dim", 1)[0]
            for values, label, style in ((base, "base", "--"), (tuned, tuned_label, "-")):
                axes.plot(
                    dims,
                    [values[key] for _, key in sizes],
                    color=f"C{colour}",
                    linestyle=style,
                    marker="o",
                    label=f"{dataset + ' ' if dataset else ''}{name}, {label}",
                )
        axes.set_xscale("log", base=2)
        axes.set_xticks(sorted({d for sizes in datasets.values() for d, _ in sizes}))
        axes.get_xaxis().set_major_formatter("{x:.0f}")
        _style(axes, f"{split}: main metric by embedding size", "embedding size", "score (higher is better)")
        axes.legend(fontsize=8)
    return figure
