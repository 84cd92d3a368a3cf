"""Guard against forgetting by merging (`evaluation.merge_base`): mixes of the base and the
fine-tuned model's weights, scored on dev, the best one shipped.

A fine-tune can lose what the base model knew (an evaluation-only "guard" dataset shows it); a
linear mix of the two models' weights often keeps most of the gain and more of what was known.
Which model ships is one decision over ratios, the fine-tuned model's weight in the mix: 0 is the
base model, 1 the fine-tuned one. Without merge_base the same decision runs over {0, 1} alone:
"fine-tuning made dev worse, ship the base model".
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sbft.errors import SbftError

AUTO_RATIOS = (0.25, 0.5, 0.75)
BASE, TUNED = 0.0, 1.0


def merge_ratios(setting: str | Sequence[float] | None) -> list[float]:
    """The mixes a recipe asks for, in increasing order: none, auto's, or its own list."""
    if setting is None:
        return []
    return list(AUTO_RATIOS) if setting == "auto" else sorted(set(setting))


def ratio_name(ratio: float) -> str:
    """The key of a ratio in metrics.json: '0.25', '1.0'."""
    return str(float(ratio))


def choose_ratio(scores: Mapping[float, float | None], greater_is_better: bool = True) -> float:
    """The ratio with the best dev score; a tie goes to the ratio nearest the fine-tuned model.

    A missing or NaN score (a model whose training diverged) never wins; with no score at all the
    fine-tuned model (1.0) stays. Pure, so the rule is tested on constructed scores.
    """
    best, best_score = TUNED, None
    for ratio in sorted(scores, reverse=True):  # from the fine-tuned model down: a tie keeps the first
        score = scores[ratio]
        if score is None or not math.isfinite(score):
            continue
        if best_score is None or (score > best_score if greater_is_better else score < best_score):
            best, best_score = ratio, score
    return best


def mix(model_class: Any, tuned: Any, base: Any, ratio: float) -> Any:
    """The linear mix `ratio` * tuned + (1 - ratio) * base, a new model on the tuned model's device.

    The tuned model comes first: sentence-transformers' merge takes the configuration, prompts and
    processors of the first model, so the mix is saved like the fine-tuned model would be.
    """
    try:
        return model_class.merge(
            models=[tuned, base],
            method="linear",
            parameters={"weight": [ratio, 1.0 - ratio]},
            device=tuned.device,
        )
    except ImportError as error:  # mergekit went missing after the checks
        raise SbftError(
            f"merging models needs mergekit ({error})",
            where="evaluation.merge_base",
            fix="Install it with sbft's merge extra: pip install 'sbft[merge]'.",
        ) from None
    except ValueError as error:  # sentence-transformers' compatibility checks
        raise SbftError(
            f"the base and the fine-tuned model cannot be merged: {error}",
            where="evaluation.merge_base",
            fix="Remove merge_base for this model.",
        ) from None


@dataclass
class MergeChoice:
    """What the merge step decided: the ratio shipped, each candidate's dev metrics, and the mix."""

    chosen: float
    metric: str
    greater_is_better: bool
    dev: dict[float, dict[str, float]] = field(default_factory=dict)
    """Dev metrics by ratio: the mixes, the fine-tuned model (1.0), the base (0.0) when it competes."""
    model: Any | None = None
    """The chosen mix; None when the base or the fine-tuned model itself was chosen."""

    def record(self) -> dict[str, Any]:
        """For metrics.json: the table by ratio, the ratio shipped and the metric that chose it."""
        return {
            "ratios": {ratio_name(ratio): self.dev[ratio] for ratio in sorted(self.dev)},
            "chosen": self.chosen,
            "metric": self.metric,
            "greater_is_better": self.greater_is_better,
        }


def choose_model(
    candidates: Mapping[float, dict[str, float]],
    metric: str,
    greater_is_better: bool,
    *,
    ratios: Sequence[float] = (),
    build: Callable[[float], Any] | None = None,
    score: Callable[[Any], dict[str, float]] | None = None,
    on_mix: Callable[[float, dict[str, float]], None] | None = None,
) -> MergeChoice:
    """Which model ships: the models already scored (`candidates`: 1.0, and 0.0 when the base
    competes) and a mix `build(ratio)` for each of `ratios`, scored by `score` (the dev evaluator).

    Only the best mix so far stays in memory: a model of a few GB is mixed several times.
    """
    choice = MergeChoice(
        chosen=TUNED, metric=metric, greater_is_better=greater_is_better, dev=dict(candidates)
    )

    def best() -> float:
        return choose_ratio({r: m.get(metric) for r, m in choice.dev.items()}, greater_is_better)

    for ratio in ratios:
        if build is None or score is None:
            raise ValueError("mixing needs `build` and `score`")
        mixed = build(ratio)
        choice.dev[ratio] = score(mixed)
        if on_mix is not None:
            on_mix(ratio, choice.dev[ratio])
        if best() == ratio:
            choice.model = mixed
        del mixed
    choice.chosen = best()
    if choice.chosen in (BASE, TUNED):
        choice.model = None
    return choice
