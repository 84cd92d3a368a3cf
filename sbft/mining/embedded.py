"""The miner handed to `mine_hard_negatives`: the model, with its embeddings computed beforehand.

mine_hard_negatives encodes its corpus itself (the corpus plus the positives, exact copies
dropped), shows tqdm bars, and scores each block of queries with model.similarity, which
normalises a copy of the whole corpus per block. Precomputed gives it, for exactly the lists
it will ask for, embeddings made by sbft: the corpus rows come from the corpus cache
(sbft.inference.corpus), shared with the evaluations of the same model and corpus and read
without a second copy, with a labelled progress report; every row has length 1, so similarity
is a plain dot product.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sbft.inference.corpus import SCORE_BYTES, CorpusCache, encode_corpus, unit_rows_in_place
from sbft.inference.encoder import EncodeOptions

if TYPE_CHECKING:
    import numpy as np

LABEL = "mining hard negatives"


class Precomputed:
    """`model` for mine_hard_negatives, answering its encode calls from precomputed unit-length rows."""

    def __init__(
        self,
        model: Any,
        documents: list[str],
        document_embeddings: np.ndarray,
        queries: list[str],
        query_embeddings: np.ndarray,
    ) -> None:
        self.model = model
        self._documents, self._document_embeddings = documents, document_embeddings
        self._queries, self._query_embeddings = queries, query_embeddings

    @property
    def query_block(self) -> int:
        """Queries scored at once (its faiss_batch_size): a SCORE_BYTES block of scores."""
        return max(1, SCORE_BYTES // (4 * max(1, len(self._documents))))

    @classmethod
    def prepare(
        cls,
        model: Any,
        queries: Sequence[str],
        positives: Sequence[str],
        corpus: list[str] | None,
        documents: list[str] | None,
        *,
        cache: CorpusCache | None = None,
        batch_size: int = 32,
        query_prompt: str | None = None,
        corpus_prompt: str | None = None,
        progress: bool = True,
    ) -> Precomputed:
        """Embed what mine_hard_negatives will search: `documents` (the corpus as sbft filtered it,
        None: the positives) plus the positives, exact copies dropped, and the distinct queries."""
        import numpy as np

        cache = cache or CorpusCache.default()
        label = LABEL if progress else None
        searched = list(dict.fromkeys([*(documents if documents is not None else positives), *positives]))
        options = EncodeOptions(batch_size=batch_size, prompt=corpus_prompt)
        if corpus is None:
            embedded = cache.embeddings(model, searched, options, label=label, keep=False)
            vectors = unit_rows_in_place(np.array(embedded, dtype=np.float32))
        else:
            first = {}
            for row, text in enumerate(corpus):
                first.setdefault(text, row)
            rows = np.array([first.get(text, -1) for text in searched], dtype=np.int64)
            vectors = cache.select(model, corpus, rows, options, label=label)
            missing = np.flatnonzero(rows < 0)
            if len(missing):  # positives that are not in the corpus
                extra = encode_corpus(model, [searched[i] for i in missing], options, label=None)
                vectors[missing] = unit_rows_in_place(extra)
        distinct = list(dict.fromkeys(queries))
        query_vectors = encode_corpus(
            model,
            distinct,
            EncodeOptions(batch_size=batch_size, normalize=True, prompt=query_prompt),
            role="query",
            label=label and f"{label} (queries)",
            noun="queries",
        )
        return cls(model, searched, vectors, distinct, query_vectors)

    def encode_document(self, texts: list[str], **options: Any) -> np.ndarray:
        if texts == self._documents:
            return self._document_embeddings
        return self.model.encode_document(texts, **options)

    def encode_query(self, texts: list[str], **options: Any) -> np.ndarray:
        if texts == self._queries:
            return self._query_embeddings
        return self.model.encode_query(texts, **options)

    def similarity(self, first: Any, second: Any) -> Any:
        """Cosine similarity of unit-length rows: their dot products (no normalised copies).

        Called once per block of queries; the previous block's buffers (torch.topk's per-thread
        copies of whole score rows) are handed back to the system first: glibc keeps them in
        its per-thread arenas otherwise, and at 1M documents that adds gigabytes to the peak.
        """
        import torch

        _release_free_memory()
        return torch.as_tensor(first) @ torch.as_tensor(second).T

    def similarity_pairwise(self, first: Any, second: Any) -> Any:
        import torch

        return (torch.as_tensor(first) * torch.as_tensor(second)).sum(dim=-1)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)


def _release_free_memory() -> None:
    """glibc's malloc_trim(0): free pages of every arena back to the system (nothing elsewhere)."""
    global _TRIM
    if _TRIM is None:
        import ctypes
        import ctypes.util

        try:
            _TRIM = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _TRIM = False
    if _TRIM:
        _TRIM(0)


_TRIM: Any = None
