"""Corpus embeddings: encoded once per model and corpus, kept on disk, checked when read, searched in chunks.

Every corpus encode of sbft goes through here: `sbft search` (its --corpus-embeddings file or
folder of shards), mining hard negatives, and the retrieval evaluations of `sbft train`. An
entry is keyed by what decides the embeddings (`corpus_key`): the model's weights (a digest of
every tensor, or its files for a torch-free encoder), its modules and max_seq_length, the
prompt that applies, truncate_dim and normalize, the library versions and device type, and a
hash of the corpus texts in order. The .npy file has a JSON sidecar (FILE.npy.json) holding the
key, the shape, the dtype and a digest of the array's bytes; a read checks all of them, and an
entry that fails any check is encoded again with a one-line warning, never used.

The cache lives in sbft's cache folder (`cache_root()/corpus`, $SBFT_CACHE); SBFT_NO_CACHE=1
or `--no-cache` neither reads nor writes it, as for the baseline cache. Entries are float32, a
row per text: 1.5 GB for 1M x 384. Reads go a chunk at a time into one array (no second copy),
and `top_k_cosine` scores a corpus chunk at a time, so search and mining stay within a few GB.
Over 400 lines and kept one module on purpose: one place for the encode and its cache, so that
no second copy of it grows elsewhere.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft.errors import SbftError
from sbft.files import atomic_file, cache_root, write_json
from sbft.inference.encoder import EncodeOptions, Encoder

if TYPE_CHECKING:
    import numpy as np

FORMAT = 1
"""Part of every key: a change in what is cached, or how, makes older entries unreachable."""
NO_CACHE_VARIABLE = "SBFT_NO_CACHE"
CACHE_FOLDER = "corpus"
READ_ROWS = 16384
"""Rows read (and hashed) at a time: 24 MB at 384 float32 dimensions."""
SCORE_BYTES = 2**25
"""The score block of top_k_cosine: 32 MB of float32 (and its int64 ranks), whatever the corpus size."""
_PROMPT_CANDIDATES = {"query": ("query",), "document": ("document", "passage", "corpus"), "text": ()}


def warn(message: str) -> None:
    """The default `say`: one line on stderr."""
    print(message, file=sys.stderr, flush=True)


def cache_enabled() -> bool:
    """False when SBFT_NO_CACHE is set (to anything but 0 or empty), as for the baseline cache."""
    return os.environ.get(NO_CACHE_VARIABLE, "") in ("", "0")


# --- keys ----------------------------------------------------------------------------------------


def corpus_hash(texts: Iterable[str]) -> str:
    """sha256 of the texts in order (each JSON-quoted: newlines and boundaries are unambiguous)."""
    digest = hashlib.sha256()
    for text in texts:
        digest.update(json.dumps(text).encode("utf-8") + b"\n")
    return digest.hexdigest()


def effective_prompt(model: Any, role: str, prompt: str | None, prompt_name: str | None) -> str | None:
    """The prompt text that encode / encode_query / encode_document put before each text."""
    if prompt is not None:
        return prompt or None
    prompts = getattr(model, "prompts", None) or {}
    if prompt_name is None:
        prompt_name = next((name for name in _PROMPT_CANDIDATES[role] if name in prompts), None)
    if prompt_name is None:
        prompt_name = getattr(model, "default_prompt_name", None)
    return (prompts.get(prompt_name) if prompt_name else None) or None  # '' is no prompt


def model_identity(
    model: Any, options: EncodeOptions, role: str = "document", name: str | None = None
) -> dict[str, Any]:
    """What decides a model's embeddings of a text: weights, modules, length, prompt, settings, versions.

    Not the device: shards encoded on GPUs are searched on a CPU (they differ by rounding only).

    `name` (the path or hub id the model was loaded from) adds its files' fingerprint, the
    only identity a torch-free encoder (LiteEncoder) has.
    """
    from importlib.metadata import PackageNotFoundError, version

    torch_model = hasattr(model, "state_dict") and callable(model.state_dict)
    versions = {}
    for package in ("sentence-transformers", "transformers", "torch", "onnxruntime"):
        try:
            versions[package] = version(package).split("+")[0]  # 2.13.0+cpu and +cu124 alike
        except PackageNotFoundError:
            versions[package] = None
    modules = [type(module).__name__ for module in model] if torch_model else []
    return {
        "weights": _weights(model) if torch_model else None,
        "files": _files(name),
        "modules": repr(model) if torch_model else type(model).__name__,
        "backend": backend_name(model),
        "max_seq_length": getattr(model, "max_seq_length", None),
        "prompt": effective_prompt(model, role, options.prompt, options.prompt_name),
        "task": role if "Router" in modules else None,
        "truncate_dim": options.truncate_dim,
        "normalize": options.normalize,
        "versions": versions,
    }


def backend_name(model: Any) -> str:
    """torch, onnx or onnx-int8: either path (torch or torch-free) names the same backend the same."""
    from sbft.inference.lite import LiteEncoder

    if isinstance(model, LiteEncoder):
        return model.onnx_backend
    from sbft.inference.onnx import backend_of

    return backend_of(model)


def _weights(model: Any) -> str | None:
    from sbft.models import weights_checksum

    return weights_checksum(model) if next(iter(model.state_dict()), None) is not None else None


def _files(name: str | None) -> str | None:
    from sbft.files import folder_fingerprint
    from sbft.inference.locations import model_folder

    folder = model_folder(name) if name else None
    return folder_fingerprint(folder, skip=("onnx",)) if folder else None


@dataclass(frozen=True)
class CorpusKey:
    """One corpus encoded by one model: `digest` names the entry, `identity` says what went in."""

    identity: dict[str, Any]
    rows: int

    @property
    def digest(self) -> str:
        return hashlib.sha256(json.dumps(self.identity, sort_keys=True, default=str).encode()).hexdigest()


def corpus_key(
    model: Any,
    texts: Sequence[str] | None,
    options: EncodeOptions | None = None,
    role: str = "document",
    name: str | None = None,
    *,
    content: tuple[str, int] | None = None,
) -> CorpusKey:
    """The key of `texts` encoded by `model` (with `options`, as `role`); `content`, the texts'
    (corpus_hash, count) when they were hashed as they streamed by, stands for `texts`."""
    options = options or EncodeOptions()
    sha256, rows = content if content is not None else (corpus_hash(texts or ()), len(texts or ()))
    identity = {
        "format": FORMAT,
        "corpus": {"sha256": sha256, "rows": rows},
        "model": model_identity(model, options, role, name),
    }
    return CorpusKey(identity, rows)


def counted_hash(texts: Iterable[str]) -> tuple[str, int]:
    """(corpus_hash, count) of a stream of texts, in one pass."""
    count = 0

    def counting() -> Iterable[str]:
        nonlocal count
        for text in texts:
            count += 1
            yield text

    return corpus_hash(counting()), count


# --- entries on disk -----------------------------------------------------------------------------


class StaleEntry(Exception):
    """An entry that cannot be used; the message says why, in a few words."""


@dataclass(order=True)
class EmbeddingFile:
    """A .npy of float32 rows and its sidecar (FILE.npy.json): key, shape, dtype, digest of the bytes."""

    path: Path

    @property
    def sidecar(self) -> Path:
        return self.path.with_name(self.path.name + ".json")

    def record(self) -> dict[str, Any]:
        """The sidecar's content; StaleEntry when missing or unreadable."""
        try:
            record = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise StaleEntry(f"{self.sidecar.name} is missing") from None
        except (OSError, ValueError):
            raise StaleEntry(f"{self.sidecar.name} is unreadable") from None
        if not isinstance(record, dict) or not {"key", "rows", "dim", "dtype", "blake2b"} <= record.keys():
            raise StaleEntry(f"{self.sidecar.name} lacks the key, shape or checksum")
        return record

    def load(
        self, key: CorpusKey | None = None, into: np.ndarray | None = None, start: int = 0
    ) -> np.ndarray:
        """The rows, checked against the sidecar (shape, dtype, bytes) and `key` when given.

        With `into`, the rows are read into `into[start:start + rows]` (shards into one array).
        Raises StaleEntry, saying why, on any mismatch: a missing, truncated or changed file.
        """
        import numpy as np

        record = self._checked_record(key)
        rows, dim = record["rows"], record["dim"]
        target = np.empty((rows, dim), np.float32) if into is None else into[start : start + rows]
        if target.shape != (rows, dim):
            raise StaleEntry(f"it holds {rows:,} x {dim} values where {target.shape} were expected")
        self._stream(record, lambda begin, count: target[begin : begin + count])
        return target if into is None else into

    def load_rows(self, key: CorpusKey, rows: np.ndarray, unit: bool = False) -> np.ndarray:
        """The entry's rows `rows` (-1: a zero row, for the caller to fill), read a block at a time:
        memory holds the result and one block, never the whole entry. `unit` scales rows to length 1."""
        import numpy as np

        record = self._checked_record(key)
        result = np.zeros((len(rows), record["dim"]), np.float32)
        order = np.argsort(rows, kind="stable")
        wanted = rows[order]
        buffer = np.empty((min(READ_ROWS, record["rows"]), record["dim"]), np.float32)

        def scatter(begin: int, block: np.ndarray) -> None:
            low, high = np.searchsorted(wanted, [begin, begin + len(block)])
            result[order[low:high]] = block[wanted[low:high] - begin]

        self._stream(record, lambda begin, count: buffer[:count], scatter)
        return unit_rows_in_place(result) if unit else result

    def _checked_record(self, key: CorpusKey | None) -> dict[str, Any]:
        record = self.record()
        if key is not None and record["key"] != key.digest:
            raise StaleEntry(_changed(record.get("identity"), key.identity))
        if key is not None and record["rows"] != key.rows:
            raise StaleEntry(f"it holds {record['rows']:,} rows for a corpus of {key.rows:,}")
        if record["dtype"] != "float32":
            raise StaleEntry(f"its dtype is {record['dtype']}, not float32")
        return record

    def _stream(
        self,
        record: dict[str, Any],
        block_for: Callable[[int, int], np.ndarray],
        then: Callable[[int, np.ndarray], None] | None = None,
    ) -> None:
        """Read the rows a block at a time into `block_for(begin, count)`, hashing them; `then` sees
        each block. Raises StaleEntry at the end when the bytes are not those the sidecar hashed."""
        rows, dim = record["rows"], record["dim"]
        digest = hashlib.blake2b(digest_size=16)
        try:
            with open(self.path, "rb") as stream:
                self._check_header(stream, rows, dim)
                for begin in range(0, rows, READ_ROWS):
                    block = block_for(begin, min(READ_ROWS, rows - begin))
                    view = memoryview(block).cast("B")
                    if stream.readinto(view) != view.nbytes:
                        raise StaleEntry(f"{self.path.name} is truncated")
                    digest.update(view)
                    if then is not None:
                        then(begin, block)
                if stream.read(1):
                    raise StaleEntry(f"{self.path.name} has bytes past its {rows:,} rows")
        except OSError as exc:
            raise StaleEntry(f"{self.path.name} is unreadable ({exc.strerror or exc})") from None
        if digest.hexdigest() != record["blake2b"]:
            raise StaleEntry(f"the content of {self.path.name} does not match its checksum")

    def _check_header(self, stream: Any, rows: int, dim: int) -> None:
        import numpy as np
        from numpy.lib import format as npy

        try:
            major, _ = npy.read_magic(stream)
            reader = npy.read_array_header_1_0 if major == 1 else npy.read_array_header_2_0
            shape, fortran, dtype = reader(stream)
        except (ValueError, OSError, EOFError):
            raise StaleEntry(f"{self.path.name} is not a readable .npy file") from None
        if shape != (rows, dim) or fortran or dtype != np.dtype("<f4"):
            raise StaleEntry(f"{self.path.name} holds {shape} {dtype}, not ({rows}, {dim}) float32")

    def save(self, embeddings: np.ndarray, key: CorpusKey | None, written_by: str, **extra: Any) -> None:
        """Write the rows, then the sidecar (last: an entry with a sidecar is complete)."""
        import numpy as np

        embeddings = np.ascontiguousarray(embeddings, dtype=np.float32)
        digest = hashlib.blake2b(digest_size=16)
        with atomic_file(self.path) as stream:
            np.lib.format.write_array_header_1_0(
                stream, {"descr": "<f4", "fortran_order": False, "shape": embeddings.shape}
            )
            for begin in range(0, len(embeddings), READ_ROWS):
                view = memoryview(embeddings[begin : begin + READ_ROWS]).cast("B")
                digest.update(view)
                stream.write(view)
        self.write_record(embeddings.shape, digest.hexdigest(), key, written_by, **extra)

    def write_record(
        self, shape: tuple[int, ...], blake2b: str, key: CorpusKey | None, written_by: str, **extra: Any
    ) -> None:
        """The sidecar of rows already written: their shape, the digest of their bytes, the key."""
        record = {
            "written_by": written_by,
            "key": key.digest if key else None,
            "identity": key.identity if key else None,
            "rows": int(shape[0]),
            "dim": int(shape[1]),
            "dtype": "float32",
            "blake2b": blake2b,
            "created": time.strftime("%Y-%m-%d %H:%M:%S"),
            **extra,
        }
        write_json(self.sidecar, record)


