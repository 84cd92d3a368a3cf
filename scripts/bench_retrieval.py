"""Retrieval on WikiQA: the shipped recipe against a plain sentence-transformers script, with and
without mined hard negatives (issue 13's numbers).

    python scripts/bench_retrieval.py [--wikiqa DIR] [--sides sbft,sbft-mined,plain,plain-mined]
    python scripts/bench_retrieval.py --race 2 [--warm-cache]   # whole commands vs plain, alternating

Each side trains MultipleNegativesRankingLoss on the qrels/train pairs (2 epochs, batch 32, lr 2e-5,
seed 42, no_duplicates) and searches the 159 dev questions over the whole 18,821-sentence corpus
(nDCG@10). Every side runs in its own process; writes benchmarks/retrieval.{md,json} with the machine's
CPU flags. Long on 2 cores (each corpus evaluation takes about two minutes): a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench import REPO, machine, machine_line  # noqa: E402

MODEL = "sentence-transformers/all-MiniLM-L6-v2"
MAIN = "wikiqa_cosine_ndcg@10"
MINE = "{num: 1, range_min: 10, range_max: 50, relative_margin: 0.05, sampling: top}"
REFERENCE_BASE = 0.6808


def run(command: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, float]:
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    if result.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result, time.perf_counter() - started


def sbft_side(workdir: Path, env: dict[str, str], mined: bool) -> dict[str, Any]:
    run_dir = workdir / ("sbft-mined" if mined else "sbft")
    # Both sides say what they do with negatives: the shipped recipe mines them.
    negatives = f"{{mine: {MINE}}}" if mined else "null"
    extra = ["--set", f"datasets.wikiqa.negatives={negatives}"]
    sbft = [sys.executable, "-m", "sbft", "train", "configs/retrieval.yaml", "-o", str(run_dir), "-q", *extra]
    _, wall = run(sbft, env)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    whole = None
    if metrics.get("dev_pool"):  # pooled dev scores: the kept model over the whole corpus too, untimed
        beir = Path(env["WIKIQA_DIR"]) / "beir"
        scored, _ = run([sys.executable, "-m", "sbft", "eval", str(run_dir), f"{beir}#dev", "--json"], env)
        (scores,) = json.loads(scored.stdout.strip().splitlines()[-1]).values()  # one model
        whole = next(value for key, value in scores.items() if key.endswith("cosine_ndcg@10"))
    training = metrics.get("training", {})
    mining = metrics.get("mining", {})
    return {
        "base": metrics["baseline_dev"].get(MAIN),
        "dev": metrics["final_dev"].get(MAIN),
        "dev_pool": metrics.get("dev_pool"),
        "dev_whole_corpus": whole,  # None: the dev score above is over the whole corpus already
        "dev_metrics": metrics["final_dev"],
        "selected": metrics.get("selected"),
        "kept_step": metrics.get("kept_step"),
        "mining": mining,
        "mining_s": round(sum(record.get("seconds", 0.0) for record in mining.values()), 1)
        if mining
        else None,
        "training_s": round(training.get("train_runtime", 0.0), 1),  # with the per-epoch evaluations
        "evaluations_during_training_s": round(
            sum(e.get("runtime", 0.0) for e in metrics.get("evaluations", [])), 1
        ),
        "wall_s": round(wall, 1),
    }


def plain_side(workdir: Path, env: dict[str, str], beir: Path, mined: bool) -> dict[str, Any]:
    from sbft.models import resolve_model_path  # the packaged copy: a hub id would need the network

    command = [sys.executable, str(SCRIPTS / "plain_retrieval.py"), resolve_model_path(MODEL), str(beir)]
    command += ["--output-dir", str(workdir / f"plain{'-mined' if mined else ''}")] + (
        ["--mine"] if mined else []
    )
    result, wall = run(command, env)
    measured = json.loads(result.stdout.strip().splitlines()[-1])
    return {
        **measured,
        "dev": measured["dev"].get(MAIN),
        "dev_metrics": measured["dev"],
        "wall_s": round(wall, 1),
    }


def write_tables(results: dict[str, Any], about: dict[str, Any]) -> None:
    """benchmarks/retrieval.{md,json} from the sides measured so far."""
    about["load_average_at_end"] = os.getloadavg()
    lines = [
        "# Retrieval on WikiQA: dev nDCG@10 over the whole corpus",
        "",
        "| side | dev nDCG@10 | MRR@10 | Recall@10 | training (sbft: with its per-epoch evaluations) "
        "| mining | whole command | load at end |",
        "|---|---|---|---|---|---|---|---|",
    ]
    base = next((r["base"] for r in results.values() if r.get("base") is not None), None)
    if base is not None:
        lines.append(f"| base model (reference {REFERENCE_BASE}) | {base:.4f} | | | | | | |")
    for side, r in results.items():
        metrics = r["dev_metrics"]
        mining_s = r.get("mining_s")
        loads = r.get("load_average_at_end")
        load = f"{loads[0]:.2f}" if loads else "?"
        lines.append(
            f"| {side} | {r['dev']:.4f} | {metrics.get('wikiqa_cosine_mrr@10', float('nan')):.4f} | "
            f"{metrics.get('wikiqa_cosine_recall@10', float('nan')):.4f} | {r.get('training_s', '')} s | "
            f"{'' if mining_s is None else f'{mining_s} s'} | {r['wall_s']} s | {load} |"
        )
    lines += ["", machine_line(about), "", "Written by `python scripts/bench_retrieval.py`."]
    out = REPO / "benchmarks"
    out.mkdir(exist_ok=True)
    (out / "retrieval.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    earlier = json.loads((out / "retrieval.json").read_text()) if (out / "retrieval.json").exists() else {}
    record = {**earlier, "machine": about, "results": results}  # a race's figures stay
    (out / "retrieval.json").write_text(json.dumps(record, indent=2) + "\n")


def race(rounds: int, workdir: Path, env: dict[str, str], beir: Path, warm: bool) -> dict[str, Any]:
    """The shipped recipe (mined negatives) against the plain script with --mine, whole commands,
    alternating in rotating order. Cold: every sbft run gets an empty SBFT_CACHE (nothing from an
    earlier run); warm: the runs share one cache, as a user's second run of a recipe would."""
    sides: dict[str, list[dict[str, Any]]] = {"sbft": [], "plain": []}
    shared_cache = workdir / "warm-cache"
    for round_ in range(rounds):
        for side in ("sbft", "plain") if round_ % 2 == 0 else ("plain", "sbft"):
            cache = shared_cache if warm else workdir / f"cache-{side}-{round_}"
            side_env = {**env, "SBFT_CACHE": str(cache)}
            side_env.pop("SBFT_NO_CACHE", None)
            print(f"round {round_ + 1}: {side} ...", flush=True)
            if side == "sbft":
                measured = sbft_side(workdir / f"r{round_}", side_env, mined=True)
            else:
                measured = plain_side(workdir / f"r{round_}", side_env, beir, mined=True)
            measured["load_average_at_end"] = os.getloadavg()
            whole = measured.get("dev_whole_corpus")
            over = f" (pooled; whole corpus {whole:.4f})" if whole is not None else ""
            took = f"in {measured['wall_s']:.0f} s"
            print(f"  {side}: dev nDCG@10 {measured['dev']:.4f}{over} {took}", flush=True)
            sides[side].append(measured)
    median = {side: statistics.median(r["wall_s"] for r in runs) for side, runs in sides.items()}
    return {
        "sbft_seconds": median["sbft"],
        "plain_seconds": median["plain"],
        "ratio_sbft_over_plain": round(median["sbft"] / median["plain"], 3),
        "cache": "warm" if warm else "cold",
        "rounds": sides,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--wikiqa", type=Path, default=REPO.parent / "shared" / "data" / "wikiqa")
    parser.add_argument("--sides", default="sbft,sbft-mined,plain,plain-mined")
    parser.add_argument("--race", type=int, default=0, help="rounds of shipped recipe vs plain script")
    parser.add_argument("--warm-cache", action="store_true", help="with --race: sbft runs share a cache")
    options = parser.parse_args()
    beir = options.wikiqa.resolve() / "beir"
    env = {**os.environ, "WIKIQA_DIR": str(options.wikiqa.resolve()), "HF_HUB_OFFLINE": "1"}
    about = machine()
    earlier = REPO / "benchmarks" / "retrieval.json"
    # Sides measured by an earlier run are kept (each with its own load average) unless rerun.
    record = json.loads(earlier.read_text()) if earlier.exists() else {}
    if options.race:
        with tempfile.TemporaryDirectory(prefix="sbft-bench-race-") as folder:
            outcome = race(options.race, Path(folder), env, beir, options.warm_cache)
        record.update({key: value for key, value in outcome.items() if key != "rounds"})
        record.setdefault("races", {})[outcome["cache"]] = {**outcome, "machine": about}
        earlier.write_text(json.dumps(record, indent=2) + "\n")
        print(f"sbft {outcome['sbft_seconds']:.0f} s, plain {outcome['plain_seconds']:.0f} s", flush=True)
        return 0
    results: dict[str, Any] = record.get("results", {})
    with tempfile.TemporaryDirectory(prefix="sbft-bench-retrieval-") as folder:
        workdir = Path(folder)
        for side in options.sides.split(","):
            print(f"running {side} ...", flush=True)
            if side.startswith("sbft"):
                results[side] = sbft_side(workdir, env, mined=side.endswith("mined"))
            else:
                results[side] = plain_side(workdir, env, beir, mined=side.endswith("mined"))
            results[side]["load_average_at_end"] = os.getloadavg()
            print(
                f"  {side}: dev nDCG@10 {results[side]['dev']:.4f} in {results[side]['wall_s']:.0f} s",
                flush=True,
            )
            write_tables(results, about)  # after every side: a stopped run keeps what it measured
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
