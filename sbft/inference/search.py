"""Semantic search over a corpus (its embeddings cached on disk), reranking, and similarity."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.files import atomic_file
from sbft.inference.encoder import EncodeOptions, Encoder
from sbft.inference.lite import LiteEncoder
from sbft.inference.loading import load_any, load_encoder, load_reranker
from sbft.inference.locations import model_folder
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
    """Before loading anything: a .npy path, and never overwrite a .npy sbft search did not write."""
    if cache is None:
        return
    path, sidecar = _cache_paths(cache)
    if path.exists() and not sidecar.exists():
        raise SbftError(
            f"'{path}' exists but has no {sidecar.name} beside it: it was not written by sbft search, "
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
    """The corpus's embeddings, reused from `cache` (.npy) when corpus and model are unchanged.

    Beside the cache, CACHE.json records a hash of the corpus texts and the model's identity
    (its files' names, sizes and times, and the settings that change embeddings). When either
    differs, the corpus is encoded again and both files are rewritten.
    """
    import numpy as np

    identity = {
        "corpus": {"sha256": corpus_hash(corpus), "rows": len(corpus)},
        "model": model_identity(name, model, options),
    }
    if cache is not None:
        path, sidecar = _cache_paths(cache)
        reason = _stale_reason(path, sidecar, identity)
        if reason is None:
            say(f"reusing the corpus embeddings in {path}")
            return np.load(path)
        say(f"encoding the corpus ({len(corpus):,} texts): {reason}")
    embeddings = Encoder(model, options, role="document").encode(corpus)
    if cache is not None:
        with atomic_file(path) as stream:
            np.save(stream, embeddings)
        with atomic_file(sidecar) as stream:
            stream.write((json.dumps({"written_by": "sbft search", **identity}, indent=2) + "\n").encode())
    return embeddings


def _cache_paths(cache: str) -> tuple[Path, Path]:
    path = Path(cache)
    if path.suffix.lower() != ".npy":
        raise SbftError(f"'{cache}' must end with .npy", where="corpus_embeddings")
    return path, path.with_name(path.name + ".json")


def _stale_reason(path: Path, sidecar: Path, identity: dict[str, Any]) -> str | None:
    """Why the cache cannot be reused, or None when it can."""
    if not path.exists():
        return f"no cache yet, writing {path}"
    try:
        saved = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return f"{sidecar} is unreadable, rewriting the cache"
    if saved.get("model") != identity["model"]:
        return f"the model or its settings changed since {path} was written"
    if saved.get("corpus") != identity["corpus"]:
        return f"the corpus changed since {path} was written"
    return None


def corpus_hash(texts: Iterable[str]) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(json.dumps(text).encode("utf-8") + b"\n")  # unambiguous, newlines included
    return digest.hexdigest()


def model_identity(name: str, model: SentenceTransformer, options: EncodeOptions) -> dict[str, Any]:
    """What decides the embeddings: the model's files (names, sizes, times), backend and settings."""
    from sbft.inference.exports import weights_fingerprint

    folder = model_folder(name)
    return {
        "location": str(folder.resolve()) if folder else name,
        "files": weights_fingerprint(folder, name) if folder else None,
        "backend": _backend(model),
        "max_seq_length": model.max_seq_length,
        **{key: getattr(options, key) for key in ("truncate_dim", "prompt", "prompt_name", "normalize")},
    }


def _backend(model: SentenceTransformer | LiteEncoder) -> str:
    """torch, onnx or onnx-int8: either path names the same backend the same (one corpus cache)."""
    if isinstance(model, LiteEncoder):
        return model.onnx_backend
    from sbft.inference.onnx import backend_of

    return backend_of(model)


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
    options = options or EncodeOptions()
    corpus.check()
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
    vectors = corpus_embeddings(encoder, model, texts, options, cache, say)
    results = list(zip(queries, search(encoder, texts, vectors, queries, options, top_k), strict=True))
    if cross_encoder is not None:
        results = [(query, rerank_hits(cross_encoder, query, hits)) for query, hits in results]
    return results


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

    numpy, so that search needs no torch; queries go a block at a time so the score matrix stays
    under about 128 MB whatever the corpus size.
    """
    import numpy as np

    corpus = unit_rows(corpus)
    k = min(top_k, len(corpus))
    block = max(1, 2**25 // len(corpus))
    results = []
    for start in range(0, len(queries), block):
        scores = unit_rows(queries[start : start + block]) @ corpus.T
        best = (
            np.argpartition(-scores, k - 1, axis=1)[:, :k] if k < len(corpus) else np.indices(scores.shape)[1]
        )
        for row, candidates in zip(scores, best, strict=True):
            ranked = candidates[np.lexsort((candidates, -row[candidates]))]
            results.append([(int(i), float(row[i])) for i in ranked])
    return results


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 in float32 (util.normalize_embeddings; zero rows stay zero)."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


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
