"""`sbft encode`: a stream of texts in, a file of embeddings out, one window at a time.

Texts are read a window at a time (WINDOW texts), sorted by token count inside the window so
batches carry little padding, encoded, put back in input order and written before the next
window is read. Memory therefore holds one window of texts and embeddings, whatever the input's
size, and output row i is always input row i. Duplicates are encoded again, and texts longer than
the model's max_seq_length are truncated to it (by tokens).
"""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import IO, Any

from sbft.errors import SbftError
from sbft.files import STDIN, check_output, refuse_output_in_folders
from sbft.inference.corpus import CorpusProgress, EmbeddingFile, corpus_key, counted_hash
from sbft.inference.encoder import EncodeOptions, Encoder
from sbft.inference.loading import load_encoder
from sbft.inference.locations import local_model_folders
from sbft.inference.shards import Shard
from sbft.inference.sources import WINDOW, TextSource, windows
from sbft.inference.writers import EmbeddingWriter, output_format


@dataclass
class EncodeStats:
    """What an encode run did. encode_s is model time only; stream_s adds reading and writing."""

    texts: int
    encode_s: float
    stream_s: float
    load_s: float = 0.0
    """Importing sentence-transformers and loading the model."""
    width: int = 0
    """Values per output row: the embedding's dimensions (a byte per 8 of them when binary)."""
    dtype: str = "float32"

    def to_dict(self) -> dict[str, Any]:
        return {
            "texts": self.texts,
            "width": self.width,
            "dtype": self.dtype,
            "load_s": round(self.load_s, 4),
            "encode_s": round(self.encode_s, 4),
            "stream_s": round(self.stream_s, 4),
            "encode_texts_per_s": round(self.texts / self.encode_s, 2) if self.encode_s else None,
            "stream_texts_per_s": round(self.texts / self.stream_s, 2) if self.stream_s else None,
        }

    def summary(self, output: str) -> str:
        """One line for the end of `sbft encode`: rows, width, where they went, speed."""
        rows = "row" if self.texts == 1 else "rows"
        rate = f", {self.texts / self.stream_s:,.0f} texts/s" if self.texts and self.stream_s else ""
        return f"encoded {self.texts:,} {rows} x {self.width} {self.dtype} -> {output}{rate}"


def encode_texts(
    encoder: Encoder,
    texts: Iterable[str],
    output: str | None,
    *,
    stdout: IO[bytes] | None = None,
    progress: bool | None = None,
    window: int = WINDOW,
    first_id: int = 0,
    report: Any = None,
    written: Callable[[EmbeddingWriter], None] | None = None,
    writer_class: Callable[..., Any] = EmbeddingWriter,
) -> EncodeStats:
    """Embed `texts` into `output` (.npy, .jsonl, .csv, .parquet; None: jsonl on stdout).

    One window at a time is read, encoded and written before the next is read. Row ids start at
    `first_id`; `report` (a CorpusProgress) replaces the terminal-only counter; `written` is
    called with the writer once the output is complete and in place. `writer_class`: a sparse
    encoder's rows go to sbft.inference.sparse.SparseWriter.
    """
    started = time.perf_counter()
    bar = report or Progress(enabled=progress)
    with bar, writer_class(output, stdout=stdout, first_id=first_id) as writer:
        for chunk in windows(texts, window):
            writer.write(chunk, encoder.encode(chunk, progress=bar.advance))
        empty = encoder.empty()
        writer.close(empty)
    if written is not None:
        written(writer)
    elapsed = time.perf_counter() - started
    return EncodeStats(encoder.count, encoder.seconds, elapsed, width=empty.shape[1], dtype=str(empty.dtype))


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
    shard: Shard | None = None,
    devices: list[str] | None = None,
    window: int = WINDOW,
    **model_options: Any,
) -> EncodeStats:
    """`sbft encode`: check everything cheap, load the model, then stream `source` into `output`.

    `model_options` go to load_encoder (device, trust_remote_code, max_seq_length). `shard`
    encodes only its rows (sbft.inference.shards); `devices` spreads the batches over
    sentence-transformers' multi-process pool.
    """
    source.check()
    from sbft.inference.sparse import is_sparse_model

    sparse = is_sparse_model(model)
    if sparse:
        _check_sparse(output, options, shard, devices, model_options)
    else:
        output_format(output)
    check_output(output, overwrite, inputs=[source.path])
    refuse_output_in_folders(output, local_model_folders([model]))
    options.check()
    if shard is not None:
        _check_shardable(source, options)
    if devices is not None:
        _check_pool(model_options)
    started = time.perf_counter()
    loaded = load_encoder(model, **model_options)
    pool = loaded.start_multi_process_pool(target_devices=devices) if devices else None
    try:
        encoder, writer_class = _encoder_for(loaded, options, pool, sparse)
        load_s = time.perf_counter() - started
        if shard is None:
            stats = encode_texts(
                encoder,
                source.texts(stdin),
                output,
                stdout=stdout,
                progress=progress,
                window=window,
                report=_file_report(source, progress),
                writer_class=writer_class,
            )
        else:
            stats = _encode_shard(encoder, model, source, output, shard, stdout, progress, window)
    finally:
        if pool is not None:
            loaded.stop_multi_process_pool(pool)
    stats.load_s = load_s
    return stats


