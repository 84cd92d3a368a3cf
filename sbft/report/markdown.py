"""`report.md` for a run folder, from what the run wrote there and nothing else: warnings,
an overview, the base-vs-tuned tables and links to the plots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sbft import run_folder
from sbft.files import atomic_write_text, check_writable
from sbft.recipe import DOCUMENT, QUERY
from sbft.report.plots import PLOTS, write_plots
from sbft.report.record import RunRecord, by_dataset, main_metric, quality_metrics, read_run
from sbft.report.tables import comparison_markdown, format_change, format_number
from sbft.wording import noun

REPORT = "report.md"
_KEY_SETTINGS = (
    "num_train_epochs",
    "max_steps",
    "per_device_train_batch_size",
    "learning_rate",
    "warmup_steps",
)


def write_report(run_dir: Path | str) -> Path:
    """Write RUN_DIR/report.md and RUN_DIR/plots/*.png; returns the report's path."""
    run_dir = Path(run_dir)
    record = read_run(run_dir)
    check_writable(run_dir, where="run_dir")  # a read-only or full disk: said before the plots
    plots = write_plots(record, run_dir / PLOTS)
    path = run_dir / REPORT
    atomic_write_text(path, _markdown(record, plots))  # a full disk leaves the last report whole
    return path


def regressions(record: RunRecord) -> list[str]:
    """One sentence per dataset whose main dev metric ended below the base model's."""
    base, tuned = record.baseline_dev, record.tuned_dev
    found = []
    for keys in by_dataset(quality_metrics(k for k in tuned if k in base), record.dataset_names).values():
        key = main_metric(keys)
        if key is not None and tuned[key] < base[key]:
            found.append(
                f"{key} on dev got worse than the base model: {format_number(base[key])} -> "
                f"{format_number(tuned[key])} ({format_change(base[key], tuned[key])})"
                + ("" if record.final_dev else f" at {record.tuned_label}")
            )
    return found


def _markdown(record: RunRecord, plots: dict[str, Path]) -> str:
    lines = [f"# Run report: {record.name}", ""]
    lines += [f"> **WARNING: {text}.**" for text in regressions(record)]
    lines += [""] if lines[-1] else []
    lines += _overview(record)
    for split, (base, tuned, label) in record.comparisons.items():
        if tuned:
            lines += ["", f"## {split.capitalize()}: base vs {label}", ""]
            lines += comparison_markdown(base, tuned, label)
    lines += _merge_section(record)
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
        epochs = training.get("epoch", 0)
        status = f"finished: {steps} {noun(steps, 'step')}, {epochs:g} {noun(epochs, 'epoch')}"
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
            "**the base model**: training changed nothing"
            if record.unchanged
            else "**the base model**, as fine-tuning lowered the dev score"
            if record.selected == "base"
            else f"**a mix of the base and fine-tuned weights** ({_merged_share(record)})"
            if record.selected and record.selected.startswith("merged")
            else ""
        )
        lines.append(f"- **Saved model:** `{saved}`" + (f": {which}" if which else ""))
        kept = _kept(record)
        if kept:
            lines.append(f"- **Kept:** {kept}")
    if "train_runtime" in training:
        lines.append(
            f"- **Training:** {training['train_runtime']:.1f} s, "
            f"{training.get('train_samples_per_second', 0):.1f} samples/s, "
            f"mean loss {format_number(training.get('train_loss'))}"
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


def _merged_share(record: RunRecord) -> str:
    chosen = record.merge_base.get("chosen")
    return "see below" if chosen is None else f"{chosen:g} fine-tuned, {1 - chosen:g} base; see below"


def _merge_section(record: RunRecord) -> list[str]:
    """evaluation.merge_base: each ratio's deciding dev metric and the guard datasets' main metric."""
    merged = record.merge_base
    if not merged.get("ratios"):
        return []
    key, chosen = merged.get("metric"), merged.get("chosen")
    datasets = record.recipe.get("datasets") or {}
    guards = [name for name, spec in datasets.items() if isinstance(spec, dict) and not spec.get("loss")]
    keys = quality_metrics(dict.fromkeys(k for dev in merged["ratios"].values() for k in dev))
    groups = by_dataset(keys, record.dataset_names)
    guard_keys = [k for k in (main_metric(groups.get(name, [])) for name in guards) if k and k != key]
    names = {0.0: "base", 1.0: "fine-tuned"}
    lines = [
        "",
        "## Merged with the base model (evaluation.merge_base)",
        "",
        "Mixes of the base and fine-tuned weights (ratio: the fine-tuned model's share), scored on dev; "
        f"the best by `{key}` was saved"
        + ("" if merged.get("greater_is_better", True) else " (lower is better)")
        + (": **ratio " + f"{chosen:g}" + "**." if chosen is not None else "."),
        "",
        "| ratio | " + " | ".join([f"{key} (deciding)", *(f"{k} (guard)" for k in guard_keys)]) + " |",
        "|---|" + "---:|" * (1 + len(guard_keys)),
    ]
    for ratio, dev in merged["ratios"].items():
        value = float(ratio)
        label = f"{value:g}" + (f" ({names[value]})" if value in names else "")
        label = f"**{label}, saved**" if value == chosen else label
        cells = [format_number(dev.get(k)) for k in (key, *guard_keys)]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _kept(record: RunRecord) -> str | None:
    """Which weights the saved model has: the base model's, or those of which step and epoch, and why."""
    if not record.finished:
        return None
    if record.selected == "base":
        return "the base model (step 0)"
    if record.selected and record.selected.startswith("merged"):
        return f"{_fine_tuned_kept(record)}, mixed with the base model (see below)"
    return _fine_tuned_kept(record)


def _fine_tuned_kept(record: RunRecord) -> str | None:
    """The step and epoch whose weights the fine-tuned model has, and why."""
    if record.kept_step is None:  # a run from before metrics.json said
        return None
    training = record.recipe.get("training") or {}
    epoch = record.kept_epoch
    where = f"step {record.kept_step}" + (f" (epoch {epoch:g})" if epoch is not None else "")
    steps = record.training.get("steps")
    if training.get("load_best_model_at_end"):
        metric = training.get("metric_for_best_model") or "loss"
        last = ", also the last step" if record.kept_step == steps else ""
        return f"{where}: the checkpoint with the best dev {metric}{last}"
    return f"{where}: the last step"


def _describe_dataset(spec: dict[str, Any]) -> str:
    columns = ", ".join(spec.get("columns") or ([QUERY, DOCUMENT] if spec.get("beir") else []))
    label = f" + label `{spec['label']}`" if spec.get("label") else ""
    loss = spec.get("loss") or {}
    loss_name = loss.get("name", "none (evaluated only)") + (
        f" around {loss['inner']['name']}" if loss.get("inner") else ""
    )
    if spec.get("beir"):
        source = f"BEIR folder `{spec['beir']}` (dev/test searched over its whole corpus)"
    else:
        source = spec.get("hub") or ", ".join(
            f"{split} `{Path(path).name}`" for split, path in (spec.get("files") or {}).items()
        )
    return f"columns ({columns}){label}; loss {loss_name}; data {source}"
