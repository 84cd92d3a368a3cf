"""Pooled dev evaluation (`evaluation.pool`): dev queries searched over a pool of the corpus, not all of it.

Every dev evaluation of a retrieval run encodes its whole corpus with the model being trained: at
1M documents that is most of a run. The pool is the union, over the dev queries, of each query's
judged documents, the base model's top_k and BM25's top_k, plus a seeded random sample of the
corpus (documents that neither ranker would pick, so a model that drifts is still challenged).
It is built once per run from the base model's corpus embeddings (sbft.inference.corpus, the
same encode the baseline and mining use) and kept in sbft's cache beside them, keyed by those
embeddings' key, the dev judgements, the pool's sizes and the seed. Test is never pooled.

Imports nothing heavy at the top: the plan (`sbft check`) reads `pool_line`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sbft.files import write_json
from sbft.recipe import column_prompts
from sbft.recipe.schema import POOL_AUTO, PoolSpec

if TYPE_CHECKING:
    import numpy as np

    from sbft.beir import RetrievalSplit
    from sbft.data import PreparedDataset
    from sbft.inference.corpus import CorpusCache

AUTO_THRESHOLD = 50_000
"""`pool: auto` pools a dev corpus of more documents than this."""
FORMAT = 1
"""Part of every pool's cache key: a change in how pools are built makes older entries unreachable."""
CACHE_FOLDER = "pools"


def pool_for(pool: PoolSpec | str | None, corpus_size: int) -> PoolSpec | None:
    """The pool a dev corpus of `corpus_size` documents gets (None: searched whole)."""
    if pool == POOL_AUTO:
        return PoolSpec() if corpus_size > AUTO_THRESHOLD else None
    return pool if isinstance(pool, PoolSpec) else None


def pooled_datasets(datasets: dict[str, PreparedDataset], pool: PoolSpec | str | None) -> dict[str, PoolSpec]:
    """The datasets whose dev split is searched over a pool, and its sizes."""
    found = {}
    for name, prepared in datasets.items():
        if prepared.corpus is None or "dev" not in prepared.retrieval or prepared.spec.evaluator == "none":
            continue
        if prepared.family.sparse:  # the pool's base-model search is dense: a sparse model searches all
            continue
        spec = pool_for(pool, len(prepared.corpus))
        if spec is not None:
            found[name] = spec
    return found


def pool_line(prepared: PreparedDataset, pool: PoolSpec | str | None) -> str | None:
    """The plan's line: 'dev: pooled, at most 31,402 of 1,000,000 documents (...)' or the whole corpus."""
    if prepared.corpus is None or "dev" not in prepared.retrieval:
        return None
    total = len(prepared.corpus)
    spec = None if prepared.family.sparse else pool_for(pool, total)
    if spec is None:
        return f"dev: whole corpus, {total:,} documents"
    judged = prepared.retrieval["dev"]
    judged_docs = {doc for grades in judged.qrels.values() for doc in grades}
    most = min(total, len(judged_docs) + len(judged.queries) * (spec.top_k + spec.bm25_top_k) + spec.random)
    return (
        f"dev: pooled, at most {most:,} of {total:,} documents (per query its judged documents, the base "
        f"model's top {spec.top_k} and BM25's top {spec.bm25_top_k}; {spec.random:,} random); "
        "test: whole corpus"
    )


@dataclass
class DevPool:
    """One dataset's pooled dev corpus: row numbers into its corpus, in corpus order."""

    rows: list[int]
    corpus_size: int
    spec: PoolSpec
    seed: int

    def corpus(self, corpus: dict[str, str]) -> dict[str, str]:
        """The pooled documents, id -> text, in corpus order."""
        ids = list(corpus)
        return {ids[row]: corpus[ids[row]] for row in self.rows}

    def record(self) -> dict[str, Any]:
        """What metrics.json keeps under dev_pool: the dev metrics of the run are over this pool."""
        return {
            "documents": len(self.rows),
            "corpus": self.corpus_size,
            **dataclasses.asdict(self.spec),
            "seed": self.seed,
            "pooled": ["baseline_dev", "evaluations", "final_dev"],
        }


def build_pool(
    texts: list[str],
    ids: list[str],
    judged: RetrievalSplit,
    spec: PoolSpec,
    seed: int,
    *,
    base_top: Callable[[int], np.ndarray],
) -> list[int]:
    """The pool's rows: judged documents, `base_top(k)` (rows, a line per query), BM25's top, random.

    Pure given `base_top`: the same inputs and seed give the same pool.
    """
    import numpy as np

    position = {doc: row for row, doc in enumerate(ids)}
    rows = {position[doc] for grades in judged.qrels.values() for doc in grades if doc in position}
    if spec.top_k:
        rows.update(int(row) for row in np.asarray(base_top(spec.top_k)).ravel())
    if spec.bm25_top_k:
        rows.update(bm25_top(texts, list(judged.queries.values()), spec.bm25_top_k))
    if spec.random:
        generator = np.random.default_rng(seed)
        rows.update(
            int(row) for row in generator.choice(len(texts), min(spec.random, len(texts)), replace=False)
        )
    return sorted(rows)