def _check_sparse(
    output: str | None,
    options: EncodeOptions,
    shard: Shard | None,
    devices: list[str] | None,
    model_options: dict[str, Any],
) -> None:
    from sbft.inference.sparse import check_sparse_options, sparse_output_format

    sparse_output_format(output)
    check_sparse_options(options, model_options.get("backend", "torch"))
    for flag, given in (("--shard", shard), ("--devices", devices)):
        if given is not None:
            raise SbftError(
                f"{flag} is for dense embeddings; a sparse encoder encodes in one process", where=flag
            )


def _encoder_for(loaded: Any, options: EncodeOptions, pool: Any, sparse: bool) -> tuple[Any, Any]:
    """The encoder and the writer of a model's rows: dense arrays, or a sparse encoder's CSR rows."""
    if not sparse:
        return Encoder(loaded, options, pool=pool), EmbeddingWriter
    import functools

    from sbft.inference.sparse import SparseRowEncoder, SparseWriter, dimension_keys

    return SparseRowEncoder(loaded, options), functools.partial(SparseWriter, keys=dimension_keys(loaded))


def _file_report(source: TextSource, progress: bool | None) -> CorpusProgress | None:
    """For a file: a progress report over its row count (counted first, a read without encoding),
    as a bar on a terminal and a line every 10% in a log. None for stdin, or with progress False."""
    if source.path == STDIN or progress is False:
        return None
    total = sum(1 for _ in source.texts())
    return CorpusProgress(f"encoding {source.label}", total, progress, noun="texts")


def _check_shardable(source: TextSource, options: EncodeOptions) -> None:
    if source.path == STDIN:
        raise SbftError(
            "--shard needs the input's row count, and standard input can be read only once",
            where="shard",
            fix="Give the texts as a file: every shard job reads the same file.",
        )
    if options.precision in ("int8", "uint8"):
        raise SbftError(
            f"--shard with --precision {options.precision}: each shard would calibrate its own ranges",
            where="shard",
            fix="Encode shards as float32 (or binary) and quantize the whole corpus afterwards.",
        )


def _check_pool(model_options: dict[str, Any]) -> None:
    if model_options.get("device") is not None:
        raise SbftError("--device and --devices both choose devices", fix="Pass one of them.")
    if model_options.get("backend", "torch") != "torch":
        raise SbftError(
            "--devices runs sentence-transformers' multi-process pool, which needs --backend torch",
            where="devices",
        )


def _encode_shard(
    encoder: Encoder,
    name: str,
    source: TextSource,
    output: str | None,
    shard: Shard,
    stdout: IO[bytes] | None,
    progress: bool | None,
    window: int,
) -> EncodeStats:
    """Count and hash every row (one pass), then encode rows [start, stop) of the shard; a .npy
    output gets a sidecar naming the shard and the whole corpus's key, for `sbft search`."""
    content = counted_hash(source.texts())
    start, stop = shard.rows(content[1], window)
    report = CorpusProgress(
        f"encoding shard {shard} (rows {start:,} to {stop:,})", stop - start, progress, noun="texts"
    )

    def sidecar(writer: EmbeddingWriter) -> None:
        if writer.format != "npy" or writer.path is None:
            return
        key = corpus_key(encoder.model, None, encoder.options, "text", name, content=content)
        extra = {"shard": {"index": shard.index, "count": shard.count, "start": start, "stop": stop}}
        EmbeddingFile(writer.path).write_record(
            (writer.rows, writer.width), writer.digest.hexdigest(), key, "sbft encode", **extra
        )

    texts = itertools.islice(source.texts(), start, stop)
    return encode_texts(
        encoder, texts, output, stdout=stdout, window=window, first_id=start, report=report, written=sidecar
    )


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
