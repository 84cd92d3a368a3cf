"""Search over a whole corpus with sparse vectors, scored as BEIR scores it (graded nDCG), with the
active dimensions and sparsity of queries and documents beside the scores.

Imports sentence-transformers at the top: import this module only where an evaluator is built.
"""

from __future__ import annotations

from typing import Any

from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator

from sbft.families.retrieval import RETRIEVAL_CUTOFFS, CorpusRetrievalEvaluator


class SparseCorpusRetrievalEvaluator(SparseInformationRetrievalEvaluator):
    """sentence-transformers' sparse retrieval evaluator with the dense one's graded relevance.

    `qrels` holds grades (query id -> {document id: grade}): nDCG gains are the grades, and a
    document counts as relevant for MRR, recall and MAP when its grade is above 0, so a sparse and
    a dense model of one run are scored alike.
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

    _graded_ndcg = CorpusRetrievalEvaluator._graded_ndcg
