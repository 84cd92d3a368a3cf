"""Adapters on STSb (issue 17's numbers): a full fine-tune against LoRA adapters and against the
full fine-tune merged back towards its base (`evaluation.merge_base: auto`), side by side.

    python scripts/bench_adapters.py [--stsb-dir DIR] [--samples N] [--sides full,lora-r8,...]

Every side is `sbft train scripts/bench_recipe.yaml` on the packaged all-MiniLM-L6-v2 (STSb,
CosineSimilarityLoss, 1 epoch, batch 32, seed 42), each in its own process so that its peak
memory is its own; LoRA trains at a 10x learning rate (2e-4), the usual practice for adapters,
the full fine-tune at the recipe's 2e-5; one more LoRA side tries 1e-3. Reported: dev and test
Spearman of the shipped model, trainable / total parameters, peak RSS, samples/s, wall time and
the run folder's size. Writes benchmarks/adapters.{md,json} with the machine's CPU flags after
every side. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench import REPO, STSB_DIR, _spearman, environment, machine, machine_line, measure  # noqa: E402

LORA_LEARNING_RATE = "2.0e-4"
SIDES: dict[str, list[str]] = {
    "full": [],
    "full+merge_base-auto": ["evaluation.merge_base=auto"],
    "lora-r8": [
        "model.adapter={method: lora, r: 8, alpha: 16}",
        f"training.learning_rate={LORA_LEARNING_RATE}",
    ],
    "lora-r16": [
        "model.adapter={method: lora, r: 16, alpha: 32}",
        f"training.learning_rate={LORA_LEARNING_RATE}",
    ],
    "lora-r16-lr1e-3": ["model.adapter={method: lora, r: 16, alpha: 32}", "training.learning_rate=1.0e-3"],
}
GOAL_SPEARMAN_GAP = 0.01
GOAL_TRAINABLE_SHARE = 0.05


def run_side(
    name: str, overrides: list[str], workdir: Path, samples: int | None, env: dict[str, str]
) -> dict:
    """One `sbft train` and what its run folder says about it."""
    run_dir = workdir / name.replace("+", "-")
    command = [sys.executable, "-m", "sbft", "train", str(SCRIPTS / "bench_recipe.yaml"), "-o", str(run_dir)]
    command += ["--quiet", "--no-smoke", "--set", f"datasets.stsb.max_samples={samples or 'null'}"]
    for override in overrides:
        command += ["--set", override]
    measured = measure(command, env)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    run_info = json.loads((run_dir / "run.json").read_text())
    parameters = run_info.get("parameters") or {}
    return {
        "overrides": overrides,
        "selected": metrics.get("selected"),
        "dev_spearman": _spearman(metrics["final_dev"]),
        "test_spearman": _spearman(metrics["test"]),
        "base_dev_spearman": _spearman(metrics["baseline_dev"]),
        "merge_base": metrics.get("merge_base"),
        "trainable": parameters.get("trainable"),
        "total": parameters.get("total"),
        "max_rss_mb": round(measured.max_rss_mb),
        "samples_per_s": metrics["training"].get("train_samples_per_second"),
        "wall_s": round(measured.wall_s, 1),
        "folder_mb": round(sum(f.stat().st_size for f in run_dir.rglob("*") if f.is_file()) / 1e6, 1),
        "files": sorted(p.name for p in run_dir.iterdir()),
    }


def _load(result: dict[str, Any]) -> str:
    """The 1-minute load average when the side ended ('?' for a side measured before it was kept)."""
    loads = result.get("load_average_at_end")
    return f"{loads[0]:.2f}" if loads else "?"


def write_tables(results: dict[str, dict], about: dict[str, Any], out: Path) -> None:
    """benchmarks/adapters.{md,json} from the sides measured so far, with the goals checked."""
    about["load_average_at_end"] = os.getloadavg()
    lines = [
        "# Adapters on STSb: full fine-tune, LoRA, and merging back towards the base",
        "",
        "| side | shipped | dev Spearman | test Spearman | trainable / total | peak RSS | samples/s "
        "| whole command | run folder | load at end |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for side, r in results.items():
        share = (
            f"{r['trainable']:,} / {r['total']:,} ({r['trainable'] / r['total']:.2%})" if r["total"] else "?"
        )
        lines.append(
            f"| {side} | {r['selected']} | {r['dev_spearman']:.4f} | {r['test_spearman']:.4f} | {share} | "
            f"{r['max_rss_mb']} MB | {r['samples_per_s']} | {r['wall_s']} s | {r['folder_mb']} MB | "
            f"{_load(r)} |"
        )
    base = next(iter(results.values()))["base_dev_spearman"]
    lines += ["", f"Base model dev Spearman: {base:.4f}. Speed (samples/s, whole command) follows the "]
    lines[-1] += "machine's load: compare it between sides only at a like load average (last column)."
    merged = next((r["merge_base"] for r in results.values() if r.get("merge_base")), None)
    if merged:
        lines += ["", "merge_base (dev, deciding metric, by weight of the tuned model):", ""]
        lines += ["| tuned weight | dev |", "|---|---|"]
        metric = merged.get("metric")
        for ratio, scores in merged.get("ratios", {}).items():
            value = scores.get(metric) if isinstance(scores, dict) else scores
            lines.append(f"| {ratio} | {value if value is None else f'{value:.4f}'} |")
        lines.append(f"\nchosen: {merged.get('chosen')}")
    full = results.get("full")
    if full:
        lines += ["", "| goal | measured | met |", "|---|---|---|"]
        for side, r in results.items():
            if side.startswith("lora") and r["total"]:
                gap = full["dev_spearman"] - r["dev_spearman"]
                share = r["trainable"] / r["total"]
                ok = gap <= GOAL_SPEARMAN_GAP and share < GOAL_TRAINABLE_SHARE
                lines.append(
                    f"| {side} within {GOAL_SPEARMAN_GAP} dev Spearman of full at < "
                    f"{GOAL_TRAINABLE_SHARE:.0%} trainable | {gap:+.4f} at {share:.2%} | "
                    f"{'yes' if ok else 'NO'} |"
                )
    lines += ["", machine_line(about), "", "Written by `python scripts/bench_adapters.py`."]
    out.mkdir(exist_ok=True)
    (out / "adapters.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (out / "adapters.json").write_text(json.dumps({"machine": about, "results": results}, indent=2) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stsb-dir", type=Path, default=STSB_DIR)
    parser.add_argument("--samples", type=int, help="STSb train pairs (default: all 5,749)")
    parser.add_argument("--sides", default=",".join(SIDES), help="comma-separated, of: " + ", ".join(SIDES))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    options = parser.parse_args()
    sides = options.sides.split(",")
    unknown = [side for side in sides if side not in SIDES]
    if unknown:
        parser.error(f"unknown side(s) {', '.join(unknown)}")
    about = machine()
    earlier = options.out / "adapters.json"
    # Sides measured by an earlier run are kept (each with its own load average) unless rerun.
    results: dict[str, dict] = json.loads(earlier.read_text())["results"] if earlier.exists() else {}
    with tempfile.TemporaryDirectory(prefix="sbft-bench-adapters-") as folder:
        # Every side evaluates its base model itself: no side's wall time profits from another's cache.
        env = environment(STSB_DIR=str(options.stsb_dir.resolve()), SBFT_NO_CACHE="1")
        for side in sides:
            print(f"running {side} ...", flush=True)
            results[side] = run_side(side, SIDES[side], Path(folder), options.samples, env)
            results[side]["load_average_at_end"] = os.getloadavg()
            print(f"  {side}: dev Spearman {results[side]['dev_spearman']:.4f}", flush=True)
            write_tables(
                results, about, options.out
            )  # after every side: a stopped run keeps what it measured
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
