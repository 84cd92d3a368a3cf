"""Semantic search over a corpus (its embeddings cached on disk), reranking, and similarity."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.inference.corpus import (
    EmbeddingFile,
    StaleEntry,
    corpus_key,
    encode_corpus,
    load_shards,
    top_k_cosine,
    unit_rows,
)
from sbft.inference.encoder import EncodeOptions, Encoder
from sbft.inference.lite import LiteEncoder
from sbft.inference.loading import load_any, load_encoder, load_reranker
from sbft.inference.sources import TextSource

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import CrossEncoder, SentenceTransformer


@dataclass
class Hit:
    rank: int
    id: int
    """The corpus entry's 0-based row number."""
    score: float
    """Cosine similarity from the bi-encoder, or the cross-encoder's score for `sbft rerank`."""
    text: str
    rerank_score: float | None = None
    """The cross-encoder's score, when search results were reranked."""


def check_cache(cache: str | None) -> None:
    """Before loading: a folder of shards, or a .npy path; never overwrite a .npy sbft did not write."""
    if cache is None or Path(cache).is_dir():
        return
    path = _cache_path(cache)
    file = EmbeddingFile(path)
    if path.exists() and not file.sidecar.exists():
        raise SbftError(
            f"'{path}' exists but has no {file.sidecar.name} beside it: it was not written by sbft search, "
            "and reusing it as a cache would overwrite it",
            where="corpus_embeddings",
            fix="Choose a new file name for the cache, or delete the file.",
        )
    if not path.parent.is_dir():
        raise SbftError(f"the folder '{path.parent}' does not exist", where="corpus_embeddings")


def corpus_embeddings(
    model: SentenceTransformer,
    name: str,
    corpus: list[str],
    options: EncodeOptions,
    cache: str | None = None,
    say: Callable[[str], None] = lambda message: None,
) -> np.ndarray:
    """The corpus's embeddings, reused from `cache` when they were made from this corpus by this model.

    `cache` is a .npy file (with its FILE.npy.json sidecar, see sbft.inference.corpus), written
    again when stale, or a folder of `sbft encode --shard` outputs, read in row order and never
    written. Either is checked against the corpus (rows, hash), the model and the array's bytes;
    on any mismatch the corpus is encoded again, with a one-line note saying why.
    """
    key = corpus_key(model, corpus, options, "document", name)
    if cache is not None and Path(cache).is_dir():
        try:
            vectors = load_shards(Path(cache), key)
        except StaleEntry as reason:
            say(f"encoding the corpus ({len(corpus):,} texts): the shards in {cache} are not used ({reason})")
        else:
            say(f"reusing the corpus embeddings in {cache} ({len(corpus):,} rows)")
            return vectors
        return encode_corpus(model, corpus, options, label="encoding the corpus")
    file = EmbeddingFile(_cache_path(cache)) if cache is not None else None
    if file is not None:
        try:
            vectors = file.load(key)
        except StaleEntry as reason:
            stale = "no cache yet" if not file.path.exists() else str(reason)
            say(f"encoding the corpus ({len(corpus):,} texts): {stale}, writing {file.path}")
        else:
            say(f"reusing the corpus embeddings in {file.path}")
            return vectors
    vectors = encode_corpus(model, corpus, options, label="encoding the corpus")
    if file is not None:
        file.save(vectors, key, "sbft search")
    return vectors


def _cache_path(cache: str) -> Path:
    path = Path(cache)
    if path.suffix.lower() != ".npy":
        raise SbftError(
            f"'{cache}' must end with .npy, or be a folder of `sbft encode --shard` outputs",
            where="corpus_embeddings",
        )
    return path


def search_corpus(
    model: str,
    corpus: TextSource,
    queries: list[str],
    *,
    top_k: int = 10,
    cache: str | None = None,
    options: EncodeOptions | None = None,
    say: Callable[[str], None] = lambda message: None,
    reranker: str | None = None,
    **model_options: Any,
) -> list[tuple[str, list[Hit]]]:
    """`sbft search`: each query with its top_k corpus entries; the corpus embeddings cached in `cache`.

    With `reranker` (a cross-encoder), each query's hits are reordered by it (rerank_hits).
    """
    from sbft.inference.sparse import is_sparse_model, refuse_corpus_cache

    options = options or EncodeOptions()
    corpus.check()
    sparse = is_sparse_model(model)
    if sparse:
        refuse_corpus_cache(cache)
    check_cache(cache)
    options.check()
    if top_k <= 0:
        raise SbftError("--top-k must be positive", where="top_k")
    cross_encoder = None
    if reranker is not None:  # before the corpus is encoded: a wrong model fails fast
        device, trust = model_options.get("device"), model_options.get("trust_remote_code", False)
        cross_encoder = load_reranker(reranker, device=device, trust_remote_code=trust)
    encoder = load_encoder(model, **model_options)
    texts = list(corpus.texts())
    if sparse:
        results = list(zip(queries, _sparse_hits(encoder, texts, queries, options, top_k), strict=True))
    else:
        vectors = corpus_embeddings(encoder, model, texts, options, cache, say)
        results = list(zip(queries, search(encoder, texts, vectors, queries, options, top_k), strict=True))
    if cross_encoder is not None:
        results = [(query, rerank_hits(cross_encoder, query, hits)) for query, hits in results]
    return results


