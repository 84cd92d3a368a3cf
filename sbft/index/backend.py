"""faiss, the one library that holds an index's vectors: which index each quantization builds, and
how it returns candidates. The only module that imports faiss.

Why faiss (measured on 100,000 one-layer-MiniLM WikiQA embeddings, 300 WikiQA questions, 2 cores,
against usearch 2.26): an exact binary (Hamming) scan takes 0.5 ms a query in faiss's
IndexBinaryFlat against 3.7 ms in usearch's exact search, and needs no graph, so a binary index
builds in seconds at any size; HNSW graphs are on a par (faiss HNSW-SQ8 ef 400: recall@10 0.979
after float rescoring, 0.6 ms; usearch int8 HNSW at 200 candidates 0.933, 0.4 ms). faiss is
also sbft's search extra already (`sbft mine` uses it when installed).

- none: HNSW over the float32 unit rows (IndexHNSWFlat, inner product = cosine); its scores are final.
- int8: HNSW over 8-bit codes (IndexHNSWSQ, QT_8bit: 256 levels between each dimension's minimum
  and maximum, the scheme of sentence-transformers' quantize_embeddings(precision="int8"), whose
  codes faiss cannot take as they are), then float rescoring of the candidates.
- binary: one bit per dimension, packed by sentence-transformers' quantize_embeddings
  (precision="ubinary"), scanned exactly by Hamming distance, then float rescoring.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.files import atomic_path

if TYPE_CHECKING:
    import numpy as np

HNSW_M = 16
"""Graph neighbours per node: int8 recall@10 0.9955 at 1,000 candidates on the 100k corpus above
(with EF_CONSTRUCTION 80); 42 s to build on one busy core, and two threads were no faster."""
EF_CONSTRUCTION = 80
"""Build breadth: at 40, recall@10 at 1,000 candidates fell to 0.989 (100k); the build costs ~2x at 80."""
TRAIN_ROWS = 100_000
"""Rows that set the int8 ranges (a seeded sample): enough for per-dimension min/max."""
SERIAL_QUERIES = 32
"""Fewer queries than this search on one thread: on a busy 2-core machine, OpenMP's threads waiting
for each other made one binary query over 100k rows 54 ms instead of 1.3 ms."""
ADD_ROWS = 65_536
"""Rows added at a time: memory holds one converted block beyond the index."""


def faiss_module() -> Any:
    """faiss, or one paragraph saying how to install it (an optional extra)."""
    try:
        import faiss
    except ImportError:
        raise SbftError(
            "sbft index and sbft search --index need faiss, which is not installed",
            fix="Install it: pip install 'sbft[faiss]' (make install does).",
        ) from None
    return faiss


def describe(quantization: str, hnsw_m: int) -> str:
    """The index's kind in faiss's factory words, for the record."""
    return {"none": f"HNSW{hnsw_m},Flat", "int8": f"HNSW{hnsw_m},SQ8", "binary": "BFlat"}[quantization]


def build(
    vectors: np.ndarray,
    quantization: str,
    *,
    hnsw_m: int = HNSW_M,
    ef_construction: int = EF_CONSTRUCTION,
    threads: int | None = None,
    seed: int = 0,
) -> Any:
    """A faiss index of `vectors` (float32 unit rows, possibly a memory map), added a block at a time."""
    import numpy as np

    faiss = faiss_module()
    if threads:
        faiss.omp_set_num_threads(threads)
    rows, dim = vectors.shape
    if quantization == "binary":
        index = faiss.IndexBinaryFlat(8 * -(-dim // 8))
        index.use_heap = False  # counting sort over distances: 3,000 of 100k in 0.5 ms, a heap 1.4 ms
    elif quantization == "int8":
        index = faiss.IndexHNSWSQ(dim, faiss.ScalarQuantizer.QT_8bit, hnsw_m, faiss.METRIC_INNER_PRODUCT)
        sample = np.sort(np.random.default_rng(seed).choice(rows, min(rows, TRAIN_ROWS), replace=False))
        index.train(np.ascontiguousarray(vectors[sample], dtype=np.float32))
    else:
        index = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
    if quantization != "binary":
        index.hnsw.efConstruction = ef_construction
    for begin in range(0, rows, ADD_ROWS):
        index.add(
            _codes(np.ascontiguousarray(vectors[begin : begin + ADD_ROWS], dtype=np.float32), quantization)
        )
    return index


def _codes(vectors: np.ndarray, quantization: str) -> np.ndarray:
    """What the index takes: packed bits for binary, the float rows otherwise."""
    if quantization != "binary":
        return vectors
    from sentence_transformers.util.quantization import quantize_embeddings

    return quantize_embeddings(vectors, precision="ubinary")


def save(index: Any, path: Path, quantization: str) -> None:
    """Write the index atomically (a temporary file renamed onto `path`)."""
    faiss = faiss_module()
    with atomic_path(path) as partial:
        (faiss.write_index_binary if quantization == "binary" else faiss.write_index)(index, str(partial))


def load(path: Path, quantization: str) -> Any:
    """The index in `path`; its checksum was verified first (faiss trusts what it reads)."""
    faiss = faiss_module()
    if quantization != "binary":
        return faiss.read_index(str(path))
    index = faiss.read_index_binary(str(path))
    index.use_heap = False  # not saved with the index
    return index


def candidates(
    index: Any, quantization: str, queries: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, rows) of up to `count` candidates per query (unit float32 rows); row -1 pads.

    For none the scores are cosine similarities; for int8 and binary they only rank candidates for
    rescoring (approximate inner products, Hamming distances).
    """
    import numpy as np

    faiss = faiss_module()
    count = max(1, min(count, index.ntotal))
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    if quantization != "binary":
        index.hnsw.efSearch = max(count, 16)
    threads = faiss.omp_get_max_threads()
    if len(queries) < SERIAL_QUERIES:
        faiss.omp_set_num_threads(1)
    try:
        return index.search(_codes(queries, quantization), count)
    finally:
        faiss.omp_set_num_threads(threads)
