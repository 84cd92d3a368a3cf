"""`sbft index`: an approximate nearest-neighbour index of a corpus, built once and searched many times.

An index folder holds the faiss index (float32 HNSW, int8 HNSW or an exact binary scan), the
corpus embeddings as float32 unit rows for rescoring (int8 and binary only), the texts with their
ids, and index.json: the model's identity, the settings, the counts and a checksum of every file.
`sbft search --index DIR` and `sbft serve --index DIR` (POST /search) query it through `search`
or `open_index`; a query with another model, or a damaged folder, is refused in one paragraph.

Modules: record (index.json, file checksums, output guards, the model check), texts (the texts by
row), backend (faiss, the only module that imports it), build, query. Heavy imports (numpy, faiss,
torch) stay inside functions: `sbft --help` imports none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sbft.index.build import build_index, index_corpus
    from sbft.index.query import OpenIndex, open_index, search

__all__ = ["OpenIndex", "build_index", "index_corpus", "open_index", "search"]


def __getattr__(name: str) -> Any:
    """Lazy exports: `from sbft.index import search` loads query (and not build) on first use."""
    if name in ("build_index", "index_corpus"):
        from sbft.index import build

        return getattr(build, name)
    if name in ("OpenIndex", "open_index", "search"):
        from sbft.index import query

        return getattr(query, name)
    raise AttributeError(name)
