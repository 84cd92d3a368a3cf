"""Using a bi-encoder: embeddings for a stream of texts, semantic search, similarity of two texts.

Encoding streams: texts are read a window at a time (WINDOW texts), sorted by token count
inside the window so batches carry little padding, encoded, put back in input order and written
before the next window is read. Memory therefore holds one window of texts and embeddings,
whatever the input's size, and output row i is always input row i.

Text input is split on '\\n' only ('\\r\\n' endings are stripped): row i is line i + 1 as
`sed -n` or an editor counts it. Blank lines are encoded as the empty string, duplicates are
encoded again, and texts longer than the model's max_seq_length are truncated to it (by
tokens), so no row is ever dropped or merged.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from sbft import run_folder
from sbft.errors import SbftError, did_you_mean
from sbft.files import atomic_file, check_output

if TYPE_CHECKING:
    import numpy as np
    from sentence_transformers import CrossEncoder, SentenceTransformer

WINDOW = 8192
"""Texts read, length-sorted and held at once: big enough that padding costs under 1%."""
PRECISIONS = ("float32", "int8", "uint8", "binary", "ubinary")
STRUCTURED_INPUTS = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".csv": "csv",
    ".tsv": "tsv",
    ".parquet": "parquet",
}
OUTPUT_FORMATS = {".npy": "npy", ".jsonl": "jsonl", ".parquet": "parquet", ".csv": "csv"}
STDIN = "-"


# --- models --------------------------------------------------------------------------------


def model_location(name: str) -> str:
    """What to load for `name`: a run folder of `sbft train` stands for the model inside it."""
    path = Path(name).expanduser()
    if (path / "modules.json").exists() or (path / "config.json").exists():
        return name
    if (path / run_folder.MODEL).is_dir():
        return str(path / run_folder.MODEL)
    if (path / run_folder.METRICS_LOG).exists() or (path / run_folder.CHECKPOINTS).is_dir():
        raise SbftError(
            f"the run folder '{name}' holds no model yet: its training did not finish",
            fix=f"Finish it with `sbft train --resume {name}`.",
        )
    return name


def load_any(
    name: str,
    *,
    device: str | None = None,
    trust_remote_code: bool = False,
    max_seq_length: int | None = None,
    backend: str = "torch",
    threads: int | None = None,
) -> SentenceTransformer | CrossEncoder:
    """Load a model given as a run folder, saved folder or hub id, ready for inference.

    `backend` onnx or onnx-int8 runs the transformer with ONNX Runtime (sbft.backend), exported
    on first use; `threads` sets the CPU threads of either backend (default: physical cores).
    """
    from sbft.backend import check_backend, thread_count, use_onnx
    from sbft.models import load_model
    from sbft.quiet import quiet_libraries

    check_device(device)
    check_backend(backend)
    threads = thread_count(threads)
    if max_seq_length is not None and max_seq_length <= 0:
        raise SbftError("--max-seq-length must be positive", where="--max-seq-length")
    quiet_libraries()
    model = load_model(model_location(name), device=device, trust_remote_code=trust_remote_code)
    if max_seq_length is not None:
        _set_max_seq_length(model, max_seq_length)
    configure_threads(model, threads, backend)
    if backend != "torch":
        use_onnx(model, name, backend, threads, say=lambda message: print(message, file=sys.stderr))
    return model


def load_encoder(name: str, **options: Any) -> SentenceTransformer:
    """Like load_any, for commands that need embeddings (a cross-encoder has none)."""
    from sentence_transformers import SentenceTransformer

    model = load_any(name, **options)
    if not isinstance(model, SentenceTransformer):
        raise SbftError(
            f"'{name}' is a cross-encoder: it scores text pairs and makes no embeddings",
            fix="Use a bi-encoder (a sentence-transformers embedding model) here; "
            "`sbft eval` and `sbft similarity` also accept cross-encoders.",
        )
    return model


def check_device(device: str | None) -> None:
    """A clear error for a device that torch cannot parse or that this machine lacks."""
    if device is None:
        return
    import torch

    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError):
        raise SbftError(
            f"'{device}' is not a device", where="--device", fix="Use cpu, cuda, cuda:1 or mps."
        ) from None
    if parsed.type == "cuda" and not torch.cuda.is_available():
        raise SbftError("CUDA is not available on this machine", where="--device", fix="Use --device cpu.")
    if parsed.type == "mps" and not torch.backends.mps.is_available():
        raise SbftError("MPS is not available on this machine", where="--device", fix="Use --device cpu.")


def configure_threads(model: Any, threads: int, backend: str = "torch") -> None:
    """On CPU, run `threads` torch threads (sbft.backend.thread_count: physical cores by default).

    torch alone starts one thread per physical core of the host, which oversubscribes
    containers and pinned jobs. With an ONNX backend, onnxruntime gets the threads and torch
    one: torch then only pools and normalises, and its idle workers spinning beside
    onnxruntime's on the same cores cost a quarter of the throughput (all-MiniLM-L6-v2, 2
    cores: int8 at 440 texts/s with 2 torch threads, 550 with 1).
    """
    import torch

    if model.device.type == "cpu":
        torch.set_num_threads(threads if backend == "torch" else 1)


def _set_max_seq_length(model: Any, length: int) -> None:
    limit = getattr(getattr(model.transformers_model, "config", None), "max_position_embeddings", None)
    if isinstance(limit, int) and length > limit:
        raise SbftError(
            f"--max-seq-length {length} is longer than the model's {limit} positions",
            where="--max-seq-length",
            fix=f"Use at most {limit}.",
        )
    model.max_seq_length = length


# --- encoding ------------------------------------------------------------------------------


@dataclass
class EncodeOptions:
    """Arguments of SentenceTransformer.encode that sbft exposes."""

    batch_size: int = 32
    normalize: bool = False
    precision: str = "float32"
    truncate_dim: int | None = None
    prompt: str | None = None
    prompt_name: str | None = None

    def check(self) -> None:
        """Checks that need no model: run them before loading one."""
        if self.batch_size <= 0:
            raise SbftError("the batch size must be positive", where="--batch-size")
        if self.precision not in PRECISIONS:
            raise SbftError(
                f"unknown precision '{self.precision}'",
                where="--precision",
                fix=did_you_mean(self.precision, PRECISIONS),
            )
        if self.truncate_dim is not None and self.truncate_dim <= 0:
            raise SbftError("--truncate-dim must be positive", where="--truncate-dim")
        if self.prompt is not None and self.prompt_name is not None:
            raise SbftError(
                "--prompt and --prompt-name both give a prompt", fix="Pass one of them, not both."
            )

    def check_model(self, model: SentenceTransformer) -> None:
        dimension = model.get_embedding_dimension()
        if self.truncate_dim is not None and dimension and self.truncate_dim > dimension:
            raise SbftError(
                f"--truncate-dim {self.truncate_dim} is larger than the model's {dimension} dimensions",
                where="--truncate-dim",
                fix=f"Use at most {dimension} (Matryoshka models keep their quality at a power of two).",
            )
        if self.prompt_name is not None and self.prompt_name not in model.prompts:
            names = ", ".join(model.prompts) or "none"
            raise SbftError(
                f"the model has no prompt named '{self.prompt_name}' (its prompts: {names})",
                where="--prompt-name",
                fix=did_you_mean(self.prompt_name, model.prompts)
                if model.prompts
                else "Give the prompt text itself with --prompt.",
            )


class Encoder:
    """Embeds windows of texts with model.encode; every window is quantized the same way.

    A window is sorted by token count once and handed to model.encode `step` texts at a time:
    batches stay as full as in one big call, and the progress line moves between calls.
    model.encode itself sorts by characters, which pads a batch to its longest text in tokens:
    on 10,000 STSb sentences, sorting by tokens pads 23% fewer tokens (155k against 201k), for
    one extra pass of the fast tokenizer (about 1% of the encoding time).

    int8/uint8 quantization maps each dimension's range onto 256 buckets. The ranges come from
    the first window (up to WINDOW texts) and stay fixed for the rest of the stream, values
    outside them are clipped: an input that fits one window gets exactly what
    `model.encode(texts, precision=...)` returns, and a longer one is quantized consistently.
    """

    def __init__(
        self, model: SentenceTransformer, options: EncodeOptions, role: str = "text", step: int | None = None
    ) -> None:
        options.check()
        options.check_model(model)
        self.model = model
        self.options = options
        methods = {"text": model.encode, "query": model.encode_query, "document": model.encode_document}
        self._encode = methods[role]
        self.step = step or options.batch_size * 8
        """Texts per model.encode call: a few batches, so progress moves often."""
        self.calibration: np.ndarray | None = None
        """The first window's float embeddings: the int8/uint8 ranges of the whole stream."""
        self.seconds = 0.0
        self.count = 0

    def _token_counts(self, texts: list[str]) -> list[int]:
        """Tokens per text (characters for a model without a text tokenizer)."""
        tokenizer = getattr(self.model[0], "tokenizer", None) if len(self.model) else None
        if not callable(tokenizer) or not hasattr(tokenizer, "model_max_length"):
            return [len(text) for text in texts]
        limit = getattr(self.model, "max_seq_length", None)  # longer texts are truncated anyway
        ids = tokenizer(
            texts,
            add_special_tokens=False,
            truncation=isinstance(limit, int),
            max_length=limit if isinstance(limit, int) else None,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )["input_ids"]
        return [len(text_ids) for text_ids in ids]

    def encode(self, texts: list[str], progress: Callable[[int], None] | None = None) -> np.ndarray:
        """Embeddings of `texts`, in their order, at the requested precision."""
        import numpy as np
        from sentence_transformers.util import quantize_embeddings

        if not texts:
            return self.empty()
        started = time.perf_counter()
        order = np.argsort([-length for length in self._token_counts(texts)], kind="stable")
        result = None
        for start in range(0, len(texts), self.step):
            index = order[start : start + self.step]
            embeddings = self._encode(
                [texts[i] for i in index],
                batch_size=self.options.batch_size,
                normalize_embeddings=self.options.normalize,
                truncate_dim=self.options.truncate_dim,
                prompt=self.options.prompt,
                prompt_name=self.options.prompt_name,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
            if result is None:
                result = np.empty((len(texts), embeddings.shape[1]), dtype=embeddings.dtype)
            result[index] = embeddings
            if progress:
                progress(len(index))
        precision = self.options.precision
        if precision in ("int8", "uint8"):
            if self.calibration is None:
                if len(result) < 2:
                    raise SbftError(
                        f"{precision} quantization needs at least 2 texts to calibrate its ranges",
                        where="--precision",
                        fix="Encode more texts at once, or use float32 or binary.",
                    )
                self.calibration = result
            result = quantize_embeddings(result, precision, calibration_embeddings=self.calibration)
        elif precision != "float32":
            result = quantize_embeddings(result, precision)
        self.seconds += time.perf_counter() - started
        self.count += len(texts)
        return result

    def empty(self) -> np.ndarray:
        """Zero rows of the width and type this encoder produces (the output of empty input)."""
        import numpy as np
        from sentence_transformers.util import quantize_embeddings

        width = self.options.truncate_dim or self.model.get_embedding_dimension()
        return quantize_embeddings(np.zeros((0, width), dtype=np.float32), self.options.precision)


# --- reading -------------------------------------------------------------------------------


@dataclass
class TextSource:
    """Texts to embed: a text file (one per line), stdin ('-'), or a column of jsonl/csv/tsv/parquet."""

    path: str
    column: str | None = None
    replace_errors: bool = False
    """Replace bytes that are not UTF-8 with U+FFFD instead of stopping with an error."""

    @property
    def kind(self) -> str:
        if self.path == STDIN:
            return "text"
        return STRUCTURED_INPUTS.get(Path(self.path).suffix.lower(), "text")

    @property
    def label(self) -> str:
        return "stdin" if self.path == STDIN else self.path

    def check(self) -> None:
        if self.path != STDIN:
            path = Path(self.path)
            if not path.exists():
                raise SbftError(f"the input file '{self.path}' does not exist", fix="Check the path.")
            if path.is_dir():
                raise SbftError(f"'{self.path}' is a folder, not a file", fix="Name a file of texts.")
            if path.suffix.lower() == ".json":
                raise SbftError(
                    "a .json file cannot be streamed",
                    where=self.path,
                    fix="Write one JSON object per line to a .jsonl file and pass --column.",
                )
        if self.column is not None and self.kind == "text":
            raise SbftError(
                "--column applies to jsonl, csv, tsv and parquet input; a text file has one text per line",
                where=self.label,
            )

    def texts(self, stdin: IO[bytes] | None = None) -> Iterator[str]:
        """Every text, in order: one per line, or one per record for structured files."""
        self.check()
        if self.kind == "parquet":
            yield from self._parquet()
            return
        if self.path == STDIN:
            yield from self._read(stdin or sys.stdin.buffer)
            return
        with open(self.path, "rb") as stream:
            yield from self._read(stream)

    def _read(self, stream: IO[bytes]) -> Iterator[str]:
        lines = decoded_lines(stream, self.label, self.replace_errors)
        if self.kind == "text":
            for _, text in lines:
                yield text
        elif self.kind == "jsonl":
            yield from self._jsonl(lines)
        else:
            yield from self._csv(lines, "\t" if self.kind == "tsv" else ",")

    def _jsonl(self, lines: Iterable[tuple[int, str]]) -> Iterator[str]:
        for number, line in lines:
            if not line.strip():
                continue  # not a record (JSON Lines has none on a blank line)
            where = f"{self.label}, line {number}"
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SbftError(f"this line is not JSON ({exc.msg})", where=where) from None
            if not isinstance(record, dict):
                raise SbftError("each line must be a JSON object", where=where)
            yield self._text(record, list(record), where)

    def _csv(self, lines: Iterable[tuple[int, str]], delimiter: str) -> Iterator[str]:
        reader = csv.reader((line + "\n" for _, line in lines), delimiter=delimiter)
        header = next(reader, None)
        if header is None:
            return
        for row in reader:
            where = f"{self.label}, line {reader.line_num}"
            if len(row) != len(header):
                raise SbftError(
                    f"this row has {len(row)} fields, the header has {len(header)}",
                    where=where,
                    fix="Quote fields that contain the delimiter, or check the file's delimiter.",
                )
            yield self._text(dict(zip(header, row, strict=True)), header, where)

    def _parquet(self) -> Iterator[str]:
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.path)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise SbftError(f"cannot read it as parquet: {exc}", where=self.path) from None
        column = self._column(parquet.schema_arrow.names, self.path)
        row = 0
        for batch in parquet.iter_batches(batch_size=WINDOW, columns=[column]):
            for value in batch.column(0).to_pylist():
                row += 1
                yield self._check_text(value, f"{self.path}, row {row}")

    def _text(self, record: dict[str, Any], columns: list[str], where: str) -> str:
        return self._check_text(record[self._column(columns, where)], where)

    def _column(self, columns: list[str], where: str) -> str:
        if self.column is None:
            if len(columns) == 1:
                return columns[0]
            raise SbftError(
                f"which column holds the texts? The data has {', '.join(columns)}",
                where=where,
                fix="Name it with --column.",
            )
        if self.column not in columns:
            raise SbftError(
                f"there is no column '{self.column}' (columns: {', '.join(columns)})",
                where=where,
                fix=did_you_mean(self.column, columns),
            )
        return self.column

    def _check_text(self, value: Any, where: str) -> str:
        if not isinstance(value, str):
            raise SbftError(
                f"column '{self.column}' holds {value!r} here, not text",
                where=where,
                fix="Fill or drop rows without text: a row is never skipped, so output rows stay aligned.",
            )
        return value


