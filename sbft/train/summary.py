"""The closing lines of `sbft train`: base vs fine-tuned per metric, which model was shipped, where."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console

from sbft import run_folder
from sbft.evaluation.merge_base import BASE, TUNED
from sbft.training_args import DEV_SCORE
from sbft.wording import noun


def metric_key(deciding: str | None) -> str:
    """The deciding metric as the evaluators name it (the trainer prefixes it with eval_)."""
    return (deciding or DEV_SCORE).removeprefix("eval_")


def print_summary(
    console: Console, metrics: dict[str, Any], run_dir: Path, kept: bool, deciding: str | None
) -> None:
    """The closing tables: each metric, base vs fine-tuned, and the difference; where it all is."""
    from sbft.report import comparison_table

    tuned_dev = metrics.get("fine_tuned_dev", metrics["final_dev"])
    tuned_test = metrics.get("fine_tuned_test", metrics["test"])
    for split, base, tuned in (
        ("dev", metrics["baseline_dev"], tuned_dev),
        ("test", metrics["baseline_test"], tuned_test),
    ):
        if tuned:
            console.print(comparison_table(f"{split}: base vs fine-tuned", base, tuned))
    if metrics.get("unchanged"):
        console.print(
            f"[bold yellow]warning: selected: base (training changed nothing)[/]: after "
            f"{metrics['training']['steps']} {noun(metrics['training']['steps'], 'step')} every weight "
            "equals the base model's. The learning "
            f"rate may never have left 0 (warm-up over every step), or there were too few steps: see "
            f"the plan's warnings.",
            highlight=False,
            soft_wrap=True,
        )
    elif metrics["selected"] == "base":
        key = metric_key(deciding)
        console.print(
            f"[bold red]warning: fine-tuning lowered the dev score {key} "
            f"({metrics['baseline_dev'][key]:.4f} -> {tuned_dev.get(key, float('nan')):.4f}); "
            f"the BASE model was saved, not the fine-tuned one.[/] Try a lower learning rate, "
            f"another loss or more data; set 'evaluation.keep: last' to keep the fine-tuned model anyway.",
            highlight=False,
            soft_wrap=True,
        )
    if metrics.get("merge_base"):
        console.print(merge_line(metrics["merge_base"]), highlight=False, soft_wrap=True)
    console.print(
        f"[bold green]saved[/] {run_dir / run_folder.MODEL} ({metrics['selected']} model); "
        f"report {run_dir / run_folder.REPORT}; run folder {megabytes(run_folder.folder_size(run_dir))}"
        + (" with its checkpoints" if kept else " (checkpoints removed)"),
        highlight=False,
        soft_wrap=True,
    )


def merge_line(record: dict[str, Any]) -> str:
    """Which mix of base and fine-tuned weights was shipped, and each candidate's deciding dev score."""
    key, chosen = record["metric"], record["chosen"]
    scores = ", ".join(
        f"{float(ratio):g}: " + ("n/a" if dev.get(key) is None else f"{dev[key]:.4f}")
        for ratio, dev in record["ratios"].items()
    )
    shipped = {BASE: "the base model", TUNED: "the fine-tuned model"}.get(chosen, f"the mix {chosen:g}")
    return (
        f"[bold]merge_base[/] shipped ratio {chosen:g} ({shipped}); dev {key} by ratio of the "
        f"fine-tuned model: {scores}"
    )


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"
