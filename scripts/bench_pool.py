"""Pooled dev evaluation against the whole corpus (issue 21): `sbft train` twice on one BEIR folder,
`evaluation.pool` (auto, or forced) against `pool: false`, each with a cold cache.

    python scripts/bench_pool.py --documents 100000 --folder /tmp/wikiqa-100k
    python scripts/bench_pool.py --documents 300000 --folder /tmp/wikiqa-300k
    python scripts/bench_pool.py --documents 0 --folder /tmp/wikiqa-only --pool forced   # WikiQA as is
    python scripts/bench_pool.py --documents 100000 --folder /tmp/wikiqa-100k --sizes 50,50,1000
    python scripts/bench_pool.py --documents 3000 --folder /tmp/wikiqa-3k --max-steps 10 --out /tmp/pool.json

The folder holds WikiQA's BEIR data (qrels, queries, its 18,821 sentences) plus filler documents up
to --documents: real corpus sentences with their words shuffled (seeded), so that they read like
the corpus to BM25 and to the model but answer nothing. Fewer documents than WikiQA has: its judged
documents, then the others in order. The folder is written outside the repository and reused when
it already holds the same corpus.

Both runs train the packaged all-MiniLM-L6-v2 cut to its first layer (a cheap 384-dim model) with
MultipleNegativesRankingLoss on the train qrels, 1 epoch, batch 32, seed 42, and evaluate dev each
fifth of the epoch (eval_strategy steps: five dev evaluations). Training is the same in both runs,
so each checkpoint's pooled nDCG@10 (the pooled run) is compared with its whole-corpus nDCG@10 (the
other run); the training losses are compared to show the checkpoints are the same. Records wall
seconds, kept_step, the pool's size and the per-checkpoint gap into benchmarks/pooled_eval.json
(entries by corpus size, earlier ones kept) and benchmarks/pooled_eval.md. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench import REPO, machine, machine_line  # noqa: E402

WIKIQA = Path(os.environ.get("WIKIQA_DIR", REPO.parent / "shared" / "data" / "wikiqa")) / "beir"
MAIN = "wikiqa_cosine_ndcg@10"
MARKER = "bench_pool.json"
SEED = 42


def build_folder(folder: Path, documents: int, source: Path = WIKIQA, seed: int = SEED) -> int:
    """A BEIR folder of `documents` documents (0: WikiQA as is) in `folder`; returns its corpus size."""
    wanted = {"documents": documents, "source": str(source), "seed": seed}
    marker = folder / MARKER
    if marker.is_file() and json.loads(marker.read_text()).get("wanted") == wanted:
        return json.loads(marker.read_text())["corpus"]
    if folder.resolve().is_relative_to(REPO):
        raise SystemExit(f"{folder} is inside the repository: give a folder elsewhere, e.g. /tmp/wikiqa-300k")
    rows = [json.loads(line) for line in (source / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    if 0 < documents < len(rows):
        judged = {line.split("\t")[1] for qrels in (source / "qrels").glob("*.tsv") for line in qrels.open()}
        rows = sorted(rows, key=lambda row: row["_id"] not in judged)[:documents]  # stable: judged first
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(source / "qrels", folder / "qrels", dirs_exist_ok=True)
    shutil.copy(source / "queries.jsonl", folder / "queries.jsonl")
    rng = random.Random(seed)
    texts = [row["text"] for row in rows]
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row) + "\n")
        for index in range(max(0, documents - len(rows))):
            words = rng.choice(texts).split()
            rng.shuffle(words)
            out.write(json.dumps({"_id": f"filler{index}", "title": "", "text": " ".join(words)}) + "\n")
    corpus = max(documents, len(rows))
    marker.write_text(json.dumps({"wanted": wanted, "corpus": corpus}))
    return corpus


def one_layer_model(folder: Path) -> Path:
    """The packaged all-MiniLM-L6-v2 with its first transformer layer only: 384 dims, cheap to run."""
    if (folder / "modules.json").is_file():
        return folder
    from sentence_transformers import SentenceTransformer

    from sbft.models import resolve_model_path

    model = SentenceTransformer(resolve_model_path("sentence-transformers/all-MiniLM-L6-v2"), device="cpu")
    transformer = model[0].auto_model
    transformer.encoder.layer = transformer.encoder.layer[:1]
    transformer.config.num_hidden_layers = 1
    model.save(str(folder))
    return folder


def write_recipe(path: Path, data: Path, model: Path, pool: Any, max_steps: int | None) -> None:
    """1 epoch (or max_steps), dev evaluated each fifth of it: five evaluations."""
    rows = sum(1 for line in (data / "qrels" / "train.tsv").open() if not line.startswith("query-id"))
    steps = max_steps or -(-rows // 32)
    training: dict[str, Any] = {
        "num_train_epochs": 1,
        "per_device_train_batch_size": 32,
        "learning_rate": 2.0e-5,
        "seed": SEED,
        "eval_strategy": "steps",
        "eval_steps": max(1, steps // 5),
        "batch_sampler": "no_duplicates",
    }
    if max_steps:
        training["max_steps"] = max_steps
    recipe = {
        "name": path.stem,
        "model": {"name": str(model)},
        "datasets": {"wikiqa": {"beir": str(data), "loss": "MultipleNegativesRankingLoss"}},
        "training": training,
        "evaluation": {} if pool == "auto" else {"pool": pool},
    }
    path.write_text(json.dumps(recipe, indent=2), encoding="utf-8")  # JSON is YAML


def train(recipe: Path, run_dir: Path, cache: Path) -> dict[str, Any]:
    """`sbft train` in its own process with a cold cache of its own: wall seconds and metrics.json."""
    env = {**os.environ, "SBFT_CACHE": str(cache), "SBFT_NO_CACHE": "0", "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "sbft", "train", str(recipe), "-o", str(run_dir), "-q", "--no-smoke"]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    losses = [
        json.loads(line)
        for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        if '"loss"' in line and "eval_" not in line
    ]
    return {
        "wall_s": round(wall, 1),
        "kept_step": metrics.get("kept_step"),
        "selected": metrics.get("selected"),
        "dev_pool": metrics.get("dev_pool", {}).get("wikiqa"),
        "base": metrics["baseline_dev"].get(MAIN),
        "final": metrics["final_dev"].get(MAIN),
        "by_step": {e["step"]: e.get(MAIN) for e in metrics["evaluations"] if MAIN in e},
        "train_losses": {entry["step"]: entry["loss"] for entry in losses if "step" in entry},
    }


def compare(documents: int, pooled: dict[str, Any], full: dict[str, Any], pool: Any) -> dict[str, Any]:
    """Per checkpoint (and the base model) the pooled and whole-corpus nDCG@10, and what it saved."""
    steps = sorted(set(pooled["by_step"]) & set(full["by_step"]))
    rows = [{"step": 0, "pooled": pooled["base"], "full": full["base"]}]
    rows += [
        {"step": step, "pooled": pooled["by_step"][step], "full": full["by_step"][step]} for step in steps
    ]
    for row in rows:
        both = row["pooled"] is not None and row["full"] is not None
        row["gap"] = round(row["pooled"] - row["full"], 4) if both else None
    gaps = [abs(row["gap"]) for row in rows if row["gap"] is not None]
    return {
        "documents": documents,
        "pool_setting": pool,
        "pool": pooled["dev_pool"],
        "pooled_wall_s": pooled["wall_s"],
        "full_wall_s": full["wall_s"],
        "speedup": round(full["wall_s"] / pooled["wall_s"], 2),
        "kept_step": {"pooled": pooled["kept_step"], "full": full["kept_step"]},
        "same_kept_step": pooled["kept_step"] == full["kept_step"],
        "same_training": pooled["train_losses"] == full["train_losses"],
        "max_abs_gap": max(gaps, default=None),
        "checkpoints": rows,
        "machine": machine(),
    }


def write_reports(entry: dict[str, Any], out: Path) -> None:
    """JSON entries by corpus size (earlier sizes kept) and the markdown tables."""
    entries = json.loads(out.read_text()).get("entries", {}) if out.is_file() else {}
    entries[f"{entry['documents']} {entry['pool_setting']}"] = entry  # one entry per corpus size and pool
    out.write_text(json.dumps({"entries": entries}, indent=2) + "\n")
    lines = [
        "# Pooled dev evaluation against the whole corpus",
        "",
        "`python scripts/bench_pool.py --documents N --folder DIR`: WikiQA dev (159 questions) over WikiQA's",
        "sentences plus word-shuffled filler up to N documents; the packaged all-MiniLM-L6-v2 cut to one",
        "layer, 1 epoch, five dev evaluations, cold caches. nDCG@10 per checkpoint (step 0: the base model).",
        "",
    ]
    for key in sorted(entries, key=lambda key: (int(key.split()[0]), key)):
        e = entries[key]
        pool = e["pool"] or {}
        lines += [
            f"## {e['documents']:,} documents (pool {e['pool_setting']}: {pool.get('documents', 0):,} in it)",
            "",
            f"- whole command: pooled {e['pooled_wall_s']} s, whole corpus {e['full_wall_s']} s: "
            f"**{e['speedup']}x**",
            f"- kept_step: pooled {e['kept_step']['pooled']}, whole corpus {e['kept_step']['full']} "
            f"({'same' if e['same_kept_step'] else 'DIFFERENT'}); same training: {e['same_training']}; "
            f"largest gap {e['max_abs_gap']}",
            "",
            "| step | pooled nDCG@10 | whole-corpus nDCG@10 | gap |",
            "|---|---|---|---|",
            *(
                f"| {r['step']} | {_number(r['pooled'])} | {_number(r['full'])} | {r['gap']} |"
                for r in e["checkpoints"]
            ),
            "",
            f"Machine: {machine_line(e['machine'])}",
            "",
        ]
    out.with_suffix(".md").write_text("\n".join(lines))


def _number(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--documents", type=int, required=True, help="corpus size; 0: WikiQA as is")
    parser.add_argument("--folder", type=Path, required=True, help="where the BEIR folder is built")
    parser.add_argument("--pool", choices=("auto", "forced"), help="default: auto above 50,000 documents")
    parser.add_argument(
        "--sizes",
        help="TOP_K,BM25_TOP_K,RANDOM: pool these sizes (forced) instead of the defaults, e.g. 50,50,1000",
    )
    parser.add_argument("--max-steps", type=int, help="stop training early (a quick check of the script)")
    parser.add_argument("--work", type=Path, help="run folders and caches (default: a temporary folder)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "pooled_eval.json")
    args = parser.parse_args()

    documents = build_folder(args.folder, args.documents)
    chosen = args.pool or ("auto" if documents > 50_000 else "forced")
    pool: Any = "auto" if chosen == "auto" else True
    if args.sizes:
        pool = dict(zip(("top_k", "bm25_top_k", "random"), map(int, args.sizes.split(",")), strict=True))
        chosen = f"forced {args.sizes}"
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-pool-"))
    work.mkdir(parents=True, exist_ok=True)
    model = one_layer_model(work / "minilm-1layer")
    results = {}
    for side, setting in (("pooled", pool), ("full", False)):
        recipe = work / f"{side}.yaml"
        write_recipe(recipe, args.folder, model, setting, args.max_steps)
        cache = work / f"cache-{side}"
        shutil.rmtree(cache, ignore_errors=True)  # cold: no corpus embeddings, pool or baseline cached
        shutil.rmtree(work / f"run-{side}", ignore_errors=True)
        results[side] = train(recipe, work / f"run-{side}", cache)
        print(f"{side}: {results[side]['wall_s']} s, kept_step {results[side]['kept_step']}", flush=True)
    entry = compare(documents, results["pooled"], results["full"], chosen)
    write_reports(entry, args.out)
    print(json.dumps({k: v for k, v in entry.items() if k != "machine"}, indent=2))


if __name__ == "__main__":
    main()