def bm25_top(texts: list[str], queries: list[str], k: int) -> set[int]:
    """The rows BM25 (bm25s, English stop words) ranks in each query's top k with a score above 0."""
    import bm25s
    import numpy as np

    retriever = bm25s.BM25()
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    found, scores = retriever.retrieve(
        bm25s.tokenize(queries, stopwords="en", show_progress=False),
        k=min(k, len(texts)),
        show_progress=False,
    )
    return {int(row) for row in np.asarray(found)[np.asarray(scores) > 0]}


def dev_pool(
    prepared: PreparedDataset,
    spec: PoolSpec,
    model: Any,
    corpus_cache: CorpusCache,
    *,
    prompts: dict[str, str] | None,
    batch_size: int,
    seed: int,
    say: Callable[[str], None],
) -> DevPool:
    """`prepared`'s dev pool: read from the cache, else built from the base model's corpus embeddings."""
    from sbft.inference.corpus import corpus_key

    assert prepared.corpus is not None
    ids, texts = list(prepared.corpus), list(prepared.corpus.values())
    judged = prepared.retrieval["dev"]
    query_prompt, document_prompt = _prompts(prepared, prompts)
    options = _options(batch_size, document_prompt)
    identity = {
        "format": FORMAT,
        "embeddings": corpus_key(model, texts, options).digest,
        "query_prompt": query_prompt,
        "queries": judged.queries,
        "qrels": judged.qrels,
        "spec": dataclasses.asdict(spec),
        "seed": seed,
    }
    key = hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()
    path = corpus_cache.folder / CACHE_FOLDER / f"{key[:32]}.json" if corpus_cache.folder else None
    rows = _read_pool(path, key, len(texts)) if path is not None and corpus_cache.read else None
    if rows is None:

        def base_top(k: int) -> np.ndarray:
            from sbft.inference.corpus import top_k_cosine

            embeddings = base_corpus_embeddings(
                prepared, model, corpus_cache, prompts=prompts, batch_size=batch_size
            )
            queries = model.encode_query(
                list(judged.queries.values()),
                prompt=query_prompt,
                batch_size=batch_size,
                convert_to_numpy=True,
            )
            return top_k_cosine(queries, embeddings, k)[1]

        rows = build_pool(texts, ids, judged, spec, seed, base_top=base_top)
        if path is not None and corpus_cache.write:
            _write_pool(path, key, rows)
    pool = DevPool(rows, len(texts), spec, seed)
    say(f"{prepared.name}: {len(rows):,} of {len(texts):,} documents, searched at each dev evaluation")
    return pool


def base_corpus_embeddings(
    prepared: PreparedDataset,
    model: Any,
    corpus_cache: CorpusCache,
    *,
    prompts: dict[str, str] | None,
    batch_size: int,
) -> np.ndarray:
    """The base model's embeddings of `prepared`'s whole corpus, a row per document in corpus order:
    one encode per run (and across runs, on disk), shared by mining, the pool and the baseline."""
    assert prepared.corpus is not None
    _, document_prompt = _prompts(prepared, prompts)
    return corpus_cache.embeddings(
        model,
        list(prepared.corpus.values()),
        _options(batch_size, document_prompt),
        label=f"{prepared.name}: encoding the corpus with the base model",
    )


def rows_of(prepared: PreparedDataset, embeddings: np.ndarray) -> Callable[[list[str]], np.ndarray]:
    """A function from document ids to their rows of `embeddings` (the whole corpus, in corpus order)."""
    assert prepared.corpus is not None
    ids = list(prepared.corpus)

    def rows(wanted: list[str]) -> np.ndarray:
        if wanted == ids:
            return embeddings
        position = {doc: row for row, doc in enumerate(ids)}
        return embeddings[[position[doc] for doc in wanted]]

    return rows


def _prompts(prepared: PreparedDataset, prompts: dict[str, str] | None) -> tuple[str | None, str | None]:
    """The query and document prompts of a BEIR dataset's two columns, as its evaluator uses them."""
    own = column_prompts(prompts, prepared.inputs)
    return own.get(prepared.inputs[0]), own.get(prepared.inputs[1])


def _options(batch_size: int, prompt: str | None) -> Any:
    from sbft.inference.encoder import EncodeOptions

    return EncodeOptions(batch_size=batch_size, prompt=prompt)


def _read_pool(path: Any, key: str, corpus_size: int) -> list[int] | None:
    """A cached pool, or None when there is none or it does not hold what the key says."""
    try:
        entry = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    rows = entry.get("rows") if isinstance(entry, dict) and entry.get("key") == key else None
    if not isinstance(rows, list) or not all(isinstance(row, int) and 0 <= row < corpus_size for row in rows):
        return None
    return rows


def _write_pool(path: Any, key: str, rows: list[int]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json(path, {"key": key, "rows": rows})
    except OSError:
        pass  # a pool that cannot be cached only costs the next run its time
