"""Corpus scale (issue 21, item 4): peak RSS and seconds of encode, mine and eval at N documents.

    python scripts/bench_scale.py [N ...]             # default: 100000 300000 1000000
    python scripts/bench_scale.py 2000 --out /tmp/x   # a quick check of the script itself

The model is all-MiniLM-L6-v2 (the packaged copy) cut to its first layer: 384 dimensions at a
sixth of the encode cost. The corpus of N documents is the WikiQA corpus (its dev-judged sentences
first) and, past its 18,821 sentences, filler: WikiQA sentences with their words shuffled (seeded),
so every document is new text of realistic length. Each stage runs as its own process, measured by
the launcher of scripts/bench.py (wall seconds, and the process's own max RSS through wait4):

- encode: `sbft encode MODEL corpus.txt -o corpus.npy` (streamed, a window of 8,192 texts at a time);
- mine, cold: `sbft mine` of the WikiQA train pairs (one negative each, among the top 200) over
  corpus.jsonl, with an empty sbft cache: the corpus is encoded, written to the cache and searched
  in 32 MB score blocks;
- mine, warm: the same command again: the corpus embeddings come from the cache (checked, read a
  block at a time), no encode;
- eval: `sbft eval MODEL FOLDER --split dev`, the WikiQA dev queries searched over the whole corpus.

Every stage uses its own SBFT_CACHE under the work folder (eval starts cold). Writes
benchmarks/scale.json (a list of {"stage", "documents", "peak_rss_mb", "seconds", "cache"}),
benchmarks/scale.meta.json (machine, CPU flags, load averages) and benchmarks/scale.md (a table);
records of other N already in scale.json are kept. Long at 1M on 2 cores: a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench import REPO, environment, machine, machine_line, measure  # noqa: E402

WIKIQA = Path("/work/shared/data/wikiqa/beir")
MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_SIZES = [100_000, 300_000, 1_000_000]
STAGES = ("encode", "mine", "eval")
MINE_RANGE_MAX = 200
"""Candidates mining considers. The one-layer model scores a sentence's shuffled copy almost as the
sentence itself, so the margins skip those copies as likely false negatives; at 1M documents each
WikiQA sentence has about 52 of them, more than the automatic range (num + 10) holds."""


def one_layer_model(folder: Path) -> Path:
    """all-MiniLM-L6-v2 with its first transformer layer only (384 dimensions, ~1/6 of the compute)."""
    target = folder / "minilm-1-layer"
    if (target / "modules.json").exists():
        return target
    from sentence_transformers import SentenceTransformer

    from sbft.models import resolve_model_path

    model = SentenceTransformer(resolve_model_path(MODEL), device="cpu")
    encoder = model[0].auto_model.encoder
    encoder.layer = encoder.layer[:1]
    model[0].auto_model.config.num_hidden_layers = 1
    model.save(str(target))
    return target


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def judged(split: str) -> list[tuple[str, str, int]]:
    lines = (WIKIQA / "qrels" / f"{split}.tsv").read_text(encoding="utf-8").splitlines()[1:]
    return [(q, d, int(s)) for q, d, s in (line.split("\t") for line in lines if line)]


def build_corpus(folder: Path, size: int, seed: int = 13) -> Path:
    """A BEIR folder of `size` documents (WikiQA's, dev-judged first, then shuffled-word filler),
    the WikiQA queries and dev qrels, the same texts one per line (corpus.txt) and train pairs."""
    data = folder / f"corpus-{size}"
    if (data / "done").exists():
        return data
    data.mkdir(parents=True, exist_ok=True)
    documents = read_jsonl(WIKIQA / "corpus.jsonl")
    dev = {doc for _, doc, _ in judged("dev")}
    ordered = [d for d in documents if d["_id"] in dev] + [d for d in documents if d["_id"] not in dev]
    chosen = [{"_id": d["_id"], "title": "", "text": " ".join(d["text"].split())} for d in ordered[:size]]
    rng = random.Random(seed)
    while len(chosen) < size:
        words = rng.choice(documents)["text"].split()
        rng.shuffle(words)
        chosen.append({"_id": f"f{len(chosen)}", "title": "", "text": " ".join(words)})
    with open(data / "corpus.jsonl", "w", encoding="utf-8") as out, open(data / "corpus.txt", "w") as text:
        for document in chosen:
            out.write(json.dumps(document, ensure_ascii=False) + "\n")
            text.write(document["text"] + "\n")
    kept = {d["_id"] for d in chosen}
    (data / "qrels").mkdir(exist_ok=True)
    rows = [(q, d, s) for q, d, s in judged("dev") if d in kept]
    (data / "qrels" / "dev.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"{q}\t{d}\t{s}\n" for q, d, s in rows), encoding="utf-8"
    )
    shutil.copy(WIKIQA / "queries.jsonl", data / "queries.jsonl")
    queries = {q["_id"]: q["text"] for q in read_jsonl(WIKIQA / "queries.jsonl")}
    texts = {d["_id"]: d["text"] for d in documents}
    with open(data / "pairs.jsonl", "w", encoding="utf-8") as out:
        for query, doc, score in judged("train"):
            if score > 0:
                out.write(
                    json.dumps({"query": queries[query], "positive": texts[doc]}, ensure_ascii=False) + "\n"
                )
    (data / "done").write_text("")
    return data


def commands(model: Path, data: Path, work: Path) -> dict[str, list[str]]:
    sbft = [sys.executable, "-m", "sbft"]
    return {
        "encode": [
            *sbft,
            "encode",
            str(model),
            str(data / "corpus.txt"),
            "-o",
            str(work / "corpus.npy"),
            "-q",
        ],
        "mine": [
            *sbft,
            "mine",
            str(model),
            str(data / "pairs.jsonl"),
            "--corpus",
            str(data / "corpus.jsonl"),
            "-o",
            str(work / "mined.jsonl"),
            "--num",
            "1",
            "--range-max",
            str(MINE_RANGE_MAX),
            "--overwrite",
        ],
        "eval": [*sbft, "eval", str(model), str(data), "--split", "dev"],
    }


def run_size(model: Path, size: int, folder: Path, stages: list[str]) -> list[dict[str, Any]]:
    data = build_corpus(folder, size)
    work = folder / f"work-{size}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    planned = commands(model, data, work)
    runs = [("encode", "none"), ("mine", "cold"), ("mine", "warm"), ("eval", "cold")]
    records = []
    for stage, cache in runs:
        if stage not in stages:
            continue
        cache_folder = work / f"cache-{stage}"
        if cache == "cold":
            shutil.rmtree(cache_folder, ignore_errors=True)
        env = environment(
            SBFT_CACHE=str(cache_folder), SBFT_NO_CACHE="0", OMP_NUM_THREADS=str(os.cpu_count())
        )
        load = os.getloadavg()
        print(f"{size:,} documents: {stage} ({cache} cache) ...", file=sys.stderr, flush=True)
        measured = measure(planned[stage], env)
        record = {
            "stage": stage,
            "documents": size,
            "peak_rss_mb": round(measured.max_rss_mb, 1),
            "seconds": round(measured.wall_s, 1),
            "cache": cache,
            **({"range_max": MINE_RANGE_MAX} if stage == "mine" else {}),
            "load_average_before": [round(value, 2) for value in load],
        }
        print(json.dumps(record), file=sys.stderr, flush=True)
        records.append(record)
    return records


def merge(path: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records of scale.json, those of the same (stage, documents, cache) replaced by `records`."""
    old = json.loads(path.read_text()) if path.exists() else []
    fresh = {(r["stage"], r["documents"], r.get("cache")) for r in records}
    kept = [r for r in old if (r["stage"], r["documents"], r.get("cache")) not in fresh]
    return sorted(
        [*kept, *records], key=lambda r: (r["documents"], STAGES.index(r["stage"]), r.get("cache", ""))
    )


def growth(records: list[dict[str, Any]]) -> list[str]:
    """How each stage's seconds and memory grow from the smallest to the largest N measured."""
    lines = []
    for stage, cache in sorted(
        {(r["stage"], r.get("cache")) for r in records}, key=lambda k: STAGES.index(k[0])
    ):
        rows = sorted(
            (r for r in records if (r["stage"], r.get("cache")) == (stage, cache)),
            key=lambda r: r["documents"],
        )
        if len(rows) < 2:
            continue
        first, last = rows[-2], rows[-1]  # the two largest: the smaller N ran under heavy load
        lines.append(
            f"- {stage} ({cache} cache): {first['documents']:,} -> {last['documents']:,} documents "
            f"({last['documents'] / first['documents']:.1f}x) took "
            f"{last['seconds'] / first['seconds']:.1f}x the time ({first['seconds']:,.0f} -> "
            f"{last['seconds']:,.0f} s) and {last['peak_rss_mb'] / first['peak_rss_mb']:.1f}x the peak "
            f"RSS ({first['peak_rss_mb']:,.0f} -> {last['peak_rss_mb']:,.0f} MB)."
        )
    return lines


def markdown(records: list[dict[str, Any]], about: dict[str, Any]) -> str:
    lines = [
        "# Corpus scale: encode, mine and eval at N documents",
        "",
        "One-layer all-MiniLM-L6-v2 (384 dimensions); WikiQA sentences plus shuffled-word filler; "
        "each stage in its own process (wall seconds including start-up and model load; peak RSS of "
        "that process).",
        "",
        "| stage | cache | documents | seconds | peak RSS (MB) | within 4096 MB |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        within = "yes" if r["peak_rss_mb"] <= 4096 else "**no**"
        lines.append(
            f"| {r['stage']} | {r.get('cache', '')} | {r['documents']:,} | {r['seconds']:,.1f} | "
            f"{r['peak_rss_mb']:,.0f} | {within} |"
        )
    lines += ["", "How each stage grows:", "", *(growth(records) or ["- (one N only)"]), ""]
    lines += [
        "Stages: encode = `sbft encode` to .npy (streamed by windows); mine = `sbft mine` of the WikiQA "
        f"train pairs, one negative each among the top {MINE_RANGE_MAX} candidates (records without "
        "range_max used the automatic range, num + 10: at 1M the filler's ~52 shuffled copies of each "
        "sentence, skipped by the margins, fill it), cold (the corpus encoded and cached) and warm "
        "(its embeddings read back from sbft's cache, no encode); eval = `sbft eval MODEL FOLDER "
        "--split dev`, the WikiQA dev queries over the whole corpus, cold cache.",
        "",
        machine_line(about),
        "",
        "Written by `python scripts/bench_scale.py`; the records are in scale.json, the machine in "
        "scale.meta.json.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sizes", nargs="*", type=int, default=DEFAULT_SIZES, help="corpus sizes N")
    parser.add_argument("--stages", default=",".join(STAGES), help="comma-separated: encode,mine,eval")
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/sbft-bench-scale"), help="corpora and outputs"
    )
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks", help="where scale.{json,md} go")
    args = parser.parse_args(argv)
    stages = [stage.strip() for stage in args.stages.split(",")]
    if unknown := set(stages) - set(STAGES):
        parser.error(f"unknown stages: {', '.join(sorted(unknown))}")
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.update(environment())
    about = machine()
    model = one_layer_model(args.work)
    started = time.perf_counter()
    records = []
    for size in args.sizes:
        records += run_size(model, size, args.work, stages)
    path = args.out / "scale.json"
    everything = merge(path, records)
    path.write_text(json.dumps(everything, indent=2) + "\n")
    about.update(
        load_average_at_end=os.getloadavg(),
        sizes=args.sizes,
        minutes=round((time.perf_counter() - started) / 60, 1),
    )
    (args.out / "scale.meta.json").write_text(json.dumps(about, indent=2) + "\n")
    (args.out / "scale.md").write_text(markdown(everything, about))
    print(markdown(everything, about))
    return 0


if __name__ == "__main__":
    sys.exit(main())
