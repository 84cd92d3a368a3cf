"""`report.md` and plots for a run folder, from what the run wrote there and nothing else.

metrics.json holds the baselines from the start, and the final and test metrics and the merged
evaluations once the run ends; metrics.jsonl has each log entry as it arrived, and is the only
record of the training-loss curve. So the report reads both, and works from the log alone.
matplotlib is imported lazily and used through `Figure` objects, never pyplot: no display, no
global backend switch in the caller's process.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sbft import run_folder
from sbft.errors import SbftError

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Kept in metrics.json, left out of tables and plots to keep them readable.
_DETAIL = re.compile(
    r"(runtime|per_second|threshold|precision@\d+|recall@\d+|accuracy@(3|5|10)|^sequential_score|^step|^epoch)$"
)
REPORT = "report.md"
PLOTS = "plots"
# The metric that decides "better or worse" for a dataset, by evaluator (first match wins):
# similarity -> Spearman, retrieval/reranking -> nDCG, binary classification -> average precision.
_MAIN_METRICS = (r"spearman", r"ndcg@\d+$", r"(^|_)(ap|average_precision)$", r"f1_macro$", r"accuracy$")
_BASE_COLOUR, _TUNED_COLOUR = "#9e9e9e", "#1f77b4"
STEP_LABEL = "training step"
_SMOOTH_FROM = 30
"""Loss curves with this many points get a moving average drawn over the raw values."""


@dataclass
class RunRecord:
    """Everything a report shows, read back from a run folder."""

    run_dir: Path
    status: str
    """finished, interrupted (stopped with a checkpoint), training (still running, or killed)."""
    recipe: dict[str, Any] = field(default_factory=dict)
    run_info: dict[str, Any] = field(default_factory=dict)
    baseline_dev: dict[str, float] = field(default_factory=dict)
    baseline_test: dict[str, float] = field(default_factory=dict)
    final_dev: dict[str, float] = field(default_factory=dict)
    """The fine-tuned model's dev metrics (also when the base model was the one saved)."""
    final_test: dict[str, float] = field(default_factory=dict)
    selected: str | None = None
    """Which model the run saved: 'fine-tuned', or 'base' when fine-tuning made dev worse."""
    evaluations: list[dict[str, Any]] = field(default_factory=list)
    training: dict[str, Any] = field(default_factory=dict)
    losses: dict[int, float] = field(default_factory=dict)
    """Training loss by step (a resumed run logs some steps twice: the last one counts)."""
    max_steps: int | None = None

    @property
    def finished(self) -> bool:
        return self.status == "finished"

    @property
    def name(self) -> str:
        return self.recipe.get("name") or self.run_dir.resolve().name

    @property
    def tuned_dev(self) -> dict[str, float]:
        """The final dev metrics, or for an unfinished run those of its last evaluation."""
        if self.final_dev or not self.evaluations:
            return self.final_dev
        return {k: v for k, v in self.evaluations[-1].items() if k not in ("step", "epoch")}

    @property
    def tuned_label(self) -> str:
        if self.final_dev or not self.evaluations:
            return "fine-tuned"
        return f"step {self.evaluations[-1]['step']}"

    @property
    def dataset_names(self) -> list[str]:
        """From the recipe; else from per-dataset dev losses (`<name>_loss`) of multi-dataset runs."""
        if self.recipe.get("datasets"):
            return list(self.recipe["datasets"])
        return list(
            dict.fromkeys(k[: -len("_loss")] for e in self.evaluations for k in e if k.endswith("_loss"))
        )