def load_shards(folder: Path, key: CorpusKey) -> np.ndarray:
    """The rows of a folder of `sbft encode --shard i/N` outputs (each FILE.npy with its sidecar),
    in row order, as one array: every shard of the same key, together exactly the corpus's rows.

    Raises StaleEntry, saying why, when a shard is missing, damaged or from another corpus or model.
    """
    import numpy as np

    files = sorted(EmbeddingFile(path) for path in folder.glob("*.npy"))
    if not files:
        raise StaleEntry(f"{folder} holds no .npy file")
    shards = []
    for file in files:
        record = file.record()
        if record["key"] != key.digest:
            raise StaleEntry(f"{file.path.name}: {_changed(record.get('identity'), key.identity)}")
        shard = record.get("shard") or {"start": 0, "stop": record["rows"], "count": 1, "index": 0}
        shards.append((shard["start"], shard["stop"], file, record))
    shards.sort(key=lambda item: (item[0], item[1]))
    expected = 0
    for start, stop, file, record in shards:
        if start != expected or stop - start != record["rows"]:
            raise StaleEntry(f"rows {expected:,} onwards are missing or doubled at {file.path.name}")
        expected = stop
    if expected != key.rows:
        raise StaleEntry(f"the shards hold rows 0 to {expected:,} of {key.rows:,}")
    embeddings = np.empty((key.rows, shards[0][3]["dim"]), np.float32)
    for start, _, file, _ in shards:
        file.load(None, into=embeddings, start=start)
    return embeddings


