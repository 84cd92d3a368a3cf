"""Searching an index folder: open it once (every file checked), then answer queries.

`search(index_dir, queries, top_k)` is the one call for a list of query texts (what POST /search
needs); `open_index` keeps an index open across calls (a server opens it once: the checksums read
every byte). Hits are those of exact `sbft search` (sbft.inference.search.Hit): 0-based corpus rows,
cosine similarities, best first, ties to the lower row. With int8 or binary, each query's
`rescore` best candidates are scored again against the float32 unit rows, so the scores are
exact cosines and only a row the candidates missed can differ from exact search.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.index import backend
from sbft.index.record import (
    INDEX_FILE,
    OFFSETS,
    TEXTS,
    VECTORS,
    damaged,
    model_difference,
    read_record,
    verify_files,
)
from sbft.index.texts import TextStore
from sbft.inference.encoder import EncodeOptions
from sbft.inference.search import Hit

if TYPE_CHECKING:
    import numpy as np


@dataclass
class OpenIndex:
    """An index folder read and checked: its record, faiss index, rescoring rows and texts."""

    folder: Path
    record: dict[str, Any]
    index: Any
    vectors: np.ndarray | None
    store: TextStore

    @property
    def quantization(self) -> str:
        return self.record["quantization"]

    def check_model(self, model: Any, name: str | None, options: EncodeOptions | None = None) -> None:
        """Refuse a model whose embeddings do not live in this index's space (one paragraph)."""
        from sbft.inference.corpus import model_identity

        built = self.record["model"]
        now = model_identity(model, options or EncodeOptions(), "document", name)
        reason = model_difference(built.get("identity") or {}, now)
        if reason is not None:
            raise SbftError(
                f"the index '{self.folder}' was built with the model '{built.get('name')}', and "
                f"'{name or 'this model'}' is another ({reason})",
                where="index",
                fix="Search it with the model that built it, or build an index with this model: "
                f"sbft index {name or 'MODEL'} CORPUS -o DIR.",
            )

    def nearest(
        self, queries: np.ndarray, top_k: int, rescore: int | None = None
    ) -> list[list[tuple[int, float]]]:
        """For each query embedding, its top_k (row, cosine similarity), best first."""
        from sbft.inference.corpus import unit_rows

        if top_k <= 0:
            raise SbftError("--top-k must be positive", where="top_k")
        if rescore is not None and rescore <= 0:
            raise SbftError("--rescore must be a positive number of candidates", where="rescore")
        if queries.ndim != 2 or queries.shape[1] != self.record["dim"]:
            raise SbftError(
                f"query embeddings of shape {tuple(queries.shape)} for an index of {self.record['dim']} "
                "dimensions",
                where="index",
            )
        queries = unit_rows(queries)
        count = max(top_k, rescore or self.record["settings"].get("rescore") or top_k)
        scores, rows = backend.candidates(self.index, self.quantization, queries, count)
        if self.vectors is None:
            return [
                _best(line_rows, line_scores, top_k)
                for line_rows, line_scores in zip(rows, scores, strict=True)
            ]
        return [
            _rescored(self.vectors, query, line, top_k) for query, line in zip(queries, rows, strict=True)
        ]

    def search(
        self,
        model: Any,
        queries: list[str],
        top_k: int = 10,
        *,
        rescore: int | None = None,
        options: EncodeOptions | None = None,
    ) -> list[list[Hit]]:
        """Hits for each query text, embedded by `model` (checked with check_model first) as exact
        search embeds queries (the query prompt, sbft's Encoder)."""
        from sbft.inference.encoder import Encoder

        if not queries:
            return []
        vectors = Encoder(model, options or EncodeOptions(), role="query").encode(queries)
        found = self.nearest(vectors, top_k, rescore)
        texts = self.store.texts(row for line in found for row, _ in line)
        hits, at = [], 0
        for line in found:
            hits.append(
                [
                    Hit(rank=rank, id=row, score=score, text=texts[at + rank - 1])
                    for rank, (row, score) in enumerate(line, 1)
                ]
            )
            at += len(line)
        return hits


def _best(rows: np.ndarray, scores: np.ndarray, top_k: int) -> list[tuple[int, float]]:
    """The top_k of one query's candidates, best first, ties to the lower row (padding dropped)."""
    import numpy as np

    keep = rows >= 0
    rows, scores = rows[keep], scores[keep]
    order = np.lexsort((rows, -scores))[:top_k]
    return [(int(rows[i]), float(scores[i])) for i in order]


