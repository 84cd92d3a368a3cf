"""The dev evaluator of a training run, which keeps what each evaluation during training found.

Imports sentence-transformers at the top: import this module only where an evaluator is built.
"""

from __future__ import annotations

from typing import Any

from sentence_transformers.sentence_transformer.evaluation import SequentialEvaluator

from sbft.evaluation.evaluators import finite, mean


class RecordedEvaluator(SequentialEvaluator):
    """A SequentialEvaluator that keeps the results of each evaluation during training by step
    (`by_step`), as `evaluate` returns them: the kept checkpoint's dev score is read back at the
    end of a run, not computed again."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.by_step: dict[int, dict[str, float]] = {}

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1):
        results = super().__call__(model, output_path, epoch, steps)
        if steps >= 0:
            self.by_step[steps] = finite(results)
        return results


def recorded(evaluator: Any) -> RecordedEvaluator | None:
    """`evaluator` as one RecordedEvaluator: every run's default dev score key (sequential_score) is
    then the same, a single dataset's or the mean of several datasets' main metrics."""
    if evaluator is None:
        return None
    if isinstance(evaluator, SequentialEvaluator):
        return RecordedEvaluator(evaluator.evaluators, main_score_function=evaluator.main_score_function)
    return RecordedEvaluator([evaluator], main_score_function=mean)