def _changed(saved: Any, identity: dict[str, Any]) -> str:
    """Which part of the key differs: the corpus, or the model or one of its settings."""
    if not isinstance(saved, dict):
        return "it was written for another key"
    if saved.get("corpus") != identity["corpus"]:
        return "the corpus changed since it was written"
    model = saved.get("model") or {}
    changed = [name for name, value in identity["model"].items() if model.get(name) != value]
    return f"the model's {', '.join(changed) or 'identity'} changed since it was written"


# --- progress ------------------------------------------------------------------------------------


class CorpusProgress:
    """A labelled progress report for one corpus encode, on stderr.

    On a terminal, a bar with documents/s and the time left; in a log or a pipe, a plain line
    at every 10% ("evaluating dev: 12,000 of 18,821 documents encoded, 1 min left") and no
    carriage returns.
    """

    def __init__(
        self, label: str, total: int, enabled: bool | None = None, stream: Any = None, noun: str = "documents"
    ) -> None:
        self.label, self.total, self.done, self.noun = label, total, 0, noun
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty() if enabled is None else enabled
        self._bar: Any = None
        self._next_tenth = 1
        self._started = time.perf_counter()

    def __enter__(self) -> CorpusProgress:
        self._started = time.perf_counter()
        if self.terminal and self.total:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(
                TextColumn(f"{self.label}"),
                BarColumn(),
                TextColumn(
                    "{task.completed:,.0f} of {task.total:,.0f} " + self.noun + ", {task.fields[rate]}"
                ),
                TimeRemainingColumn(),
                console=Console(file=self.stream),
                transient=True,
            )
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=self.total, rate="")
        return self

    def advance(self, count: int) -> None:
        self.done += count
        elapsed = max(time.perf_counter() - self._started, 1e-9)
        if self._bar is not None:
            self._bar.update(
                self._task, completed=self.done, rate=f"{self.done / elapsed:,.0f} {self.noun}/s"
            )
            return
        if not self.total or self.done * 10 < self._next_tenth * self.total:
            return
        while self.done * 10 >= self._next_tenth * self.total:
            self._next_tenth += 1
        if self.done >= self.total:
            tail = f" in {duration(elapsed)}"
        else:
            tail = f", {duration(elapsed * (self.total - self.done) / self.done)} left"
        print(
            f"{self.label}: {self.done:,} of {self.total:,} {self.noun} encoded{tail}",
            file=self.stream,
            flush=True,
        )

    def __exit__(self, *exc_info: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def duration(seconds: float) -> str:
    """'45 s', '3 min', '1 h 20 min': as precise as a time left needs to be."""
    if seconds < 60:
        return f"{max(seconds, 0):.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60)} min"


def encode_corpus(
    model: Any,
    texts: Sequence[str],
    options: EncodeOptions | None = None,
    *,
    role: str = "document",
    label: str | None = "encoding the corpus",
    progress: bool | None = None,
    noun: str = "documents",
    twin: bool = False,
) -> np.ndarray:
    """`texts` encoded (token-sorted windows of Encoder), with a progress report labelled `label`
    (None: no report; `progress` True/False: a bar or plain lines, None: a bar on a terminal).

    `twin`: a large corpus on a CPU torch model is encoded by an ONNX export of the model's current
    weights (sbft.inference.onnx.onnx_twin): 1.1-2.4x as fast, the same embeddings within 1e-5.
    """
    encoder = Encoder(model, options or EncodeOptions(), role=role)
    with contextlib.ExitStack() as stack:
        if twin:
            from sbft.inference.onnx import onnx_twin

            stack.enter_context(onnx_twin(model, len(texts), warn))
        if label is None:
            return encoder.encode(list(texts))
        report = stack.enter_context(CorpusProgress(label, len(texts), enabled=progress, noun=noun))
        return encoder.encode(list(texts), progress=report.advance)


def document_embedder(
    cache: CorpusCache, label: str, *, batch_size: int = 32, store: bool = True, keep: bool = True
) -> Callable[[Any, Sequence[str], str | None, str | None], np.ndarray]:
    """For a retrieval evaluator: (model, corpus texts, prompt_name, prompt) -> their float32
    embeddings at full size, through `cache` (`store`: on disk too; for the base model only)."""

    def embed(model: Any, texts: Sequence[str], prompt_name: str | None, prompt: str | None) -> np.ndarray:
        options = EncodeOptions(batch_size=batch_size, prompt=prompt, prompt_name=prompt_name)
        return cache.embeddings(model, texts, options, role="document", label=label, store=store, keep=keep)

    return embed


# --- the cache -----------------------------------------------------------------------------------


@dataclass
class CorpusCache:
    """Corpus embeddings kept between runs (on disk under `folder`) and within one (in memory).

    One instance per run: mining and each evaluation of the base model then share one encode,
    on disk across runs and in memory even with the disk cache off (`read`/`write` False).
    """

    folder: Path | None = None
    read: bool = True
    write: bool = True
    say: Callable[[str], None] = warn
    twin: bool = False
    """Encode large corpora through an ONNX twin of the model (encode_corpus's `twin`)."""
    _memory: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    @classmethod
    def default(cls, use_disk: bool = True, say: Callable[[str], None] = warn) -> CorpusCache:
        """sbft's cache folder, unless `use_disk` is False (--no-cache) or SBFT_NO_CACHE is set."""
        on = use_disk and cache_enabled()
        return cls(cache_root() / CACHE_FOLDER, read=on, write=on, say=say)

    def entry(self, key: CorpusKey) -> EmbeddingFile | None:
        return EmbeddingFile(self.folder / f"{key.digest[:32]}.npy") if self.folder else None

    def embeddings(
        self,
        model: Any,
        texts: Sequence[str],
        options: EncodeOptions | None = None,
        *,
        role: str = "document",
        label: str | None = "encoding the corpus",
        name: str | None = None,
        store: bool = True,
        keep: bool = True,
        progress: bool | None = None,
    ) -> np.ndarray:
        """float32 embeddings of `texts`, a row per text: from memory, from disk, or encoded.

        `store` False neither reads nor writes the disk (a model that is being trained); `keep`
        False does not hold the array in memory for the next caller. The caller must not modify
        the array it gets (it may be shared). `label` names the stage in the progress report and
        the cache's notes (None: no progress report).
        """
        options = _checked(options)
        key = corpus_key(model, texts, options, role, name)
        if key.digest in self._memory:
            return self._memory[key.digest]
        entry = self.entry(key) if store else None
        embeddings = self._read(entry, key, label) if entry is not None else None
        if embeddings is None:
            embeddings = self._encode(model, texts, options, role, label, progress, entry, key)
        if keep:
            self._memory = {key.digest: embeddings}  # the last corpus only: 1.5 GB at 1M x 384
        return embeddings

    def select(
        self,
        model: Any,
        texts: Sequence[str],
        rows: np.ndarray,
        options: EncodeOptions | None = None,
        *,
        role: str = "document",
        label: str | None = "encoding the corpus",
        progress: bool | None = None,
    ) -> np.ndarray:
        """Unit-length embeddings of texts[rows] (row -1: a zero row for the caller to fill), float32.

        Memory holds the result and little else: a disk entry is read a block at a time, and a
        corpus encoded here is written to disk and read back that way (not held twice).
        """
        options = _checked(options)
        key = corpus_key(model, texts, options, role)
        if key.digest in self._memory:
            return gather_unit_rows(self._memory[key.digest], rows)
        entry = self.entry(key)
        found = self._read(entry, key, label, rows) if entry is not None else None
        if found is not None:
            return found
        embeddings = self._encode(model, texts, options, role, label, progress, entry, key)
        if entry is not None and self.write and entry.sidecar.exists():
            del embeddings  # read back a block at a time: the corpus is never in memory twice
            with contextlib.suppress(StaleEntry):
                return entry.load_rows(key, rows, unit=True)
            embeddings = encode_corpus(
                model, texts, options, role=role, label=label, progress=progress, twin=self.twin
            )
        else:
            self._memory = {key.digest: embeddings}  # no disk: the next caller shares it from memory
        return gather_unit_rows(embeddings, rows)

    def forget(self) -> None:
        """Drop the arrays held in memory."""
        self._memory.clear()

    def _read(
        self, entry: EmbeddingFile, key: CorpusKey, label: str | None, rows: np.ndarray | None = None
    ) -> np.ndarray | None:
        """The entry's rows (all, or unit-length `rows`), or None (said why when it exists but fails)."""
        label = label or "corpus embeddings"
        if not self.read or (not entry.path.exists() and not entry.sidecar.exists()):
            return None
        try:
            embeddings = entry.load(key) if rows is None else entry.load_rows(key, rows, unit=True)
        except StaleEntry as reason:
            self.say(
                f"{label}: the cached corpus embeddings {entry.path} are not used ({reason}); encoding again"
            )
            return None
        self.say(f"{label}: corpus embeddings read from the cache ({key.rows:,} documents)")
        return embeddings

    def _encode(
        self,
        model: Any,
        texts: Sequence[str],
        options: EncodeOptions,
        role: str,
        label: str | None,
        progress: bool | None,
        entry: EmbeddingFile | None,
        key: CorpusKey,
    ) -> np.ndarray:
        embeddings = encode_corpus(
            model, texts, options, role=role, label=label, progress=progress, twin=self.twin
        )
        if entry is not None and self.write:
            self._write(entry, embeddings, key)
        return embeddings

    def _write(self, entry: EmbeddingFile, embeddings: np.ndarray, key: CorpusKey) -> None:
        try:
            entry.path.parent.mkdir(parents=True, exist_ok=True)
            entry.save(embeddings, key, "sbft")
        except OSError as exc:  # a cache that cannot be written only costs the next run its time
            self.say(f"the corpus embeddings were not cached in {entry.path.parent}: {exc.strerror or exc}")


def _checked(options: EncodeOptions | None) -> EncodeOptions:
    options = options or EncodeOptions()
    if options.precision != "float32":
        raise SbftError("corpus embeddings are cached as float32", where="precision")
    return options


# --- search --------------------------------------------------------------------------------------


def unit_rows(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 in float32 (util.normalize_embeddings; zero rows stay zero)."""
    import numpy as np

    vectors = np.asarray(vectors, dtype=np.float32)
    return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)


def unit_rows_in_place(vectors: np.ndarray) -> np.ndarray:
    """`vectors` (float32) scaled to length 1 a block at a time, in place."""
    for begin in range(0, len(vectors), READ_ROWS):
        vectors[begin : begin + READ_ROWS] = unit_rows(vectors[begin : begin + READ_ROWS])
    return vectors


def gather_unit_rows(source: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Unit-length copies of source[rows] (row -1: a zero row), a block at a time."""
    import numpy as np

    result = np.zeros((len(rows), source.shape[1]), np.float32)
    for begin in range(0, len(rows), READ_ROWS):
        block = rows[begin : begin + READ_ROWS]
        found = block >= 0
        result[begin : begin + READ_ROWS][found] = unit_rows(source[block[found]])
    return result


def top_k_cosine(
    queries: np.ndarray, corpus: np.ndarray, top_k: int, *, chunk_rows: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """For each query, the top_k corpus rows by cosine similarity, best first (ties: lower row first).

    Returns (scores, rows), both (queries, min(top_k, corpus rows)). The corpus is scored
    `chunk_rows` at a time against a block of queries, keeping a running top-k, so memory is one
    normalised corpus chunk and one SCORE_BYTES block beyond the inputs, whatever the corpus
    size; `corpus` may be a read-only memory map.
    """
    import numpy as np

    k = min(top_k, len(corpus))
    if k <= 0 or not len(queries):
        return np.zeros((len(queries), max(k, 0)), np.float32), np.zeros((len(queries), max(k, 0)), np.int64)
    chunk_rows = chunk_rows or max(k, min(len(corpus), 65536))
    block = max(1, SCORE_BYTES // (4 * chunk_rows))
    all_scores, all_rows = [], []
    for start in range(0, len(queries), block):
        query_block = unit_rows(queries[start : start + block])
        best_scores = np.full((len(query_block), 0), -np.inf, np.float32)
        best_rows = np.zeros((len(query_block), 0), np.int64)
        for begin in range(0, len(corpus), chunk_rows):
            scores = query_block @ unit_rows(corpus[begin : begin + chunk_rows]).T
            if scores.shape[1] > k:  # the chunk's own k best first: the merge stays 2k wide
                keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
                scores = np.take_along_axis(scores, keep, 1)
            else:
                keep = np.broadcast_to(np.arange(scores.shape[1]), scores.shape)
            best_scores, best_rows = _best(
                np.concatenate([best_scores, scores], axis=1),
                np.concatenate([best_rows, keep + begin], axis=1),
                k,
            )
        all_scores.append(best_scores)
        all_rows.append(best_rows)
    return np.concatenate(all_scores), np.concatenate(all_rows)


def _best(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The k best (score, row) per line, best first, ties to the lower row."""
    import numpy as np

    if scores.shape[1] > k:
        keep = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        scores, rows = np.take_along_axis(scores, keep, 1), np.take_along_axis(rows, keep, 1)
    order = np.lexsort((rows, -scores), axis=1)
    return np.take_along_axis(scores, order, 1), np.take_along_axis(rows, order, 1)
