"""What the user sees during and after a run: live metric lines, and the base-vs-tuned table.

The TrainerCallback both prints (rich) and appends every log entry to `metrics.jsonl`, so a
run folder always holds the full history, even for a run that was interrupted.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from transformers import TrainerCallback

TRAIN_KEYS = ("loss", "learning_rate", "grad_norm")
# Kept in metrics.json, left out of terminal tables to keep them readable.
_DETAIL = re.compile(r"(runtime|per_second|precision@\d+|recall@\d+|accuracy@(3|5|10))$")


class MetricsCallback(TrainerCallback):
    """Prints training loss, learning rate and evaluation metrics as they arrive, and logs them."""

    def __init__(self, log_path: Path, console: Console) -> None:
        self.log_path = log_path
        self.console = console
        self.evaluations: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        entry = {"step": state.global_step, **_numbers(logs), "epoch": _round(state.epoch)}
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")
        metrics = {k.removeprefix("eval_"): v for k, v in entry.items() if k.startswith("eval_")}
        if metrics:
            # With several dev sets the trainer logs one entry per set: merge them per step,
            # and print the merged table once the evaluation is over.
            if self._pending is None:
                self._pending = {"step": state.global_step, "epoch": entry["epoch"]}
                self.evaluations.append(self._pending)
            self._pending.update(metrics)
            return
        self._flush(state)
        if "loss" in entry:
            parts = [f"{k.replace('_', ' ')} {_format(entry[k])}" for k in TRAIN_KEYS if k in entry]
            self._print(f"[dim]{_progress(state)}[/]  " + "  ".join(parts))
        elif "train_runtime" in entry:
            self._print(
                f"[dim]trained {state.global_step} steps in {entry['train_runtime']:.1f} s "
                f"({entry.get('train_samples_per_second', 0):.1f} samples/s, "
                f"mean loss {_format(entry.get('train_loss', float('nan')))})[/]"
            )

    def on_step_end(self, args, state, control, **kwargs):
        self._flush(state)

    def on_train_end(self, args, state, control, **kwargs):
        self._flush(state)

    def _flush(self, state) -> None:
        if self._pending is not None and state.is_world_process_zero:
            metrics = {k: v for k, v in self._pending.items() if k not in ("step", "epoch")}
            title = f"evaluation at step {self._pending['step']}, epoch {self._pending['epoch']}"
            self.console.print(metrics_table(title, {"dev": metrics}))
        self._pending = None

    def _print(self, text: str) -> None:
        self.console.print(text, highlight=False, soft_wrap=True)


def _progress(state) -> str:
    return f"step {state.global_step}/{state.max_steps}  epoch {_round(state.epoch)}"


def _shown(keys: dict[str, Any]) -> list[str]:
    return [k for k in keys if not _DETAIL.search(k)]


def _numbers(logs: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def _format(value: float) -> str:
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.2e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"


def metrics_table(title: str, columns: dict[str, dict[str, float]]) -> Table:
    """A metric-per-row table with one column per source (e.g. per split or per model)."""
    table = Table(title=title, title_justify="left")
    table.add_column("metric")
    for name in columns:
        table.add_column(name, justify="right")
    keys = _shown(dict.fromkeys(k for metrics in columns.values() for k in metrics))
    for key in keys:
        table.add_row(key, *(_format(m[key]) if key in m else "" for m in columns.values()))
    return table


def comparison_table(title: str, base: dict[str, float], tuned: dict[str, float]) -> Table:
    """Each metric: base model, fine-tuned model, and the difference."""
    table = Table(title=title, title_justify="left")
    for column in ("metric", "base", "fine-tuned", "change"):
        table.add_column(column, justify="left" if column == "metric" else "right")
    for key in _shown(dict.fromkeys([*base, *tuned])):
        before, after = base.get(key), tuned.get(key)
        change = "" if before is None or after is None else f"{after - before:+.4f}"
        style = (
            "green"
            if change.startswith("+") and change != "+0.0000"
            else "red"
            if change.startswith("-")
            else None
        )
        table.add_row(
            key,
            _format(before) if before is not None else "",
            _format(after) if after is not None else "",
            f"[{style}]{change}[/]" if style else change,
        )
    return table
