"""Benchmarks of sbft against plain sentence-transformers; not a test, numbers for the README.

    .venv/bin/python scripts/bench.py                    # every section, real settings
    .venv/bin/python scripts/bench.py encode --texts 2000 --repeats 5
    .venv/bin/python scripts/bench.py --quick --model PATH --out /tmp/bench   # a smoke run (tests)

Each section is a function in SECTIONS that takes the Config and returns a Section: rows for
the terminal table and the markdown file, and data for the JSON file. Results go to
OUT/<section>.md and OUT/<section>.json (OUT defaults to benchmarks/). To add a section
(start-up time, training overhead, memory...), write one function and register it.

encode: `sbft encode MODEL texts.txt -o out.npy --stats` as a subprocess, against an in-process
SentenceTransformer load + model.encode on the same texts, alternately, REPEATS times; medians.
sbft reports its own pure-encode time (--stats), so "once loaded" compares model time with
model time, and "whole command" compares the subprocess's wall time (interpreter start,
imports, model load, reading, encoding, writing) with the in-process load + encode time.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
STSB_DIR = REPO.parent / "shared" / "data" / "stsb"
STSB_FILES = ("sts-train.csv", "sts-dev.csv", "sts-test.csv")
DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
GOALS = {"encode_ratio_min": 0.95, "command_ratio_max": 2.0}


@dataclass
class Config:
    model: str = DEFAULT_MODEL
    texts: int = 10_000
    repeats: int = 3
    batch_size: int = 32
    out: Path = REPO / "benchmarks"
    stsb_dir: Path = STSB_DIR
    quick: bool = False


@dataclass
class Section:
    name: str
    title: str
    rows: list[tuple[str, str, str]]
    """(measure, value, goal) for the table."""
    data: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


# --- inputs and helpers ------------------------------------------------------------------


def stsb_sentences(folder: Path, count: int) -> list[str]:
    """sentence1 and sentence2 of every row of train, dev, test (in that order): the first `count`."""
    sentences: list[str] = []
    for name in STSB_FILES:
        with open(folder / name, encoding="utf-8", newline="") as file:
            for row in csv.reader(file, delimiter="\t", quoting=csv.QUOTE_NONE):
                sentences += [row[5], row[6]]
                if len(sentences) >= count:
                    return sentences[:count]
    if len(sentences) < count:
        raise SystemExit(f"STSb has only {len(sentences)} sentences, fewer than --texts {count}")
    return sentences


def machine() -> dict[str, Any]:
    import sentence_transformers
    import torch

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "load_average_at_start": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }


def sbft_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "sbft", *args]


def environment() -> dict[str, str]:
    return {
        **os.environ,
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }


# --- encode ------------------------------------------------------------------------------


def encode_section(config: Config) -> Section:
    """sbft encode (subprocess) vs in-process model.encode on the same STSb texts."""
    import numpy as np
    import transformers
    from sentence_transformers import SentenceTransformer

    from sbft.models import resolve_model_path

    transformers.logging.disable_progress_bar()

    texts = stsb_sentences(config.stsb_dir, config.texts)
    path = resolve_model_path(config.model)
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as folder:
        source, output = Path(folder) / "texts.txt", Path(folder) / "out.npy"
        source.write_text("".join(text + "\n" for text in texts), encoding="utf-8")

        def run_sbft() -> dict[str, Any]:
            command = sbft_command("encode", config.model, str(source), "-o", str(output))
            command += ["--overwrite", "--stats", "--batch-size", str(config.batch_size)]
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=environment(), check=False)
            wall = time.perf_counter() - started
            if done.returncode != 0:
                raise SystemExit(f"sbft encode failed:\n{done.stderr}")
            stats = json.loads(done.stderr.strip().splitlines()[-1])
            return {"wall_s": wall, **stats}

        def run_plain() -> tuple[dict[str, Any], Any]:
            started = time.perf_counter()
            model = SentenceTransformer(path)
            loaded = time.perf_counter()
            embeddings = model.encode(texts, batch_size=config.batch_size)
            encoded = time.perf_counter()
            return {"load_s": loaded - started, "encode_s": encoded - loaded}, embeddings

        # Warm-up: the file cache, the first model load, lazy imports on both sides.
        SentenceTransformer(path).encode(texts[:64])
        subprocess.run(
            sbft_command("encode", config.model, str(source), "-o", str(output), "--overwrite"),
            capture_output=True,
            env=environment(),
            check=True,
        )
        for repeat in range(config.repeats):
            order = ("sbft", "plain") if repeat % 2 == 0 else ("plain", "sbft")
            run: dict[str, Any] = {"repeat": repeat + 1, "first": order[0]}
            for side in order:
                if side == "sbft":
                    run["sbft"] = run_sbft()
                else:
                    run["plain"], reference = run_plain()
            run["max_abs_diff"] = float(np.abs(np.load(output) - reference).max())
            runs.append(run)
            print(
                f"  encode run {repeat + 1}/{config.repeats}: sbft {run['sbft']['encode_texts_per_s']:.0f} "
                f"texts/s, plain {len(texts) / run['plain']['encode_s']:.0f} texts/s",
                file=sys.stderr,
            )

    def median(values: list[float]) -> float:
        return statistics.median(values)

    n = len(texts)
    sbft_encode = median([r["sbft"]["encode_texts_per_s"] for r in runs])
    sbft_stream = median([r["sbft"]["stream_texts_per_s"] for r in runs])
    plain_encode = median([n / r["plain"]["encode_s"] for r in runs])
    command = median([r["sbft"]["wall_s"] for r in runs])
    sbft_load = median([r["sbft"]["load_s"] for r in runs])
    plain_total = median([r["plain"]["load_s"] + r["plain"]["encode_s"] for r in runs])
    encode_ratio, command_ratio = sbft_encode / plain_encode, command / plain_total
    medians = {
        "texts": n,
        "sbft_encode_texts_per_s": sbft_encode,
        "sbft_stream_texts_per_s": sbft_stream,
        "plain_encode_texts_per_s": plain_encode,
        "encode_ratio": encode_ratio,
        "stream_ratio": sbft_stream / plain_encode,
        "sbft_command_s": command,
        "sbft_import_and_load_s": sbft_load,
        "plain_load_and_encode_s": plain_total,
        "command_ratio": command_ratio,
        "max_abs_diff": max(r["max_abs_diff"] for r in runs),
    }
    met = {
        "encode_within_5_percent": encode_ratio >= GOALS["encode_ratio_min"],
        "command_under_2x": command_ratio < GOALS["command_ratio_max"],
    }
    ok = {True: "met", False: "MISSED"}
    rows = [
        ("texts (STSb sentences)", f"{n:,}", ""),
        ("sbft encode, once loaded", f"{sbft_encode:,.1f} texts/s", ""),
        ("plain model.encode", f"{plain_encode:,.1f} texts/s", ""),
        ("ratio sbft / plain", f"{encode_ratio:.3f}", f">= 0.95: {ok[met['encode_within_5_percent']]}"),
        ("sbft read + encode + write", f"{sbft_stream:,.1f} texts/s ({sbft_stream / plain_encode:.3f})", ""),
        ("sbft whole command", f"{command:.2f} s", ""),
        ("  of which import + model load", f"{sbft_load:.2f} s", ""),
        ("plain load + encode (in-process)", f"{plain_total:.2f} s", ""),
        ("ratio command / in-process", f"{command_ratio:.3f}", f"< 2: {ok[met['command_under_2x']]}"),
        ("largest difference of embeddings", f"{medians['max_abs_diff']:.1e}", ""),
    ]
    return Section(
        "encode",
        f"sbft encode vs model.encode: {config.model}, batch {config.batch_size}, median of {config.repeats}",
        rows,
        {
            "config": {**vars(config), "out": str(config.out), "stsb_dir": str(config.stsb_dir)},
            "goals": GOALS,
            "met": met,
            "median": medians,
            "runs": runs,
        },
    )


SECTIONS: dict[str, Callable[[Config], Section]] = {"encode": encode_section}


# --- output ------------------------------------------------------------------------------


def table(section: Section) -> str:
    widths = [max(len(row[i]) for row in [("measure", "value", "goal"), *section.rows]) for i in range(3)]
    lines = [section.title, ""]
    for row in [("measure", "value", "goal"), *section.rows]:
        lines.append("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return "\n".join(lines)


def markdown(section: Section, about: dict[str, Any]) -> str:
    lines = [f"# {section.title}", "", "| measure | value | goal |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in section.rows]
    cuda = about["cuda"] or "no GPU"
    lines += [
        "",
        f"Machine: {about['cpus']} CPUs, {about['torch_threads']} torch threads, {cuda}; "
        f"torch {about['torch']}, sentence-transformers {about['sentence_transformers']}, "
        f"Python {about['python']}. Load average at start: {about['load_average_at_start']}.",
        "",
        "Written by `python scripts/bench.py`; the raw runs are in the .json file beside this one.",
        *section.notes,
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sections", nargs="*", help=f"of {', '.join(SECTIONS)} (default: all)")
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--texts", type=int, help="texts to encode (default 10000; 50 with --quick)")
    parser.add_argument("--repeats", type=int, help="alternating runs per side (default 3; 1 with --quick)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks", help="folder for .md and .json")
    parser.add_argument("--stsb-dir", type=Path, default=STSB_DIR)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 50 texts, 1 repeat")
    args = parser.parse_args(argv)
    unknown = [name for name in args.sections if name not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; sections: {', '.join(SECTIONS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    config = Config(
        model=args.model,
        texts=args.texts or (50 if args.quick else 10_000),
        repeats=args.repeats or (1 if args.quick else 3),
        batch_size=args.batch_size,
        out=args.out,
        stsb_dir=args.stsb_dir,
        quick=args.quick,
    )
    about = machine()
    config.out.mkdir(parents=True, exist_ok=True)
    for name in args.sections or SECTIONS:
        section = SECTIONS[name](config)
        print(table(section) + "\n")
        (config.out / f"{name}.md").write_text(markdown(section, about), encoding="utf-8")
        data = {**section.data, "machine": about}
        (config.out / f"{name}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {config.out / (name + '.md')} and {name}.json", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
