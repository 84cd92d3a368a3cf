"""Search over a whole corpus with sparse vectors, scored as BEIR scores it (graded nDCG), with the
active dimensions and sparsity of queries and documents beside the scores.

Imports sentence-transformers at the top: import this module only where an evaluator is built.
"""

from __future__ import annotations

from sentence_transformers.sparse_encoder.evaluation import SparseInformationRetrievalEvaluator

from sbft.families.retrieval import GradedRelevance


class SparseCorpusRetrievalEvaluator(GradedRelevance, SparseInformationRetrievalEvaluator):
    """sentence-transformers' sparse retrieval evaluator with the dense one's graded relevance."""
