"""The trainer callbacks of `sbft train`: graceful stop on Ctrl-C / SIGTERM, the stage a run is at
(for the message when it stops), and the check that the deciding metric exists."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator
from typing import Any, Protocol

from transformers import TrainerCallback


class HasStage(Protocol):
    stage: str


class MetricNameCheck(TrainerCallback):
    """The deciding metric exists: checked at the first evaluation when no baseline showed the names."""

    def __init__(self, deciding: str | None, own_losses: list[str]) -> None:
        self.deciding, self.own_losses = deciding, own_losses

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        from sbft.evaluation import check_metric_name

        names = [key.removeprefix("eval_") for key in metrics or {}]
        check_metric_name(self.deciding, [*names, *self.own_losses])
        self.deciding = None  # once is enough


class StageTracker(TrainerCallback):
    """Keeps `progress.stage` at the step being trained, for the message when a run stops there."""

    def __init__(self, progress: HasStage) -> None:
        self.progress = progress

    def on_step_begin(self, args, state, control, **kwargs):
        self.progress.stage = f"training step {state.global_step + 1}"

    def on_step_end(self, args, state, control, **kwargs):
        self.progress.stage = f"the evaluation or checkpoint after training step {state.global_step}"


class GracefulStop(TrainerCallback):
    """Ctrl-C / SIGTERM: finish the current step, save a checkpoint, stop; a second one aborts."""

    def __init__(self) -> None:
        self.stopped = False

    def on_step_end(self, args, state, control, **kwargs):
        if self.stopped:
            control.should_save = True
            control.should_training_stop = True
        return control

    @contextlib.contextmanager
    def catching_signals(self) -> Iterator[None]:
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

        def request_stop(signum: int, frame: Any) -> None:
            self.stopped = True
            for sig, handler in previous.items():
                signal.signal(sig, handler)  # a second signal stops at once
            print("\nstopping after this step and saving a checkpoint (Ctrl-C again aborts)", file=sys.stderr)

        for sig in previous:
            signal.signal(sig, request_stop)
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def tensorboard_into(trainer: Any, folder: Any) -> None:
    """TensorBoard logs (training.report_to: tensorboard) into the run folder: transformers would
    write them under checkpoints/, which a finished run removes. $TENSORBOARD_LOGGING_DIR still wins."""
    from transformers.integrations import TensorBoardCallback

    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, TensorBoardCallback) and callback.logging_dir is None:
            callback.logging_dir = str(folder)
