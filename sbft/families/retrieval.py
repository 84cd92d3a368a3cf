"""Search over a whole corpus, scored as BEIR scores it: sentence-transformers'
InformationRetrievalEvaluator with graded relevance and encodings shared across truncations.

Imports sentence-transformers at the top: import this module only where an evaluator is built.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Callable, Iterator
from typing import Any

from sentence_transformers.sentence_transformer.evaluation import InformationRetrievalEvaluator

RETRIEVAL_CUTOFFS: dict[str, list[int]] = {
    "mrr_at_k": [10],
    "ndcg_at_k": [10],
    "accuracy_at_k": [1, 3, 5, 10],
    "precision_recall_at_k": [1, 10, 100],
    "map_at_k": [100],
}
"""nDCG@10 (the main metric), MRR@10, Recall@10/100 and MAP@100, as retrieval benchmarks report them."""


class GradedRelevance:
    """Graded relevance for a sentence-transformers retrieval evaluator (dense or sparse).

    `qrels` holds grades (query id -> {document id: grade}): nDCG gains are the grades, as in
    BEIR (pytrec_eval), and a document counts as relevant for MRR, recall and MAP when its grade
    is above 0, so every model family of a run is scored alike.
    """

    def __init__(
        self,
        queries: dict[str, str],
        corpus: dict[str, str],
        qrels: dict[str, dict[str, int]],
        **options: Any,
    ) -> None:
        relevant = {query: {d for d, grade in grades.items() if grade > 0} for query, grades in qrels.items()}
        super().__init__(queries, corpus, relevant, **{**RETRIEVAL_CUTOFFS, **options})
        self.grades = qrels

    def compute_metrics(self, queries_result_list: list[Any]) -> dict[str, Any]:
        metrics = super().compute_metrics(queries_result_list)
        metrics["ndcg@k"] = {k: self._graded_ndcg(queries_result_list, k) for k in self.ndcg_at_k}
        return metrics

    def _graded_ndcg(self, queries_result_list: list[Any], k: int) -> float:
        """Mean nDCG@k with the grades as gains (identical to the binary one when every grade is 1)."""
        values = []
        for query_id, hits in zip(self.queries_ids, queries_result_list, strict=True):
            grades = self.grades[query_id]
            ranked = sorted(hits, key=lambda hit: (-hit["score"], hit["corpus_id"]))[:k]
            gained = [max(grades.get(hit["corpus_id"], 0), 0) for hit in ranked]
            ideal = sorted((g for g in grades.values() if g > 0), reverse=True)[:k]
            values.append(_dcg(gained) / _dcg(ideal))
        return sum(values) / len(values) if values else 0.0


class CorpusRetrievalEvaluator(GradedRelevance, InformationRetrievalEvaluator):
    """Queries searched over every document of a corpus.

    `qrels` holds grades (query id -> {document id: grade}): nDCG gains are the grades, as in
    BEIR (pytrec_eval), and a document counts as relevant for MRR, recall and MAP when its grade
    is above 0. Inside `shared_encodings()`, texts are encoded once at full size and truncated
    for each `truncate_dim`, so evaluating several Matryoshka sizes costs one corpus encoding.
    """

    def __init__(
        self,
        queries: dict[str, str],
        corpus: dict[str, str],
        qrels: dict[str, dict[str, int]],
        **options: Any,
    ) -> None:
        super().__init__(queries, corpus, qrels, **options)
        self._encodings: dict[tuple[Any, ...], Any] | None = None
        self._given: Callable[[list[str]], Any] | None = None
        self._given_full: Any = None
        self.document_encoder: Callable[[Any, list[str], str | None, str | None], Any] | None = None
        """(model, texts, prompt_name, prompt) -> float32 corpus embeddings at full size: set by a
        run to sbft's token-sorted encode with a labelled progress report (None: model.encode's)."""

    @contextlib.contextmanager
    def given_corpus_embeddings(self, rows: Callable[[list[str]], Any]) -> Iterator[None]:
        """Within the block, the corpus is not encoded: `rows(corpus ids)` gives its embeddings at
        full size (a row per id, in that order), e.g. the base model's, encoded once per run."""
        self._given, self._given_full = rows, None
        try:
            yield
        finally:
            self._given, self._given_full = None, None

    def compute_all_metrics(self, model, corpus_model=None, corpus_embeddings=None, output_path=None):
        if corpus_embeddings is None and self._given is not None:
            import torch

            if self._given_full is None:
                with warnings.catch_warnings():  # a read-only array (the cache's) is only read here
                    warnings.simplefilter("ignore", UserWarning)
                    self._given_full = torch.as_tensor(self._given(self.corpus_ids))
            device = getattr(model, "device", None)
            corpus_embeddings = self._given_full[..., : self.truncate_dim]
            corpus_embeddings = corpus_embeddings.to(device) if device is not None else corpus_embeddings
        elif corpus_embeddings is None and self.document_encoder is not None:
            # the whole corpus in one encode (one progress report), scored a chunk at a time as before
            corpus_embeddings = self.embed_inputs(
                corpus_model or model,
                self.corpus,
                encode_fn_name="document",
                prompt_name=self.corpus_prompt_name,
                prompt=self.corpus_prompt,
            )
        return super().compute_all_metrics(model, corpus_model, corpus_embeddings, output_path)

    @contextlib.contextmanager
    def shared_encodings(self) -> Iterator[None]:
        """Within the block, the model is taken not to change: each text list is encoded once."""
        self._encodings = {}
        try:
            yield
        finally:
            self._encodings = None

    def embed_inputs(self, model, sentences, encode_fn_name=None, prompt_name=None, prompt=None, **kwargs):
        if self._encodings is None:
            return self._embed(model, sentences, encode_fn_name, prompt_name, prompt, **kwargs)
        key = (encode_fn_name, prompt_name, prompt, len(sentences), sentences[0] if len(sentences) else None)
        if key not in self._encodings:
            truncate_dim, self.truncate_dim = self.truncate_dim, None
            try:
                self._encodings[key] = self._embed(
                    model, sentences, encode_fn_name, prompt_name, prompt, **kwargs
                )
            finally:
                self.truncate_dim = truncate_dim
        return self._encodings[key][..., : self.truncate_dim]

    def _embed(self, model, sentences, encode_fn_name, prompt_name, prompt, **kwargs):
        """The corpus through `document_encoder` when a run set one; the rest as sentence-transformers."""
        if encode_fn_name != "document" or self.document_encoder is None or kwargs:
            return super().embed_inputs(model, sentences, encode_fn_name, prompt_name, prompt, **kwargs)
        import torch

        embeddings = torch.from_numpy(self.document_encoder(model, list(sentences), prompt_name, prompt))
        device = getattr(model, "device", None)
        embeddings = embeddings.to(device) if device is not None else embeddings
        return embeddings[..., : self.truncate_dim]


def _dcg(gains: list[int]) -> float:
    return sum(gain / math.log2(rank + 2) for rank, gain in enumerate(gains))
