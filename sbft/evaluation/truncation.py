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

    The primary metric stays the full-size one. The model's own size is the full size: its
    metrics are copied, not computed again; a size above it is refused (its metrics would be
    made up). An evaluator that can share its encodings across sizes (`shared_encodings()`)
    encodes its texts once.
    """

    def __init__(self, inner: Any, dims: list[int]) -> None:
        super().__init__()
        self.inner = inner
        self.dims = sorted(set(dims), reverse=True)
        self.greater_is_better = inner.greater_is_better

    def __call__(self, model: Any, output_path: str | None = None, epoch: int = -1, steps: int = -1):
        full_size = model.get_embedding_dimension()
        larger = [dim for dim in self.dims if full_size and dim > full_size]
        if larger:
            from sbft.errors import SbftError

            raise SbftError(
                f"the model's embeddings have {full_size} dimensions, fewer than "
                f"{', '.join(map(str, larger))}: there is nothing to truncate to that size",
                where="evaluation.dims",
                fix=f"Use sizes up to {full_size}.",
            )
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
