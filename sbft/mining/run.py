"""Recipes' `negatives.mine`: the train rows mined before training, once per run folder.

The mined rows and their statistics go to the run folder's mined/ (NAME.jsonl, then NAME.json,
each written in one step); a resumed run, or a process that starts after the main one, reads
them back, so every process and every attempt of a run trains on the same rows.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sbft import run_folder
from sbft.families import BI_ENCODER
from sbft.files import write_json
from sbft.mining.files import read_rows, write_rows
from sbft.mining.negatives import MiningStats, load_for_mining, mine_negatives
from sbft.recipe import column_prompts

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

    from sbft.data import PreparedDataset
    from sbft.inference.corpus import CorpusCache


def mine_datasets(
    datasets: dict[str, PreparedDataset],
    base_model: SentenceTransformer,
    run_dir: Path,
    *,
    prompts: dict[str, str] | None = None,
    batch_size: int = 32,
    seed: int = 42,
    progress: bool = True,
    write: bool = True,
    corpus_cache: CorpusCache | None = None,
) -> tuple[dict[str, PreparedDataset], dict[str, dict[str, Any]]]:
    """The datasets, those with `negatives.mine` on mined train rows (query, positive,
    negative_1..); and for each of those its statistics and settings, as metrics.json keeps them.

    Rows already in `run_dir`/mined/ are read back (their record says `reused: true`); others are
    mined with `base_model` (with the recipe's `prompts`) or the miner the recipe names, over the
    dataset's corpus or else its train positives, and written there when `write`.

    `corpus_cache` (one per run, see sbft.inference.corpus) holds the corpus embeddings, so the
    baseline evaluation of the same model and corpus reuses this encode instead of its own.
    """
    result, records = dict(datasets), {}
    folder = run_dir / run_folder.MINED
    for name, prepared in datasets.items():
        mine = prepared.spec.negatives.mine if prepared.spec.negatives else None
        if mine is None:
            continue
        rows_file, record_file = folder / f"{name}.jsonl", folder / f"{name}.json"
        reused = _reuse(rows_file, record_file)
        if reused is not None:
            rows, record = reused
        else:
            where = f"datasets.{name}.negatives.mine"
            miner = load_for_mining(mine.model, BI_ENCODER, f"{where}.model") if mine.model else base_model
            query_column, positive_column = prepared.inputs
            own = column_prompts(prompts, prepared.inputs) if mine.model is None else {}
            rows, stats = mine_negatives(
                prepared.splits["train"].select_columns(prepared.inputs),
                miner,
                mine,
                prepared.corpus.values() if prepared.corpus is not None else None,
                batch_size=batch_size,
                query_prompt=own.get(query_column),
                corpus_prompt=own.get(positive_column),
                seed=seed,
                progress=progress,
                where=where,
                corpus_cache=corpus_cache,
            )
            record = {**dataclasses.asdict(stats), "settings": dataclasses.asdict(mine)}
            if write:
                folder.mkdir(exist_ok=True)
                write_rows(rows_file, rows)
                record[ROWS_DIGEST] = _digest(rows_file)
                write_json(record_file, record)
        result[name] = dataclasses.replace(prepared, splits={**prepared.splits, "train": rows})
        records[name] = record
    return result, records


ROWS_DIGEST = "rows_sha256"
"""In mined/NAME.json: the digest of NAME.jsonl as written, checked before the rows are reused."""


def _reuse(rows_file: Path, record_file: Path) -> tuple[Any, dict[str, Any]] | None:
    """The rows and record a previous attempt mined, or None to mine again: never trusted, the
    record must be whole and the rows file the one it describes (not edited, not cut short)."""
    if not record_file.is_file():  # written after the rows: without it, the pair is not complete
        return None
    problem = None
    try:
        record = json.loads(record_file.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or record.get(ROWS_DIGEST) != _digest(rows_file):
            problem = "does not match its record (edited or damaged)"
        else:
            rows = read_rows(rows_file)
    except (OSError, ValueError):
        problem = "cannot be read back"
    if problem:
        print(f"warning: {rows_file} {problem}: mining again", file=sys.stderr)
        return None
    return rows, {**record, "reused": True}


def _digest(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def summary(name: str, record: dict[str, Any]) -> str:
    """The line a run prints for one dataset's mining record."""
    fields = {field.name for field in dataclasses.fields(MiningStats)}
    stats = MiningStats(**{key: value for key, value in record.items() if key in fields})
    if record.get("reused"):
        cached = f"{run_folder.MINED}/{name}.jsonl"
        return f"{name}: {stats.rows_kept:,} rows with mined negatives read back from {cached}"
    return f"{name}: {stats.summary(record['settings']['num'])}"
