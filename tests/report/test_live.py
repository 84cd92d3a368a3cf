"""The live training output: a progress bar on a terminal, plain lines elsewhere, nothing with -q."""

from __future__ import annotations

import io
import json
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from sbft.report import MetricsCallback

BASELINE = {"sts_spearman_cosine": 0.5, "sts_pearson_cosine": 0.4}


def simulate(callback: MetricsCallback, steps: int = 6, eval_every: int = 3) -> None:
    """Drive the callback as the trainer does: begin, log every 2 steps, evaluate, end."""
    args = SimpleNamespace(
        train_batch_size=8, gradient_accumulation_steps=1, world_size=1, num_train_epochs=2
    )
    state = SimpleNamespace(global_step=0, max_steps=steps, epoch=0.0, is_world_process_zero=True)
    control = SimpleNamespace()
    callback.on_train_begin(args, state, control)
    for step in range(1, steps + 1):
        state.global_step, state.epoch = step, step / eval_every
        if step % 2 == 0:
            callback.on_log(
                args, state, control, logs={"loss": 1.0 / step, "learning_rate": 2e-5, "grad_norm": 3}
            )
        if step % eval_every == 0:  # one entry per dev set, as the trainer logs them
            callback.on_log(args, state, control, logs={"eval_sts_spearman_cosine": 0.5 + step / 100})
            callback.on_log(args, state, control, logs={"eval_sts_loss": 2.0, "eval_sts_runtime": 0.1})
        callback.on_step_end(args, state, control)
    callback.on_log(
        args, state, control, logs={"train_runtime": 1.5, "train_samples_per_second": 32.0, "train_loss": 0.4}
    )
    callback.on_train_end(args, state, control)


def output_of(tmp_path: Path, *, terminal: bool, **options) -> tuple[str, MetricsCallback]:
    stream = io.StringIO()
    console = Console(file=stream, force_terminal=terminal, width=120)
    callback = MetricsCallback(tmp_path / "metrics.jsonl", console, **options)
    simulate(callback)
    return stream.getvalue(), callback


def test_plain_lines_when_not_a_terminal(tmp_path):
    text, callback = output_of(tmp_path, terminal=False, baseline_dev=BASELINE)
    assert "\x1b" not in text and "\r" not in text  # no control codes in logs and pipes
    lines = text.splitlines()
    progress = [line for line in lines if line.startswith("step ")]
    assert len(progress) == 3
    assert "step 4/6" in progress[1] and "learning rate 2.00e-05" in progress[1]
    assert "samples/s" in progress[1] and "left" in progress[1]
    assert sum("evaluation at step" in line for line in lines) == 2
    assert "sts_spearman_cosine" in text and "+0.0300" in text  # change against the base model
    assert "sts_runtime" not in text
    assert "trained 6 steps in 1.5 s" in text
    assert [e["step"] for e in callback.evaluations] == [3, 6]
    assert callback.evaluations[0]["sts_loss"] == 2.0  # the per-set entries are merged


def test_live_bar_on_a_terminal(tmp_path):
    text, callback = output_of(tmp_path, terminal=True)
    assert "step 6/6" in text and "samples/s" in text and "left" in text and "lr 2.00e-05" in text
    assert "evaluation at step 3" in text and "evaluation at step 6" in text
    assert "grad norm" not in text  # loss and lr live in the bar, not one line per log
    assert callback._progress is None  # stopped at the end of training: the cursor is back
    assert "\x1b[?25h" in text  # cursor shown again


def test_quiet_prints_nothing_but_logs_everything(tmp_path):
    text, callback = output_of(tmp_path, terminal=True, quiet=True, baseline_dev=BASELINE)
    assert text == ""
    assert len(callback.evaluations) == 2
    log = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert log[0] == {"step": 0, "max_steps": 6, "epochs": 2}  # the plan: reports of cut-short runs use it
    assert sum("loss" in entry for entry in log) == 3
    assert log[-1]["train_runtime"] == 1.5


def test_close_stops_a_bar_left_running(tmp_path):
    """A run that fails mid-training never reaches on_train_end: close() must still stop the bar."""
    console = Console(file=io.StringIO(), force_terminal=True)
    args = SimpleNamespace(
        train_batch_size=8, gradient_accumulation_steps=1, world_size=1, num_train_epochs=1
    )
    state = SimpleNamespace(global_step=0, max_steps=10, epoch=0.0, is_world_process_zero=True)
    with MetricsCallback(tmp_path / "metrics.jsonl", console) as callback:  # positional API unchanged
        callback.on_train_begin(args, state, SimpleNamespace())
        assert callback._progress is not None
    assert callback._progress is None