def read_run(run_dir: Path) -> RunRecord:
    """Read a run folder: metrics.json as far as the run got, and metrics.jsonl for the rest."""
    if not run_dir.is_dir():
        raise SbftError(
            f"the run folder '{run_dir}' does not exist", fix="Give the folder `sbft train` wrote."
        )
    summary_path, log_path = run_dir / run_folder.METRICS, run_dir / run_folder.METRICS_LOG
    if not summary_path.is_file() and not log_path.is_file():
        raise SbftError(
            f"'{run_dir}' holds neither {run_folder.METRICS} nor {run_folder.METRICS_LOG}",
            fix="Give a run folder written by `sbft train` (it logs from the first training step).",
        )
    summary = _read_json(summary_path) if summary_path.is_file() else {}
    log = _read_log(log_path) if log_path.is_file() else []
    info_path = run_dir / run_folder.RUN_INFO
    record = RunRecord(
        run_dir=run_dir,
        # Runs from before the status field wrote metrics.json only once finished.
        status=summary.get("status", "finished") if summary else "training",
        recipe=_read_yaml(run_dir / run_folder.RECIPE),
        run_info=_read_json(info_path) if info_path.is_file() else {},
        baseline_dev=summary.get("baseline_dev") or {},
        baseline_test=summary.get("baseline_test") or {},
        final_dev=summary.get("fine_tuned_dev") or summary.get("final_dev") or {},
        final_test=summary.get("fine_tuned_test") or summary.get("test") or {},
        selected=summary.get("selected"),
        evaluations=summary.get("evaluations") or (run_folder.read_evaluations(run_dir) if log else []),
        training=summary.get("training") or {},
    )
    for entry in log:
        if "loss" in entry:
            record.losses[entry["step"]] = entry["loss"]
        elif "max_steps" in entry:
            record.max_steps = entry["max_steps"]
        elif "train_runtime" in entry and not record.training:
            record.training = {"steps": entry["step"], **entry}
    if not record.training and log:
        record.training = {"steps": log[-1]["step"], "epoch": log[-1].get("epoch")}
    return record


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SbftError(f"'{path}' is not valid JSON ({exc})", fix="Was it edited by hand?") from None


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _read_log(path: Path) -> list[dict[str, Any]]:
    entries = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            raise SbftError(
                f"line {number} of '{path}' is not valid JSON (was the run killed while writing it?)",
                fix="Delete that line and run `sbft report` again.",
            ) from None
    return entries


# --- what the numbers say -------------------------------------------------------------------


def split_metric(key: str, dataset_names: list[str]) -> tuple[str, str]:
    """'sts_spearman_cosine' -> ('sts', 'spearman_cosine'); ('', key) when no dataset prefixes it."""
    for name in sorted(dataset_names, key=len, reverse=True):
        if key.startswith(f"{name}_"):
            return name, key[len(name) + 1 :]
    return "", key


def headline_metrics(keys: Any) -> list[str]:
    """The metrics worth a table row or a plot line: no timings, thresholds or @k detail."""
    return [k for k in keys if not _DETAIL.search(k)]


def quality_metrics(keys: Any) -> list[str]:
    """Headline metrics that measure quality (higher is better): no losses, timings or @k detail."""
    return [k for k in headline_metrics(list(keys)) if k != "loss" and not k.endswith("_loss")]


