"""Evaluating Matryoshka embeddings at several sizes: one evaluator run at full size and truncated.

Imports sentence-transformers at the top: import this module only where an evaluator is built.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sentence_transformers.sentence_transformer.evaluation import BaseEvaluator


def dim_suffix(dim: int) -> str:
    """What a metric's name ends with at a truncated size: wikiqa_cosine_ndcg@10_dim128."""
    return f"_dim{dim}"


class Truncations(BaseEvaluator):
    """An evaluator's metrics at full size, then at each of `dims` with their names suffixed.

    The primary metric stays the full-size one. A size at or above the model's own is the full
    size: its metrics are copied, not computed again. An evaluator that can share its encodings
    across sizes (`shared_encodings()`) encodes its texts once.
    """

    def __init__(self, inner: Any, dims: list[int]) -> None:
        super().__init__()
        self.inner = inner
        self.dims = sorted(set(dims), reverse=True)
        self.greater_is_better = inner.greater_is_better

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1):
        full_size = model.get_embedding_dimension()
        sharing = getattr(self.inner, "shared_encodings", contextlib.nullcontext)
        with sharing():
            full = self.inner(model, output_path, epoch, steps)
            self.primary_metric = self.inner.primary_metric
            results = dict(full)
            for dim in self.dims:
                metrics = full if dim >= full_size else self._truncated(model, dim, output_path, epoch, steps)
                results.update({f"{key}{dim_suffix(dim)}": value for key, value in metrics.items()})
        return results

    def _truncated(self, model: Any, dim: int, *where: Any) -> dict[str, float]:
        self.inner.truncate_dim = dim
        try:
            return self.inner(model, *where)
        finally:
            self.inner.truncate_dim = None