def decoded_lines(stream: IO[bytes], label: str, replace_errors: bool) -> Iterator[tuple[int, str]]:
    """(line number, text) for each line, split on '\\n' only, without its '\\n' or '\\r\\n'.

    Invalid UTF-8 is an error that names the line, unless `replace_errors`. A UTF-8 byte-order
    mark at the start is dropped; a last line without a newline is still a line.
    """
    for number, raw in enumerate(stream, start=1):
        if raw.endswith(b"\n"):
            raw = raw[:-2] if raw.endswith(b"\r\n") else raw[:-1]
        if number == 1 and raw.startswith(codecs.BOM_UTF8):
            raw = raw[len(codecs.BOM_UTF8) :]
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            if not replace_errors:
                raise SbftError(
                    f"line {number} is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at byte "
                    f"{exc.start + 1} of the line)",
                    where=label,
                    fix="Convert the input to UTF-8 (e.g. iconv -f latin1 -t utf-8), or pass "
                    "--replace-errors to replace invalid bytes with U+FFFD.",
                ) from None
            text = raw.decode("utf-8", errors="replace")
        yield number, text


def windows(texts: Iterable[str], size: int = WINDOW) -> Iterator[list[str]]:
    """Consecutive lists of at most `size` texts."""
    window: list[str] = []
    for text in texts:
        window.append(text)
        if len(window) == size:
            yield window
            window = []
    if window:
        yield window