def by_dataset(keys: list[str], dataset_names: list[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for key in keys:
        groups.setdefault(split_metric(key, dataset_names)[0], []).append(key)
    return groups


def main_metric(keys: list[str]) -> str | None:
    """The metric the dataset's evaluator ranks models by (its primary metric), if recognised."""
    for pattern in _MAIN_METRICS:
        for key in keys:
            if re.search(pattern, key):
                return key
    return None


def regressions(record: RunRecord) -> list[str]:
    """One sentence per dataset whose main dev metric ended below the base model's."""
    base, tuned = record.baseline_dev, record.tuned_dev
    found = []
    for keys in by_dataset(quality_metrics(k for k in tuned if k in base), record.dataset_names).values():
        key = main_metric(keys)
        if key is not None and tuned[key] < base[key]:
            found.append(
                f"{key} on dev got worse than the base model: {base[key]:.4f} -> {tuned[key]:.4f} "
                f"({tuned[key] - base[key]:+.4f})" + ("" if record.final_dev else f" at {record.tuned_label}")
            )
    return found


# --- writing --------------------------------------------------------------------------------


def write_report(run_dir: Path | str) -> Path:
    """Write RUN_DIR/report.md and RUN_DIR/plots/*.png; returns the report's path."""
    run_dir = Path(run_dir)
    record = read_run(run_dir)
    plots = write_plots(record, run_dir / PLOTS)
    path = run_dir / REPORT
    path.write_text(_markdown(record, plots), encoding="utf-8")
    return path


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
    pairs = {
        "dev": (record.baseline_dev, record.tuned_dev),
        "test": (record.baseline_test, record.final_test),
    }
    compared = {
        split: quality_metrics(k for k in tuned if k in base) for split, (base, tuned) in pairs.items()
    }
    return {split: keys for split, keys in compared.items() if keys}


def _comparison_figure(record: RunRecord) -> Figure:
    compared = _compared(record)
    rows = max(len(keys) for keys in compared.values())
    figure = _new_figure(width=5.0 * len(compared) + 1, height=1.5 + 0.55 * rows)
    axes_list = figure.subplots(1, len(compared), squeeze=False)[0]
    sources = {
        "dev": (record.baseline_dev, record.tuned_dev),
        "test": (record.baseline_test, record.final_test),
    }
    for axes, (split, keys) in zip(axes_list, compared.items(), strict=True):
        base, tuned = sources[split]
        positions = range(len(keys))
        height = 0.38
        for offset, values, label, colour in (
            (-height / 2, base, "base", _BASE_COLOUR),
            (height / 2, tuned, record.tuned_label if split == "dev" else "fine-tuned", _TUNED_COLOUR),
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


def _markdown(record: RunRecord, plots: dict[str, Path]) -> str:
    lines = [f"# Run report: {record.name}", ""]
    lines += [f"> **WARNING: {text}.**" for text in regressions(record)]
    lines += [""] if lines[-1] else []
    lines += _overview(record)
    for split, base, tuned, label in (
        ("dev", record.baseline_dev, record.tuned_dev, record.tuned_label),
        ("test", record.baseline_test, record.final_test, "fine-tuned"),
    ):
        if tuned:
            lines += ["", f"## {split.capitalize()}: base vs {label}", "", *_table(base, tuned, label)]
    if plots:
        lines += ["", "## Plots", ""]
        for title, path in plots.items():
            lines += [f"![{title}]({PLOTS}/{path.name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def _overview(record: RunRecord) -> list[str]:
    training, settings = record.training, record.recipe.get("training") or {}
    steps = training.get("steps")
    planned = f" of {record.max_steps}" if record.max_steps else ""
    if record.finished:
        status = f"finished: {steps} steps, {training.get('epoch', 0):g} epoch(s)"
    elif record.status == "interrupted":
        status = (
            f"**interrupted** at step {steps}{planned}; resume with `sbft train --resume {record.run_dir}`"
        )
    else:
        status = f"**not finished** (still running, or killed): step {steps}{planned} so far"
    lines = [f"- **Status:** {status}"]
    model = (record.recipe.get("model") or {}).get("name")
    if model:
        lines.append(f"- **Base model:** `{model}`")
    saved = record.run_dir / run_folder.MODEL
    if saved.is_dir():
        which = (
            "**the base model**, as fine-tuning lowered the dev score" if record.selected == "base" else ""
        )
        lines.append(f"- **Saved model:** `{saved}`" + (f": {which}" if which else ""))
    if "train_runtime" in training:
        lines.append(
            f"- **Training:** {training['train_runtime']:.1f} s, "
            f"{training.get('train_samples_per_second', 0):.1f} samples/s, "
            f"mean loss {_number(training.get('train_loss'))}"
            + (
                f"; wall time {record.run_info['wall_time_s']:.0f} s"
                if "wall_time_s" in record.run_info
                else ""
            )
        )
    chosen = [f"{key} {settings[key]}" for key in _KEY_SETTINGS if key in settings]
    if chosen:
        lines.append(f"- **Settings:** {', '.join(chosen)}")
    datasets = record.recipe.get("datasets") or {}
    if datasets:
        lines.append("- **Datasets:**")
        lines += [f"  - `{name}`: {_describe_dataset(spec)}" for name, spec in datasets.items()]
    return lines


_KEY_SETTINGS = (
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "learning_rate",
    "warmup_steps",
)


def _describe_dataset(spec: dict[str, Any]) -> str:
    columns = ", ".join(spec.get("columns") or [])
    label = f" + label `{spec['label']}`" if spec.get("label") else ""
    loss = spec.get("loss") or {}
    loss_name = loss.get("name", "none") + (f" around {loss['inner']['name']}" if loss.get("inner") else "")
    source = spec.get("hub") or ", ".join(
        f"{split} `{Path(path).name}`" for split, path in (spec.get("files") or {}).items()
    )
    return f"columns ({columns}){label}; loss {loss_name}; data {source}"


def _table(base: dict[str, float], tuned: dict[str, float], tuned_label: str) -> list[str]:
    lines = [f"| metric | base | {tuned_label} | change |", "|---|---:|---:|---:|"]
    for key in quality_metrics(dict.fromkeys([*base, *tuned])):
        before, after = base.get(key), tuned.get(key)
        change = f"{after - before:+.4f}" if before is not None and after is not None else ""
        lines.append(f"| {key} | {_number(before)} | {_number(after)} | {change} |")
    return lines


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"
