"""`sbft mine`'s files: (query, positive) pairs and a corpus read, the mined rows written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from sbft.errors import SbftError
from sbft.families import BI_ENCODER
from sbft.file_errors import (
    check_data_file,
    csv_header_error,
    data_format,
    encoding_error,
    read_error,
    reader_logs_silenced,
)
from sbft.files import atomic_file, check_output, reader_options, refuse_output_in_folders
from sbft.inference.locations import local_model_folders
from sbft.mining.negatives import MiningStats, load_for_mining, mine_negatives
from sbft.recipe import MineSpec

if TYPE_CHECKING:
    from datasets import Dataset


def mine_file(
    model: str,
    pairs: str,
    corpus: str,
    output: str,
    settings: MineSpec,
    *,
    columns: list[str] | None = None,
    overwrite: bool = False,
    batch_size: int = 32,
    use_faiss: bool | None = None,
    query_prompt: str | None = None,
    corpus_prompt: str | None = None,
    seed: int = 42,
    device: str | None = None,
) -> MiningStats:
    """Mine negatives for the (query, positive) rows of the file `pairs` over the documents of
    `corpus` with `model`, and write (query, positive, negative_1..) rows to `output` as JSON Lines.

    `output` is written in one step at the end and replaces a file only with `overwrite`.
    """
    from sbft.quiet import quiet_libraries

    quiet_libraries()
    check_output(output, overwrite, inputs=[pairs, corpus])
    refuse_output_in_folders(output, local_model_folders([model]))
    settings.check("")
    rows = read_pairs(pairs, columns)
    documents = read_corpus(corpus)
    miner = load_for_mining(model, BI_ENCODER, "model", device)
    mined, stats = mine_negatives(
        rows,
        miner,
        settings,
        documents,
        batch_size=batch_size,
        use_faiss=use_faiss,
        query_prompt=query_prompt,
        corpus_prompt=corpus_prompt,
        seed=seed,
    )
    names = ["query", "positive", *(f"negative_{i}" for i in range(1, settings.num + 1))]
    write_rows(Path(output), mined.rename_columns(dict(zip(mined.column_names, names, strict=True))))
    return stats


_CONVERT = (
    "Convert it to UTF-8: iconv -f latin1 -t utf-8 '{path}' > converted{suffix} (cp1252 for Windows files)."
)


def read_pairs(path: str, columns: list[str] | None = None) -> Dataset:
    """The (query, positive) columns of a csv/tsv/jsonl/parquet file: `columns`, or its only two."""
    import datasets

    if not Path(path).exists() and not Path(path).is_symlink():
        raise SbftError(f"the pairs file '{path}' does not exist", where="pairs", fix="Check the path.")
    check_data_file(path, "the pairs file", "pairs")
    file_format = data_format(path, None, "pairs", fix="Give a .csv, .tsv, .jsonl or .parquet file.")
    fix = _CONVERT.format(path=path, suffix=Path(path).suffix)
    if file_format == "json" and (error := encoding_error(path, None, "pairs", fix=fix)):
        raise error  # pyarrow's JSON reader loads bytes that are not UTF-8 and fails on first use
    options = reader_options(path, {})
    if file_format == "csv" and (error := csv_header_error(path, options.get("sep", ","), "pairs")):
        raise error
    try:
        with reader_logs_silenced():
            data = datasets.load_dataset(
                file_format, data_files={"train": path}, split="train", **reader_options(path, {})
            )
    except Exception as exc:  # the readers raise many types; all mean "cannot read"
        raise read_error(path, file_format, "pairs", _CONVERT) or SbftError(
            f"cannot read '{path}': {str(exc).strip().splitlines()[0]}", where="pairs"
        ) from None
    names = columns or data.column_names
    if len(names) != 2 or not set(names) <= set(data.column_names):
        raise SbftError(
            f"which columns hold the query and the positive? '{path}' has {', '.join(data.column_names)}"
            + (f", and {', '.join(columns)} were named" if columns else ""),
            where="columns",
            fix="Name two of its columns: the query first, then the positive.",
        )
    data = data.select_columns(names)
    for column in names:
        for row, value in enumerate(data[column], start=1):
            if not isinstance(value, str) or not value.strip():
                raise SbftError(
                    f"row {row} of column '{column}' holds {value!r}, not a text",
                    where="pairs",
                    fix="Fill or drop the rows without text.",
                )
    return data


def read_corpus(path: str) -> list[str]:
    """The documents of a text file (one per line) or of the `text` field of jsonl/csv/tsv/parquet
    records (a BEIR corpus.jsonl)."""
    from sbft.inference.sources import TextSource

    source = TextSource(path)
    if source.kind != "text":
        source = TextSource(path, column="text")
    return [text for text in source.texts() if text.strip()]


def write_rows(path: Path, rows: Dataset) -> None:
    """Rows as JSON Lines (one object per row, columns in order), in one step."""
    with atomic_file(path) as stream:
        for row in rows:
            stream.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))


def read_rows(path: Path) -> Dataset:
    from datasets import Dataset

    lines = path.read_text(encoding="utf-8").splitlines()
    return Dataset.from_list([json.loads(line) for line in lines if line])