# --- writing -------------------------------------------------------------------------------


def output_format(path: str | None) -> str:
    """The format an output path asks for by its extension; stdout (None or '-') gets jsonl."""
    if path is None or path == STDIN:
        return "jsonl"
    suffix = Path(path).suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise SbftError(
            f"cannot tell the output format from '{path}'",
            where="--output",
            fix="End the file name with " + ", ".join(OUTPUT_FORMATS) + ".",
        )
    return OUTPUT_FORMATS[suffix]


class EmbeddingWriter:
    """Writes windows of rows as they come: .npy, .jsonl, .csv or .parquet, or jsonl on stdout.

    jsonl, csv and parquet rows carry id (the 0-based row number), text and the embedding; .npy
    holds the embeddings alone, row i for input row i. The row count of .npy is only known at
    the end: the header is written first and rewritten then (its size never changes).
    """

    def __init__(self, path: str | None, stdout: IO[bytes] | None = None) -> None:
        self.format = output_format(path)
        self.path = None if path in (None, STDIN) else Path(path)
        self.rows = 0
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
        self._stream.write(embeddings.tobytes())

    def _write_jsonl(self, texts: list[str], embeddings: np.ndarray) -> None:
        lines = [
            f'{{"id": {self.rows + i}, "text": {json.dumps(text, ensure_ascii=False)}, '
            f'"embedding": [{",".join(values)}]}}\n'
            for i, (text, values) in enumerate(zip(texts, _number_strings(embeddings), strict=True))
        ]
        self._stream.write("".join(lines).encode("utf-8"))

    def _write_csv(self, texts: list[str], embeddings: np.ndarray) -> None:
        numbers = _number_strings(embeddings)
        self._csv_rows([[self.rows + i, text, *numbers[i]] for i, text in enumerate(texts)])

    def _csv_rows(self, rows: list[list[Any]]) -> None:
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerows(rows)
        self._stream.write(buffer.getvalue().encode("utf-8"))

    def _write_parquet(self, texts: list[str], embeddings: np.ndarray) -> None:
        import numpy as np
        import pyarrow as pa

        columns = [
            pa.array(np.arange(self.rows, self.rows + len(texts), dtype=np.int64)),
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


# --- the encode pipeline -------------------------------------------------------------------


@dataclass
class EncodeStats:
    """What an encode run did. encode_s is model time only; stream_s adds reading and writing."""

    texts: int
    encode_s: float
    stream_s: float
    load_s: float = 0.0
    """Importing sentence-transformers and loading the model."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "load_s": round(self.load_s, 4),
            "encode_s": round(self.encode_s, 4),
            "stream_s": round(self.stream_s, 4),
            "encode_texts_per_s": round(self.texts / self.encode_s, 2) if self.encode_s else None,
            "stream_texts_per_s": round(self.texts / self.stream_s, 2) if self.stream_s else None,
        }


def encode_texts(
    encoder: Encoder,
    texts: Iterable[str],
    output: str | None,
    *,
    stdout: IO[bytes] | None = None,
    progress: bool | None = None,
    window: int = WINDOW,
) -> EncodeStats:
    """Embed `texts` into `output` (.npy, .jsonl, .csv, .parquet; None: jsonl on stdout).

    One window at a time is read, encoded and written before the next is read.
    """
    started = time.perf_counter()
    with Progress(enabled=progress) as bar, EmbeddingWriter(output, stdout=stdout) as writer:
        for chunk in windows(texts, window):
            writer.write(chunk, encoder.encode(chunk, progress=bar.advance))
        writer.close(encoder.empty())
    return EncodeStats(encoder.count, encoder.seconds, time.perf_counter() - started)


def encode_file(
    model: str,
    source: TextSource,
    output: str | None,
    options: EncodeOptions,
    *,
    overwrite: bool = False,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    progress: bool | None = None,
    **model_options: Any,
) -> EncodeStats:
    """`sbft encode`: check everything cheap, load the model, then stream `source` into `output`.

    `model_options` go to load_encoder (device, trust_remote_code, max_seq_length).
    """
    source.check()
    output_format(output)
    check_output(output, overwrite)
    options.check()
    started = time.perf_counter()
    encoder = Encoder(load_encoder(model, **model_options), options)
    load_s = time.perf_counter() - started
    stats = encode_texts(encoder, source.texts(stdin), output, stdout=stdout, progress=progress)
    stats.load_s = load_s
    return stats


class Progress:
    """Texts done and texts/s on stderr, only when stderr is a terminal (never on stdout)."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.enabled = sys.stderr.isatty() if enabled is None else enabled
        self._bar: Any = None

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import Progress as Bar
            from rich.progress import SpinnerColumn, TextColumn, TimeElapsedColumn

            self._bar = Bar(
                SpinnerColumn(),
                TextColumn("encoded {task.completed:,.0f} texts, {task.fields[rate]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task("encode", total=None, rate="")
            self._started = time.perf_counter()
        return self

    def advance(self, count: int) -> None:
        if self._bar is not None:
            done = self._bar.tasks[0].completed + count
            rate = done / max(time.perf_counter() - self._started, 1e-9)
            self._bar.update(self._task, completed=done, rate=f"{rate:,.0f} texts/s")

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# --- search and similarity -----------------------------------------------------------------


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
            where="--corpus-embeddings",
            fix="Choose a new file name for the cache, or delete the file.",
        )
    if not path.parent.is_dir():
        raise SbftError(f"the folder '{path.parent}' does not exist", where="--corpus-embeddings")


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
        raise SbftError(f"'{cache}' must end with .npy", where="--corpus-embeddings")
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


def model_folder(name: str) -> Path | None:
    """The folder a model loads from: a local folder, or a hub id's snapshot in the local cache."""
    from sbft.models import resolve_model_path

    folder = Path(resolve_model_path(model_location(name)))
    if not folder.is_dir():  # a hub id: its snapshot in the local cache, named by revision
        from huggingface_hub import try_to_load_from_cache

        cached = try_to_load_from_cache(name, "config.json")
        folder = Path(cached).parent if isinstance(cached, str) else folder
    return folder if folder.is_dir() else None


def model_identity(name: str, model: SentenceTransformer, options: EncodeOptions) -> dict[str, Any]:
    """What decides the embeddings: the model's files (names, sizes, times), backend and settings."""
    from sbft.backend import backend_of, weights_fingerprint

    folder = model_folder(name)
    return {
        "location": str(folder.resolve()) if folder else name,
        "files": weights_fingerprint(folder, name) if folder else None,
        "backend": backend_of(model),
        "max_seq_length": model.max_seq_length,
        **{key: getattr(options, key) for key in ("truncate_dim", "prompt", "prompt_name", "normalize")},
    }


def search_corpus(
    model: str,
    corpus: TextSource,
    queries: list[str],
    *,
    top_k: int = 10,
    cache: str | None = None,
    options: EncodeOptions | None = None,
    say: Callable[[str], None] = lambda message: None,
    **model_options: Any,
) -> list[tuple[str, list[Hit]]]:
    """`sbft search`: each query with its top_k corpus entries; the corpus embeddings cached in `cache`."""
    options = options or EncodeOptions()
    corpus.check()
    check_cache(cache)
    options.check()
    if top_k <= 0:
        raise SbftError("--top-k must be positive", where="--top-k")
    encoder = load_encoder(model, **model_options)
    texts = list(corpus.texts())
    vectors = corpus_embeddings(encoder, model, texts, options, cache, say)
    return list(zip(queries, search(encoder, texts, vectors, queries, options, top_k), strict=True))


def search(
    model: SentenceTransformer,
    corpus: list[str],
    corpus_vectors: np.ndarray,
    queries: list[str],
    options: EncodeOptions,
    top_k: int = 10,
) -> list[list[Hit]]:
    """The top_k corpus entries for each query by cosine similarity (util.semantic_search)."""
    import torch
    from sentence_transformers.util import semantic_search

    if top_k <= 0:
        raise SbftError("--top-k must be positive", where="--top-k")
    if not corpus or not queries:
        return [[] for _ in queries]
    query_vectors = Encoder(model, options, role="query").encode(queries)
    results = semantic_search(torch.from_numpy(query_vectors), torch.from_numpy(corpus_vectors), top_k=top_k)
    return [
        [
            Hit(rank=rank, id=hit["corpus_id"], score=hit["score"], text=corpus[hit["corpus_id"]])
            for rank, hit in enumerate(hits, start=1)
        ]
        for hits in results
    ]


def load_reranker(name: str, **options: Any) -> CrossEncoder:
    """Like load_any, for commands that score pairs with a cross-encoder."""
    from sentence_transformers import CrossEncoder

    model = load_any(name, **options)
    if not isinstance(model, CrossEncoder):
        raise SbftError(
            f"'{name}' is a bi-encoder: reranking needs a cross-encoder, which reads query and text together",
            fix="Train one with 'model.type: cross-encoder' (configs/reranker.yaml) and pass its run folder.",
        )
    return model


def rerank(model: CrossEncoder, query: str, candidates: list[str], top_k: int | None = None) -> list[Hit]:
    """The candidates ordered by the cross-encoder's score for (query, candidate), best first."""
    if top_k is not None and top_k <= 0:
        raise SbftError("--top-k must be positive", where="--top-k")
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


def similarity(model: SentenceTransformer | CrossEncoder, first: str, second: str) -> float:
    """Cosine similarity of the two texts' embeddings; a cross-encoder's own score for the pair."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.util import cos_sim

    if not isinstance(model, SentenceTransformer):
        return float(model.predict([(first, second)], show_progress_bar=False)[0])
    embeddings = model.encode([first, second], convert_to_tensor=True, show_progress_bar=False)
    return float(cos_sim(embeddings[0:1], embeddings[1:2])[0, 0])