def _rescored(
    vectors: np.ndarray, query: np.ndarray, rows: np.ndarray, top_k: int
) -> list[tuple[int, float]]:
    """One query's candidates scored exactly (float32 unit rows, read in row order from the map)."""
    import numpy as np

    rows = np.unique(rows[rows >= 0])  # sorted: the memory map is read front to back
    # einsum, not BLAS: one small product needs no threads (they only wait for each other)
    return _best(rows, np.einsum("ij,j->i", np.asarray(vectors[rows], dtype=np.float32), query), top_k)


def open_index(folder: str | Path, checksums: bool = True) -> OpenIndex:
    """Read an index folder after checking its record and files (sizes, and with `checksums` every
    byte): a damaged or unfinished index is one paragraph (SbftError), never wrong results."""
    import numpy as np

    folder = Path(folder)
    record = read_record(folder)
    expected = {INDEX_FILE, TEXTS, OFFSETS} | ({VECTORS} if record["quantization"] != "none" else set())
    if set(record["files"]) != expected:
        raise damaged(folder, f"index.json lists {', '.join(sorted(record['files']))}")
    verify_files(folder, record, checksums)
    rows, dim = record["rows"], record["dim"]
    try:
        store = TextStore(folder, TEXTS, OFFSETS, rows)
        vectors = np.load(folder / VECTORS, mmap_mode="r") if VECTORS in expected else None
    except (OSError, ValueError) as error:
        raise damaged(folder, str(error)) from None
    if vectors is not None and (vectors.shape != (rows, dim) or vectors.dtype != np.float32):
        raise damaged(folder, f"{VECTORS} holds {vectors.shape} {vectors.dtype}, not ({rows}, {dim}) float32")
    index = backend.load(folder / INDEX_FILE, record["quantization"])
    if index.ntotal != rows:
        raise damaged(folder, f"{INDEX_FILE} holds {index.ntotal:,} vectors for {rows:,} texts")
    return OpenIndex(folder, record, index, vectors, store)


def search(
    index_dir: str | Path | OpenIndex,
    queries: list[str],
    top_k: int = 10,
    *,
    model: Any = None,
    name: str | None = None,
    rescore: int | None = None,
    options: EncodeOptions | None = None,
    **model_options: Any,
) -> list[tuple[str, list[Hit]]]:
    """Each query with its top_k hits from the index `index_dir` (a folder, or an OpenIndex).

    `model` is a model name (loaded here), a loaded SentenceTransformer (then `name`, its path or
    hub id, helps identify a torch-free encoder), or None: the model the record names. Either way it
    is checked against the model that built the index first.
    """
    from sbft.inference.loading import load_encoder

    opened = index_dir if isinstance(index_dir, OpenIndex) else open_index(index_dir)
    if model is None:
        model = opened.record["model"].get("name")
    if isinstance(model, str):
        name, model = model, load_encoder(model, **model_options)
    opened.check_model(model, name, options)
    return list(
        zip(queries, opened.search(model, queries, top_k, rescore=rescore, options=options), strict=True)
    )


def search_index(
    model: str,
    index_dir: str,
    queries: list[str],
    *,
    top_k: int = 10,
    rescore: int | None = None,
    options: EncodeOptions | None = None,
    say: Callable[[str], None] = lambda message: None,
    reranker: str | None = None,
    **model_options: Any,
) -> list[tuple[str, list[Hit]]]:
    """`sbft search MODEL --index DIR`: as search_corpus, from an index (opened and checked before
    the model loads); `reranker` reorders each query's hits as there."""
    from sbft.inference.loading import load_reranker
    from sbft.inference.search import rerank_hits

    options = options or EncodeOptions()
    options.check()
    if top_k <= 0:
        raise SbftError("--top-k must be positive", where="top_k")
    opened = open_index(index_dir)
    say(f"searching the index {index_dir} ({opened.record['rows']:,} texts, {opened.quantization})")
    cross_encoder = None
    if reranker is not None:
        device, trust = model_options.get("device"), model_options.get("trust_remote_code", False)
        cross_encoder = load_reranker(reranker, device=device, trust_remote_code=trust)
    results = search(opened, queries, top_k, model=model, rescore=rescore, options=options, **model_options)
    if cross_encoder is not None:
        results = [(query, rerank_hits(cross_encoder, query, hits)) for query, hits in results]
    return results