def _sparse_hits(
    model: Any, corpus: list[str], queries: list[str], options: EncodeOptions, top_k: int
) -> list[list[Hit]]:
    """A sparse encoder's hits: dot products over the corpus's sparse rows (sbft.inference.sparse)."""
    from sbft.inference.sparse import sparse_search

    return [
        [Hit(rank=rank, id=row, score=score, text=corpus[row]) for rank, (row, score) in enumerate(hits, 1)]
        for hits in sparse_search(model, corpus, queries, options, top_k)
    ]


def search(
    model: SentenceTransformer,
    corpus: list[str],
    corpus_vectors: np.ndarray,
    queries: list[str],
    options: EncodeOptions,
    top_k: int = 10,
) -> list[list[Hit]]:
    """The top_k corpus entries for each query by cosine similarity, best first (ties: lower id first)."""
    if top_k <= 0:
        raise SbftError("--top-k must be positive", where="top_k")
    if not corpus or not queries:
        return [[] for _ in queries]
    query_vectors = Encoder(model, options, role="query").encode(queries)
    return [
        [
            Hit(rank=rank, id=corpus_id, score=score, text=corpus[corpus_id])
            for rank, (corpus_id, score) in enumerate(hits, start=1)
        ]
        for hits in top_cosine(query_vectors, corpus_vectors, top_k)
    ]


def top_cosine(queries: np.ndarray, corpus: np.ndarray, top_k: int) -> list[list[tuple[int, float]]]:
    """For each query, the top_k (corpus row, cosine similarity), as util.semantic_search ranks them.

    numpy (no torch), a corpus chunk at a time (top_k_cosine): memory stays bounded at any size.
    """
    scores, rows = top_k_cosine(queries, corpus, top_k)
    return [
        [(int(i), float(score)) for i, score in zip(row, line, strict=True)]
        for row, line in zip(rows.tolist(), scores.tolist(), strict=True)
    ]


def rerank_candidates(
    model: str, query: str, candidates: TextSource, top_k: int | None = None, **model_options: Any
) -> list[Hit]:
    """`sbft rerank`: the candidates read from `candidates`, ordered by the cross-encoder `model`."""
    candidates.check()
    reranker = load_reranker(model, **model_options)
    return rerank(reranker, query, list(candidates.texts()), top_k)


def rerank(model: CrossEncoder, query: str, candidates: list[str], top_k: int | None = None) -> list[Hit]:
    """The candidates ordered by the cross-encoder's score for (query, candidate), best first."""
    if top_k is not None and top_k <= 0:
        raise SbftError("--top-k must be positive", where="top_k")
    if not candidates:
        return []
    ranked = model.rank(query, candidates, top_k=top_k, show_progress_bar=False)
    return [
        Hit(rank=rank, id=int(hit["corpus_id"]), score=float(hit["score"]), text=candidates[hit["corpus_id"]])
        for rank, hit in enumerate(ranked, start=1)
    ]


def rerank_hits(model: CrossEncoder, query: str, hits: list[Hit]) -> list[Hit]:
    """Search hits reordered by the cross-encoder; each keeps its retrieval score beside the new one."""
    reranked = rerank(model, query, [hit.text for hit in hits])
    return [dataclasses.replace(hits[new.id], rank=new.rank, rerank_score=new.score) for new in reranked]


def similarity(model: SentenceTransformer | CrossEncoder | LiteEncoder, first: str, second: str) -> float:
    """Cosine similarity of the two texts' embeddings; a cross-encoder's own score for the pair."""
    if not hasattr(model, "encode_query"):  # a cross-encoder reads the pair together
        return float(model.predict([(first, second)], show_progress_bar=False)[0])
    embeddings = unit_rows(model.encode([first, second], convert_to_numpy=True, show_progress_bar=False))
    return float(embeddings[0] @ embeddings[1])


def compare_texts(model: str, first: str, second: str, **model_options: Any) -> float:
    """`sbft similarity`: load `model` (see load_any) and score the two texts with it."""
    return similarity(load_any(model, **model_options), first, second)
