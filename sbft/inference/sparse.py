"""Sparse encoders at inference: texts to sparse rows, written as jsonl of {token: weight} or scipy .npz,
and searched by dot product over a corpus's sparse matrix.

A SPLADE model's dimensions are its vocabulary (the keys are tokens); a CSR model's are latent
features of its sparse autoencoder (the keys are dimension numbers). Rows are scipy CSR
matrices: a 100,000-document corpus at ~100 active dimensions each is ~120 MB, so search
multiplies the whole matrix at once.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.files import STDIN, atomic_file

if TYPE_CHECKING:
    from scipy.sparse import csr_matrix

    from sbft.inference.encoder import EncodeOptions

SPARSE_FORMATS = {".jsonl": "jsonl", ".npz": "npz"}


def sparse_output_format(path: str | None) -> str:
    """jsonl ({token: weight} per row; stdout too) or npz (scipy.sparse.save_npz), by extension."""
    if path is None or path == STDIN:
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix not in SPARSE_FORMATS:
        raise SbftError(
            f"a sparse encoder writes .jsonl or .npz, not '{Path(path).name}'",
            where="output",
            fix="End the file name with .jsonl ({token: weight} per row) or .npz (a scipy sparse matrix).",
        )
    return SPARSE_FORMATS[suffix]


def check_sparse_options(options: EncodeOptions, backend: str = "torch") -> None:
    """What a sparse vector cannot do, refused before the model loads."""
    refused = {
        "--precision": options.precision != "float32",
        "--truncate-dim": options.truncate_dim is not None,
        "--normalize": options.normalize,
        "--backend": backend != "torch",
    }
    for flag, given in refused.items():
        if given:
            raise SbftError(
                f"{flag} does not apply to a sparse encoder (its vectors are weights per token, kept sparse)",
                where=flag.removeprefix("--").replace("-", "_"),
                fix=f"Leave out {flag}.",
            )


def dimensions(model: Any) -> int:
    """The model's output size. SPLADE's pooling learns it at its first forward pass (the MLM
    head's vocabulary; before one, sentence-transformers reports the hidden size), so with a
    SpladePooling it is read from the transformer's config."""
    if any(type(module).__name__ == "SpladePooling" for module in model):
        return int(model.transformers_model.config.vocab_size)
    return int(model.get_embedding_dimension())


def dimension_keys(model: Any) -> list[str]:
    """A name per output dimension: the vocabulary's tokens when the dimensions are the vocabulary
    (SPLADE), else the dimension's number (CSR's latent features)."""
    size = dimensions(model)
    tokenizer = getattr(model, "tokenizer", None)
    if tokenizer is not None and len(tokenizer) == size:
        return [str(token) for token in tokenizer.convert_ids_to_tokens(list(range(size)))]
    return [str(i) for i in range(size)]


def to_csr(embeddings: Any) -> csr_matrix:
    """A torch sparse (or dense) tensor of rows as a float32 scipy CSR matrix."""
    import numpy as np
    from scipy.sparse import coo_matrix

    if getattr(embeddings, "is_sparse", False):
        embeddings = embeddings.coalesce()
        rows, columns = embeddings.indices().cpu().numpy()
        values = embeddings.values().detach().cpu().float().numpy()
        return coo_matrix((values, (rows, columns)), shape=tuple(embeddings.shape), dtype=np.float32).tocsr()
    return coo_matrix(np.asarray(embeddings.detach().cpu().float().numpy())).tocsr()


class SparseRowEncoder:
    """Encoder's counterpart for a SparseEncoder: a window of texts -> a CSR matrix, in input order."""

    def __init__(self, model: Any, options: EncodeOptions, role: str = "text") -> None:
        options.check()
        check_sparse_options(options)
        options.check_model(model)
        self.model = model
        self.options = options
        self._encode = {"text": model.encode, "query": model.encode_query, "document": model.encode_document}[
            role
        ]
        self.seconds = 0.0
        self.count = 0

    def encode(self, texts: list[str], progress: Callable[[int], None] | None = None) -> csr_matrix:
        if not texts:
            return self.empty()
        started = time.perf_counter()
        step = self.options.batch_size * 8
        blocks = []
        for start in range(0, len(texts), step):
            block = texts[start : start + step]
            embeddings = self._encode(
                block,
                batch_size=self.options.batch_size,
                prompt=self.options.prompt,
                prompt_name=self.options.prompt_name,
                convert_to_sparse_tensor=True,
                show_progress_bar=False,
            )
            blocks.append(to_csr(embeddings))
            if progress:
                progress(len(block))
        from scipy.sparse import vstack

        result = vstack(blocks, format="csr")
        self.seconds += time.perf_counter() - started
        self.count += len(texts)
        return result

    def empty(self) -> csr_matrix:
        import numpy as np
        from scipy.sparse import csr_matrix

        return csr_matrix((0, dimensions(self.model)), dtype=np.float32)


class SparseWriter:
    """EmbeddingWriter's counterpart: jsonl rows of {key: weight} (heaviest first) as they come, or
    one .npz at the end (the rows are kept, sparse, until then). Written beside and renamed."""

    def __init__(
        self,
        path: str | None,
        stdout: IO[bytes] | None = None,
        first_id: int = 0,
        keys: list[str] | None = None,
    ) -> None:
        self.format = sparse_output_format(path)
        self.path = None if path in (None, STDIN) else Path(path)
        self.rows = 0
        self.first_id = first_id
        self.keys = keys
        self._files = contextlib.ExitStack()
        self._stream: Any = stdout or (None if self.path else sys.stdout.buffer)
        self._blocks: list[Any] = []
        self._width = 0

    def __enter__(self) -> SparseWriter:
        if self.path is not None:
            self._stream = self._files.enter_context(atomic_file(self.path))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._files.__exit__(*exc_info)

    @property
    def width(self) -> int:
        return self._width

    def write(self, texts: list[str], rows: csr_matrix) -> None:
        self._width = rows.shape[1]
        if self.format == "npz":
            self._blocks.append(rows)
        else:
            self._stream.write("".join(self._lines(texts, rows)).encode("utf-8"))
        self.rows += len(texts)

    def _lines(self, texts: list[str], rows: csr_matrix) -> list[str]:
        keys = self.keys or [str(i) for i in range(rows.shape[1])]
        lines = []
        for i, text in enumerate(texts):
            start, stop = rows.indptr[i], rows.indptr[i + 1]
            pairs = sorted(
                zip(rows.indices[start:stop], rows.data[start:stop], strict=True), key=lambda p: -p[1]
            )
            weights = {keys[column]: round(float(value), 6) for column, value in pairs}
            row = {"id": self.first_id + self.rows + i, "text": text, "embedding": weights}
            lines.append(json.dumps(row, ensure_ascii=False) + "\n")
        return lines

    def close(self, empty: csr_matrix) -> None:
        if self.format == "npz":
            from scipy.sparse import save_npz, vstack

            save_npz(self._stream, vstack([*self._blocks, empty], format="csr"), compressed=True)
        self._width = self._width or empty.shape[1]
        if not self._stream.closed:
            self._stream.flush()
        self._files.close()


def is_sparse_model(name: str) -> bool:
    """The model's folder declares a sparse family: read before it loads, to check what is asked of it."""
    from sbft.inference.locations import model_location
    from sbft.models import detect_family

    return detect_family(model_location(name)).sparse


def refuse_corpus_cache(cache: str | None) -> None:
    """Cached corpus embeddings are dense .npy files: a sparse encoder encodes its corpus each time."""
    if cache is not None:
        raise SbftError(
            "--corpus-embeddings holds dense embeddings; a sparse encoder's corpus is encoded each time",
            where="corpus_embeddings",
            fix="Leave out --corpus-embeddings (`sbft encode -o corpus.npz` keeps a sparse corpus).",
        )


def sparse_search(
    model: Any, corpus: list[str], queries: list[str], options: EncodeOptions, top_k: int
) -> list[list[tuple[int, float]]]:
    """For each query, the top_k (corpus row, dot product) over the corpus's sparse rows, best first
    (ties: lower row first), as an inverted index ranks them."""
    import numpy as np

    if not corpus or not queries:
        return [[] for _ in queries]
    documents = SparseRowEncoder(model, options, role="document").encode(corpus)
    asked = SparseRowEncoder(model, options, role="query").encode(queries)
    found = []
    for start in range(0, asked.shape[0], 256):  # a block of queries x the corpus, dense, at a time
        scores = (asked[start : start + 256] @ documents.T).toarray()
        for row in scores:
            order = np.lexsort((np.arange(len(row)), -row))[:top_k]
            found.append([(int(i), float(row[i])) for i in order])
    return found
