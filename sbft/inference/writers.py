"""Writing embeddings as they come: .npy, .jsonl, .csv or .parquet, or jsonl on stdout."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.files import STDIN, atomic_file

if TYPE_CHECKING:
    import numpy as np

OUTPUT_FORMATS = {".npy": "npy", ".jsonl": "jsonl", ".parquet": "parquet", ".csv": "csv"}


def output_format(path: str | None) -> str:
    """The format an output path asks for by its extension; stdout (None or '-') gets jsonl."""
    if path is None or path == STDIN:
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise SbftError(
            f"cannot tell the output format from '{path}'",
            where="output",
            fix="End the file name with " + ", ".join(OUTPUT_FORMATS) + ".",
        )
    return OUTPUT_FORMATS[suffix]


class EmbeddingWriter:
    """Writes windows of rows as they come: .npy, .jsonl, .csv or .parquet, or jsonl on stdout.

    jsonl, csv and parquet rows carry id (the 0-based row number, from `first_id`), text and the
    embedding; .npy holds the embeddings alone, row i for input row i. The row count of .npy is only known at
    the end: the header is written first and rewritten then (its size never changes).
    """

    def __init__(self, path: str | None, stdout: IO[bytes] | None = None, first_id: int = 0) -> None:
        import hashlib

        self.format = output_format(path)
        self.path = None if path in (None, STDIN) else Path(path)
        self.rows = 0
        self.first_id = first_id
        """The id of the first row: a shard's rows keep their ids in the whole input."""
        self.digest = hashlib.blake2b(digest_size=16)
        """Of the .npy rows' bytes, as the sidecar of corpus embeddings records it (sbft.inference.corpus)."""
        self._files = contextlib.ExitStack()
        self._stream: Any = stdout or (None if self.path else sys.stdout.buffer)
        self._parquet: Any = None
        self._width: int | None = None
        self._dtype: Any = None

    def __enter__(self) -> EmbeddingWriter:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        """After an error or an interruption, the partial file is dropped."""
        self._files.__exit__(*exc_info)

    @property
    def width(self) -> int:
        """Values per row (0 before the first write or close)."""
        return self._width or 0

    def write(self, texts: list[str], embeddings: np.ndarray) -> None:
        if self._width is None:
            self._start(embeddings)
        getattr(self, f"_write_{self.format}")(texts, embeddings)
        self.rows += len(texts)

    def close(self, empty: np.ndarray) -> None:
        """Finish the output; `empty` (zero rows) gives width and type when nothing was written."""
        if self._width is None:
            self._start(empty)
        if self._parquet is not None:
            self._parquet.close()
        elif self.format == "npy":
            self._stream.seek(0)
            self._npy_header()
        if not self._stream.closed:
            self._stream.flush()
        self._files.close()

    def _start(self, sample: np.ndarray) -> None:
        self._width, self._dtype = sample.shape[1], sample.dtype
        if self.path is not None:
            self._stream = self._files.enter_context(atomic_file(self.path))
        if self.format == "npy":
            self._npy_header()
        elif self.format == "csv":
            self._csv_rows([["id", "text", *(f"e{i}" for i in range(self._width))]])
        elif self.format == "parquet":
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetWriter(self._stream, _arrow_schema(sample))
            self._files.callback(self._parquet.close)  # before the file, also after an error

    def _npy_header(self) -> None:
        from numpy.lib import format as npy

        header = {"descr": npy.dtype_to_descr(self._dtype), "fortran_order": False}
        npy.write_array_header_1_0(self._stream, {**header, "shape": (self.rows, self._width)})

    def _write_npy(self, texts: list[str], embeddings: np.ndarray) -> None:
        data = embeddings.tobytes()
        self.digest.update(data)
        self._stream.write(data)

    def _write_jsonl(self, texts: list[str], embeddings: np.ndarray) -> None:
        lines = [
            f'{{"id": {self.first_id + self.rows + i}, "text": {json.dumps(text, ensure_ascii=False)}, '
            f'"embedding": [{",".join(values)}]}}\n'
            for i, (text, values) in enumerate(zip(texts, _number_strings(embeddings), strict=True))
        ]
        self._stream.write("".join(lines).encode("utf-8"))

    def _write_csv(self, texts: list[str], embeddings: np.ndarray) -> None:
        numbers = _number_strings(embeddings)
        first = self.first_id + self.rows
        self._csv_rows([[first + i, text, *numbers[i]] for i, text in enumerate(texts)])

    def _csv_rows(self, rows: list[list[Any]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        self._stream.write(buffer.getvalue().encode("utf-8"))

    def _write_parquet(self, texts: list[str], embeddings: np.ndarray) -> None:
        import numpy as np
        import pyarrow as pa

        columns = [
            pa.array(
                np.arange(self.first_id + self.rows, self.first_id + self.rows + len(texts), dtype=np.int64)
            ),
            pa.array(texts, pa.string()),
            pa.FixedSizeListArray.from_arrays(pa.array(embeddings.reshape(-1)), self._width),
        ]
        self._parquet.write_table(pa.Table.from_arrays(columns, schema=self._parquet.schema))


def _arrow_schema(sample: np.ndarray) -> Any:
    import pyarrow as pa

    vector = pa.list_(pa.from_numpy_dtype(sample.dtype), sample.shape[1])
    return pa.schema([("id", pa.int64()), ("text", pa.string()), ("embedding", vector)])


def _number_strings(embeddings: np.ndarray) -> list[list[str]]:
    """Each row's values as text; 9 significant digits read back as the exact float32."""
    if embeddings.dtype.kind == "f":
        return [[f"{value:.9g}" for value in row] for row in embeddings.tolist()]
    return [[str(value) for value in row] for row in embeddings.tolist()]
