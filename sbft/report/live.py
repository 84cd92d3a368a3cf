"""What the user sees while a run trains: live progress and the evaluation tables.

The TrainerCallback both prints (rich) and appends every log entry to `metrics.jsonl`, so a
run folder always holds the full history, even for a run that was interrupted. On a terminal
the progress is one live bar with tables printed above it; anywhere else (a pipe, a log file,
CI) it is plain lines without control codes, so logs stay greppable.
"""

from __future__ import annotations

import atexit
import json
import time
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn
from transformers import TrainerCallback

from sbft.report.tables import comparison_table, format_number, metrics_table
from sbft.wording import noun

TRAIN_KEYS = ("loss", "learning_rate", "grad_norm")


class MetricsCallback(TrainerCallback):
    """Shows training progress and evaluation metrics as they arrive, and logs every entry.

    `quiet` prints nothing (the log file is still written); `baseline_dev` (the base model's dev
    metrics) adds a change column to the evaluation tables and is logged for `sbft report`.
    Call `close()` (or use the callback as a context manager) when training ends in an error,
    so a live bar never outlives the run.
    """

    def __init__(
        self,
        log_path: Path,
        console: Console,
        *,
        quiet: bool = False,
        baseline_dev: dict[str, float] | None = None,
    ) -> None:
        self.log_path = log_path
        self.console = console
        self.quiet = quiet
        self.baseline_dev = baseline_dev or {}
        self.evaluations: list[dict[str, Any]] = []
        self._pending: dict[str, Any] | None = None
        self._pace: _Pace | None = None
        self._progress: Progress | None = None
        self._task: TaskID | None = None

    def __enter__(self) -> MetricsCallback:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self._log({"step": state.global_step, "max_steps": state.max_steps, "epochs": args.num_train_epochs})
        samples_per_step = args.train_batch_size * args.gradient_accumulation_steps * args.world_size
        self._pace = _Pace(samples_per_step, state.global_step, state.max_steps)
        if self.console.is_terminal and not self.quiet:
            self._start_bar(state)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs or not state.is_world_process_zero:
            return
        entry = {"step": state.global_step, **_numbers(logs), "epoch": _round(state.epoch)}
        self._log(entry)
        metrics = {k.removeprefix("eval_"): v for k, v in entry.items() if k.startswith("eval_")}
        if metrics:
            # Printed once the evaluation is over: with several dev sets, one entry comes per set.
            self._pending = add_evaluation(self.evaluations, state.global_step, entry["epoch"], metrics)
            return
        self._flush()
        if "loss" in entry:
            if self._progress is not None:
                self._progress.update(
                    self._task,
                    loss=format_number(entry["loss"]),
                    lr=format_number(entry.get("learning_rate")),
                )
            else:
                parts = [f"{k.replace('_', ' ')} {format_number(entry[k])}" for k in TRAIN_KEYS if k in entry]
                self._print(f"[dim]{_position(state)}[/]  " + "  ".join(parts) + self._pace_text(state))
        elif "train_runtime" in entry:
            self._print(
                f"[dim]trained {state.global_step} {noun(state.global_step, 'step')} in "
                f"{entry['train_runtime']:.1f} s "
                f"({entry.get('train_samples_per_second', 0):.1f} samples/s, "
                f"mean loss {format_number(entry.get('train_loss'))})[/]"
            )

    def on_step_end(self, args, state, control, **kwargs):
        self._flush()
        if self._progress is not None and self._pace is not None:
            speed, left = self._pace.update(state.global_step)
            self._progress.update(
                self._task,
                completed=state.global_step,
                epoch=f"{state.epoch or 0:.2f}",
                speed=f"{speed:.1f}",
                left=_duration(left),
            )

    def on_train_end(self, args, state, control, **kwargs):
        self._flush()
        self.close()

    def close(self) -> None:
        """Stop the live bar (idempotent): the terminal gets its cursor back."""
        if self._progress is not None:
            self._progress.stop()
            atexit.unregister(self.close)
            self._progress = None

    def _start_bar(self, state) -> None:
        self._progress = Progress(
            TextColumn("step {task.completed}/{task.total}"),
            BarColumn(),
            TextColumn("epoch {task.fields[epoch]}"),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("lr {task.fields[lr]}"),
            TextColumn("{task.fields[speed]} samples/s"),
            TextColumn("{task.fields[left]} left"),
            console=self.console,
        )
        self._task = self._progress.add_task(
            "train",
            total=state.max_steps,
            completed=state.global_step,
            epoch=f"{state.epoch or 0:.2f}",
            loss="n/a",
            lr="n/a",
            speed="n/a",
            left="n/a",
        )
        self._progress.start()
        atexit.register(self.close)  # an interrupted run must not leave the cursor hidden

    def _pace_text(self, state) -> str:
        if self._pace is None:
            return ""
        speed, left = self._pace.update(state.global_step)
        return f"  {speed:.1f} samples/s  {_duration(left)} left"

    def _flush(self) -> None:
        if self._pending is None:
            return
        metrics = {k: v for k, v in self._pending.items() if k not in ("step", "epoch")}
        title = f"evaluation at step {self._pending['step']}, epoch {self._pending['epoch']}"
        self._pending = None
        if self.quiet:
            return
        if self.baseline_dev:
            table = comparison_table("", self.baseline_dev, metrics, tuned_label="now")
        else:
            table = metrics_table("", {"dev": metrics})
        # Compact, and the title on its own line: a table's title wraps at the table's width.
        table.box, table.show_edge, table.title = box.SIMPLE_HEAD, False, None
        self._print(f"[bold]{title}[/]")
        self.console.print(table)

    def _log(self, entry: dict[str, Any]) -> None:
        with self.log_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(entry) + "\n")

    def _print(self, text: str) -> None:
        if not self.quiet:
            self.console.print(text, highlight=False, soft_wrap=True)


def add_evaluation(
    evaluations: list[dict[str, Any]], step: int, epoch: float | None, metrics: dict[str, float]
) -> dict[str, Any]:
    """Record evaluation metrics; the trainer logs one entry per dev set, merged here per step."""
    if not evaluations or evaluations[-1]["step"] != step:
        evaluations.append({"step": step, "epoch": epoch})
    evaluations[-1].update(metrics)
    return evaluations[-1]


class _Pace:
    """Samples per second and time left, averaged over the steps since training began."""

    def __init__(self, samples_per_step: int, first_step: int, total_steps: int) -> None:
        self.samples_per_step = samples_per_step
        self.first_step = first_step
        self.total_steps = total_steps
        self.started = time.monotonic()

    def update(self, step: int) -> tuple[float, float | None]:
        done, elapsed = step - self.first_step, time.monotonic() - self.started
        if done <= 0 or elapsed <= 0:
            return 0.0, None
        steps_per_second = done / elapsed
        return steps_per_second * self.samples_per_step, (self.total_steps - step) / steps_per_second


def _position(state) -> str:
    return f"step {state.global_step}/{state.max_steps}  epoch {_round(state.epoch)}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-:--:--"
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes // 60}:{minutes % 60:02d}:{secs:02d}"


def _numbers(logs: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in logs.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _round(value: float | None) -> float | None:
    """The epoch as logged and shown: three decimals are enough to place a step."""
    return None if value is None else round(value, 3)
