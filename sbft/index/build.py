"""Building an index folder: from a corpus (encoded here, or read from `sbft encode` outputs) or from
embeddings already in hand (`build_index`, which the benchmark calls directly).

Files are written one by one, each atomically, after the old index's record is removed; the new
record comes last (sbft.index.record). The float32 unit rows for rescoring are written first and
read back memory-mapped while the index is built, so memory holds the index and one block, not a
second copy of the corpus.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.files import atomic_path
from sbft.index import backend
from sbft.index.record import (
    INDEX_FILE,
    OFFSETS,
    QUANTIZATIONS,
    TEXTS,
    VECTORS,
    check_output_folder,
    clear_output,
    file_entries,
    model_entry,
    write_record,
)
from sbft.index.texts import write_texts
from sbft.inference.encoder import EncodeOptions
from sbft.inference.sources import TextSource

if TYPE_CHECKING:
    import numpy as np

DEFAULT_RESCORE = {"none": 1000, "int8": 1000, "binary": 3000}
"""Candidates rescored with float32 per query (HNSW's search breadth for none): recall@10 0.995 on
100k one-layer-MiniLM WikiQA rows (benchmarks/index.md); binary codes need more candidates."""
BLOCK_ROWS = 16384


def check_settings(quantization: str, rescore: int | None) -> None:
    if quantization not in QUANTIZATIONS:
        raise SbftError(
            f"unknown quantization '{quantization}'",
            where="quantization",
            fix=f"Choose one of {', '.join(QUANTIZATIONS)}.",
        )
    if rescore is not None and rescore <= 0:
        raise SbftError("--rescore must be a positive number of candidates", where="rescore")


def build_index(
    vectors: np.ndarray,
    texts: Sequence[str],
    folder: str | Path,
    *,
    model: dict[str, Any],
    corpus: dict[str, Any] | None = None,
    quantization: str = "int8",
    rescore: int | None = None,
    threads: int | None = None,
    hnsw_m: int = backend.HNSW_M,
    ef_construction: int = backend.EF_CONSTRUCTION,
) -> dict[str, Any]:
    """Write an index of `vectors` (a row per text, any scale: rows are normalized) into `folder`.

    `model` is record.model_entry(name, identity); `corpus` what the record says of the source.
    The caller has checked the folder (record.check_output_folder). Returns the record written.
    """
    check_settings(quantization, rescore)
    if not len(texts):
        raise SbftError("the corpus holds no text: there is nothing to index", where="corpus")
    if vectors.ndim != 2 or len(vectors) != len(texts):
        raise SbftError(f"{len(texts):,} texts but embeddings of shape {tuple(vectors.shape)}", where="index")
    folder = Path(folder)
    started = time.perf_counter()
    clear_output(folder)
    names = [INDEX_FILE, TEXTS, OFFSETS]
    if quantization == "none":
        index = backend.build(
            _UnitRows(vectors), quantization, hnsw_m=hnsw_m, ef_construction=ef_construction, threads=threads
        )
    else:
        unit = write_unit_rows(vectors, folder / VECTORS)
        index = backend.build(
            unit, quantization, hnsw_m=hnsw_m, ef_construction=ef_construction, threads=threads
        )
        names.append(VECTORS)
        del unit
    backend.save(index, folder / INDEX_FILE, quantization)
    del index
    write_texts(texts, folder, TEXTS, OFFSETS)
    settings = {
        "index": backend.describe(quantization, hnsw_m),
        "hnsw_m": None if quantization == "binary" else hnsw_m,
        "ef_construction": None if quantization == "binary" else ef_construction,
        "rescore": rescore or DEFAULT_RESCORE[quantization],
        "faiss": backend.faiss_module().__version__,
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    record = {
        "model": model,
        "corpus": corpus or {},
        "rows": len(texts),
        "dim": int(vectors.shape[1]),
        "normalized": True,
        "metric": "cosine",
        "quantization": quantization,
        "settings": settings,
        "files": file_entries(folder, names),
    }
    write_record(folder, record)
    return record


class _UnitRows:
    """`vectors` seen as unit rows, a block at a time (for the float index: no second full copy)."""

    def __init__(self, vectors: np.ndarray) -> None:
        self.vectors, self.shape = vectors, vectors.shape

    def __getitem__(self, rows: Any) -> np.ndarray:
        from sbft.inference.corpus import unit_rows

        return unit_rows(self.vectors[rows])


def write_unit_rows(vectors: np.ndarray, path: Path) -> np.ndarray:
    """Write the rows scaled to length 1 as a float32 .npy (atomically), and map it back read-only."""
    import numpy as np

    from sbft.inference.corpus import unit_rows

    with atomic_path(path) as partial, open(partial, "wb") as stream:
        np.lib.format.write_array_header_1_0(
            stream, {"descr": "<f4", "fortran_order": False, "shape": tuple(vectors.shape)}
        )
        for begin in range(0, len(vectors), BLOCK_ROWS):
            stream.write(np.ascontiguousarray(unit_rows(vectors[begin : begin + BLOCK_ROWS])).tobytes())
    return np.load(path, mmap_mode="r")


def index_corpus(
    model: str,
    source: TextSource,
    folder: str | Path,
    *,
    quantization: str = "int8",
    rescore: int | None = None,
    overwrite: bool = False,
    embeddings: str | None = None,
    options: EncodeOptions | None = None,
    say: Callable[[str], None] = lambda message: None,
    **model_options: Any,
) -> dict[str, Any]:
    """`sbft index`: check everything cheap, load the model, embed the corpus (or read its
    embeddings from `embeddings`: a folder of `sbft encode --shard` outputs or a .npy with its
    sidecar, checked against this model and corpus), and build the index in `folder`."""
    from sbft.files import refuse_output_in_folders
    from sbft.inference.corpus import corpus_key, encode_corpus
    from sbft.inference.loading import load_encoder
    from sbft.inference.locations import local_model_folders

    options = options or EncodeOptions()
    folder = Path(folder)
    _check_corpus(source, embeddings)
    check_settings(quantization, rescore)
    options.check()
    check_output_folder(folder, overwrite)
    refuse_output_in_folders(folder, local_model_folders([model]), where="output")
    backend.faiss_module()
    encoder = load_encoder(model, **model_options)
    texts = list(source.texts())
    key = corpus_key(encoder, texts, options, "document", model)
    if embeddings is not None:
        vectors = _read_embeddings(Path(embeddings), key)
        say(f"indexing the embeddings in {embeddings} ({len(texts):,} rows), no encoding")
    else:
        vectors = encode_corpus(encoder, texts, options, label="encoding the corpus")
    corpus = {
        "source": source.path,
        "column": source.column,
        "sha256": key.identity["corpus"]["sha256"],
        "rows": len(texts),
        "embeddings": embeddings or "encoded by sbft index",
    }
    return build_index(
        vectors,
        texts,
        folder,
        model=model_entry(model, key.identity["model"]),
        corpus=corpus,
        quantization=quantization,
        rescore=rescore,
        threads=model_options.get("threads"),
    )


def _check_corpus(source: TextSource, embeddings: str | None) -> None:
    if Path(source.path).is_dir():
        raise SbftError(
            f"'{source.path}' is a folder: CORPUS is the texts (a text file, or jsonl/csv/tsv/parquet "
            "with --column)",
            where="corpus",
            fix="To index `sbft encode --shard` outputs without encoding again, give the texts they "
            "were encoded from as CORPUS and their folder with --corpus-embeddings.",
        )
    source.check()
    if embeddings is not None and not Path(embeddings).exists():
        raise SbftError(f"'{embeddings}' does not exist", where="corpus_embeddings")


def _read_embeddings(path: Path, key: Any) -> np.ndarray:
    """The corpus's rows from shards or a .npy entry, or one paragraph on why they do not fit."""
    from sbft.inference.corpus import EmbeddingFile, StaleEntry, load_shards

    try:
        return load_shards(path, key) if path.is_dir() else EmbeddingFile(path).load(key)
    except StaleEntry as reason:
        raise SbftError(
            f"the embeddings in '{path}' cannot be indexed: {reason}",
            where="corpus_embeddings",
            fix="Encode the same corpus with the same model (sbft encode MODEL CORPUS -o FOLDER/part-i.npy "
            "--shard i/N), or leave out --corpus-embeddings to encode it here.",
        ) from None
