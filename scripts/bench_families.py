"""One comparison of model families on the same data (issue 23): dense, static and sparse models.

    python scripts/bench_families.py --model minilm=sentence-transformers/all-MiniLM-L6-v2 \
        --model static=runs/static-base --model static-tuned=runs/static [--wikiqa] [--texts 4000]

For each model: STSb test Spearman (`sbft eval MODEL configs/stsb.yaml#stsb:test`, a process of
its own), in-process encode throughput on STSb sentences (one torch thread: comparable across
models on a shared machine), the index size per document (float32 values; a sparse model's CSR
entries, 8 bytes each, at its measured active dimensions) and, with --wikiqa, WikiQA dev nDCG@10
over the whole 18,821-sentence corpus (minutes per transformer model on 2 cores). A whole
`sbft encode` of --command-texts lines is timed too, for the static and sparse models only by
default (MiniLM's would take minutes: --command-all to include it). Writes
benchmarks/families.{md,json} with the machine's CPU flags. A benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench import REPO, STSB_DIR, environment, machine, machine_line, stsb_sentences  # noqa: E402

WIKIQA_DIR = REPO.parent / "shared" / "data" / "wikiqa"
SBFT = [sys.executable, "-m", "sbft"]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", action="append", required=True, metavar="LABEL=MODEL")
    parser.add_argument("--stsb-dir", type=Path, default=STSB_DIR)
    parser.add_argument("--texts", type=int, default=4000, help="STSb sentences for in-process throughput")
    parser.add_argument("--command-texts", type=int, default=100_000)
    parser.add_argument("--command-all", action="store_true", help="time `sbft encode` for every model")
    parser.add_argument("--wikiqa", action="store_true", help="also WikiQA dev nDCG@10 (slow)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "families")
    args = parser.parse_args()
    rows = _earlier(args.out)  # rows of other models measured before stay; a label measured again is replaced
    for given in args.model:
        label, _, model = given.partition("=")
        rows = [row for row in rows if row["label"] != label] + [measure_model(label, model, args)]
        write(rows, args.out)  # after every model: a long run keeps what it measured
    print(args.out.with_suffix(".md").read_text(encoding="utf-8"))


def _earlier(out: Path) -> list[dict[str, Any]]:
    try:
        return list(json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))["rows"])
    except (OSError, ValueError, KeyError):
        return []


def measure_model(label: str, model: str, args: argparse.Namespace) -> dict[str, Any]:
    """Quality, throughput and index size of one model."""
    from sbft.inference.locations import model_location
    from sbft.models import detect_family

    family = detect_family(model_location(model))
    row: dict[str, Any] = {"label": label, "model": model, "family": family.name}
    row["stsb_test_spearman"] = _main_metric(_eval(model, "configs/stsb.yaml#stsb:test", args), "spearman")
    if args.wikiqa:
        row["wikiqa_dev_ndcg@10"] = _main_metric(_eval(model, str(WIKIQA_DIR / "beir"), args), "ndcg@10")
    row.update(_throughput(model, stsb_sentences(args.stsb_dir, args.texts), family.sparse))
    if args.command_all or family.sparse or "static" in label:
        row["command_texts_per_s"] = _whole_command(model, args.command_texts, family.sparse)
    return row


def _eval(model: str, data: str, args: argparse.Namespace) -> dict[str, float]:
    env = environment(STSB_DIR=str(args.stsb_dir))
    done = subprocess.run([*SBFT, "eval", model, data, "--json"], capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise SystemExit(f"sbft eval {model} {data} failed:\n{done.stderr}")
    return next(iter(json.loads(done.stdout).values()))


def _main_metric(metrics: dict[str, float], name: str) -> float | None:
    """stsb_spearman_cosine (dense), stsb_spearman_dot (sparse); wikiqa_cosine_ndcg@10, wikiqa_dot_ndcg@10."""
    found = [v for k, v in metrics.items() if name in k and "_dim" not in k]
    return round(found[0], 4) if found else None


def _throughput(model: str, texts: list[str], sparse: bool) -> dict[str, Any]:
    """Texts/s of model.encode in this process on one torch thread, and bytes per indexed document."""
    import torch

    from sbft.inference.locations import model_location
    from sbft.models import load_model

    torch.set_num_threads(1)
    loaded = load_model(model_location(model), device="cpu")
    loaded.encode(texts[:64])  # warm-up
    started = time.perf_counter()
    embeddings = loaded.encode(texts, batch_size=64, show_progress_bar=False)
    seconds = time.perf_counter() - started
    if sparse:
        active = float(loaded.sparsity(embeddings)["active_dims"])
        size = {"active_dims": round(active, 1), "bytes_per_doc": round(active * 8)}  # index + value
    else:
        size = {"dims": int(embeddings.shape[1]), "bytes_per_doc": int(embeddings.shape[1]) * 4}
    return {"in_process_texts_per_s": round(len(texts) / seconds), **size}


def _whole_command(model: str, count: int, sparse: bool) -> float:
    """`sbft encode` of `count` STSb-like lines (repeated sentences), start-up included."""
    texts = stsb_sentences(STSB_DIR, 17_000)  # STSb holds 17,256
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "texts.txt"
        source.write_text("\n".join(texts[i % len(texts)] for i in range(count)) + "\n", encoding="utf-8")
        output = Path(tmp) / ("out.npz" if sparse else "out.npy")
        started = time.perf_counter()
        done = subprocess.run(
            [*SBFT, "encode", model, str(source), "-o", str(output), "-q"], env=environment()
        )
        seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"sbft encode {model} failed")
    return round(count / seconds)


def write(rows: list[dict[str, Any]], out: Path) -> None:
    about = machine()
    out.with_suffix(".json").write_text(json.dumps({"machine": about, "rows": rows}, indent=2) + "\n")
    columns = [
        ("model", "label"),
        ("family", "family"),
        ("STSb test Spearman", "stsb_test_spearman"),
        ("WikiQA dev nDCG@10", "wikiqa_dev_ndcg@10"),
        ("texts/s in-process (1 thread)", "in_process_texts_per_s"),
        ("`sbft encode` texts/s (whole command)", "command_texts_per_s"),
        ("index bytes/doc", "bytes_per_doc"),
    ]
    lines = [
        "# Model families on the same data (scripts/bench_families.py)",
        "",
        machine_line(about),
        f"Load average at the end: {' '.join(f'{v:.1f}' for v in os.getloadavg())} (a shared machine).",
        "",
        "| " + " | ".join(title for title, _ in columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows:
        values = [row.get(key) for _, key in columns]
        lines.append(
            "| "
            + " | ".join("" if v is None else f"{v:,}" if isinstance(v, int) else str(v) for v in values)
            + " |"
        )
    out.with_suffix(".md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
