"""The index at N documents (issue 22, item 4): build time, size on disk, recall@10 against exact
search after float32 rescoring, and query latency, for each quantization of `sbft index`.

    python scripts/bench_index.py                                   # the 1M corpus of bench_scale
    python scripts/bench_index.py --embeddings /tmp/sbft-bench-scale/work-100000/corpus.npy \\
        --texts /tmp/sbft-bench-scale/corpus-100000/corpus.txt      # 100k, to try the script

The corpus embeddings are those scripts/bench_scale.py's encode stage wrote (`sbft encode` of the
one-layer MiniLM over WikiQA's sentences and shuffled-word filler, N x 384 float32); they are
indexed by sbft.index.build_index (what `sbft index` calls after encoding), not encoded again.
Queries are WikiQA's 873 questions, embedded by the same model as `sbft search` embeds queries.
Ground truth is exact cosine search, the chunked numpy matmul of `sbft search`
(sbft.inference.corpus.top_k_cosine). Recall@10 is |index top 10 & exact top 10| / 10, averaged;
"with ties" also counts a row whose exact score equals the 10th's within 1e-6 (near-duplicates of
the filler tie). Latency is one query at a time through OpenIndex.nearest (faiss candidates +
rescoring + ordering; the query's encode is timed apart), on this machine's 2 cores.
Writes benchmarks/index.json (a list: one report per corpus size, a rerun replacing its size) and
benchmarks/index.md. Long at 1M on 2 cores: never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "2")
SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench import REPO, machine, machine_line  # noqa: E402

SCALE = Path("/tmp/sbft-bench-scale")
WIKIQA_QUERIES = REPO.parent / "shared" / "data" / "wikiqa" / "beir" / "queries.jsonl"
RESCORE = {"none": (400, 1000), "int8": (400, 1000, 2000), "binary": (1000, 3000, 10000)}
LARGE_RESCORE = {"none": (1000, 4000), "int8": (2000, 4000, 8000), "binary": (3000, 10000, 20000)}
"""From 500,000 documents: near-duplicates crowd the top 10, and candidates must grow with them."""
"""Candidates per query: HNSW's search breadth for none, rescored candidates for int8 and binary."""


def query_vectors(model: str) -> tuple[Any, float]:
    """WikiQA's questions embedded as `sbft search` embeds queries; and the p50 ms of one query's encode."""
    import numpy as np

    from sbft.inference import EncodeOptions, Encoder, load_encoder

    questions = [json.loads(line)["text"] for line in WIKIQA_QUERIES.read_text(encoding="utf-8").splitlines()]
    encoder = Encoder(load_encoder(model), EncodeOptions(batch_size=64), role="query")
    single = []
    for question in questions[:100]:
        started = time.perf_counter()
        encoder.encode([question])
        single.append(time.perf_counter() - started)
    return encoder.encode(questions), float(np.median(single) * 1000)


def exact_top10(queries: Any, vectors: Any) -> tuple[Any, Any, float]:
    """Exact top 10 rows and the 10th score per query, and the seconds it took."""
    from sbft.inference.corpus import top_k_cosine

    started = time.perf_counter()
    scores, rows = top_k_cosine(queries, vectors, 10)
    return rows, scores[:, -1], time.perf_counter() - started


def measure(opened: Any, queries: Any, exact: Any, tenth: Any, vectors: Any, rescore: int) -> dict[str, Any]:
    """Recall@10 (plain, with ties) and p50/p99 ms of single-query searches at `rescore` candidates."""
    import numpy as np

    from sbft.inference.corpus import unit_rows

    latencies, found = [], []
    for query in queries:
        started = time.perf_counter()
        hits = opened.nearest(query[None, :], 10, rescore)[0]
        latencies.append(time.perf_counter() - started)
        found.append([row for row, _ in hits])
    plain = np.mean([len(set(f) & set(e.tolist())) / 10 for f, e in zip(found, exact, strict=True)])
    units = unit_rows(queries)
    tied = []
    for query, rows, kth in zip(units, found, tenth, strict=True):
        scores = unit_rows(np.asarray(vectors[np.sort(rows)], dtype=np.float32)) @ query
        tied.append(min(10, int(np.sum(scores >= kth - 1e-6))) / 10)
    return {
        "rescore": rescore,
        "recall_at_10": round(float(plain), 4),
        "recall_at_10_with_ties": round(float(np.mean(tied)), 4),
        "p50_ms": round(float(np.percentile(latencies, 50) * 1000), 2),
        "p99_ms": round(float(np.percentile(latencies, 99) * 1000), 2),
    }


def bench_quantization(
    quantization: str,
    vectors: Any,
    texts: list[str],
    model: dict[str, Any],
    work: Path,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Build, size, open and search one index; the folder is removed afterwards (disk)."""
    from sbft.index import build_index, open_index

    folder = work / f"index-{quantization}"
    shutil.rmtree(folder, ignore_errors=True)
    started = time.perf_counter()
    record = build_index(
        vectors,
        texts,
        folder,
        model=model,
        quantization=quantization,
        threads=2,
        hnsw_m=args.hnsw_m,
        ef_construction=args.ef_construction,
    )
    build_s = time.perf_counter() - started
    opening = time.perf_counter()
    opened = open_index(folder)
    open_s = time.perf_counter() - opening
    result = {
        "quantization": quantization,
        "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "index": record["settings"]["index"],
        "build_seconds": round(build_s, 1),
        "open_seconds_with_checksums": round(open_s, 1),
        "bytes": {name: entry["bytes"] for name, entry in record["files"].items()},
        "runs": [],
    }
    for rescore in (LARGE_RESCORE if len(texts) >= 500_000 else RESCORE)[quantization]:
        run = measure(opened, args.queries_vectors, args.exact, args.tenth, vectors, rescore)
        print(quantization, run, flush=True)
        result["runs"].append(run)
    result["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    del opened
    if not args.keep:
        shutil.rmtree(folder)
    return result


def synthetic(vectors: Any, texts: list[str], rows: int, work: Path) -> tuple[Any, list[str]]:
    """`rows` rows: the real ones, then copies of them with Gaussian noise (norm 0.2 against unit rows,
    cosine ~0.98 to their source: near-duplicates, as the shuffled filler is), seeded; memory-mapped."""
    import numpy as np

    from sbft.inference.corpus import unit_rows

    work.mkdir(parents=True, exist_ok=True)
    path = work / f"synthetic-{rows}.npy"
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(rows, vectors.shape[1]))
    rng = np.random.default_rng(0)
    for begin in range(0, rows, len(vectors)):
        block = unit_rows(vectors[: min(len(vectors), rows - begin)])
        if begin:
            block = block + rng.standard_normal(block.shape, dtype=np.float32) * (0.2 / block.shape[1] ** 0.5)
        out[begin : begin + len(block)] = block
    out.flush()
    return np.load(path, mmap_mode="r"), [texts[i % len(texts)] for i in range(rows)]


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"# Index at {report['documents']:,} documents x {report['dim']} dimensions",
        "",
        machine_line(report["machine"]),
        f"Load average at the end: {', '.join(f'{x:.2f}' for x in report['load_average_at_end'])}.",
        "",
        f"Corpus: `{report['embeddings']}` (the one-layer MiniLM of scripts/bench_scale.py over WikiQA and "
        f"shuffled-word filler). Queries: WikiQA's {report['queries']} questions (query role). Exact "
        f"search of all queries (chunked numpy): {report['exact_seconds']:.1f} s. One query's encode: "
        f"{report['query_encode_p50_ms']:.1f} ms (p50), not counted below.",
        "",
        "| quantization | faiss index | build s | size on disk MB | candidates | recall@10 | with ties "
        "| p50 ms | p99 ms | load after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for result in report["results"]:
        size = sum(result["bytes"].values()) / 2**20
        load = ", ".join(f"{x:.1f}" for x in result.get("load_average_after", [])) or "?"
        for run in result["runs"]:
            lines.append(
                f"| {result['quantization']} | {result['index']} | {result['build_seconds']:.0f} "
                f"| {size:,.0f} "
                f"| {run['rescore']:,} | {run['recall_at_10']:.4f} | {run['recall_at_10_with_ties']:.4f} "
                f"| {run['p50_ms']:.2f} | {run['p99_ms']:.2f} | {load} |"
            )
    lines += ["", *report.get("notes", [])]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embeddings", type=Path, default=SCALE / "work-1000000" / "corpus.npy")
    parser.add_argument("--texts", type=Path, default=SCALE / "corpus-1000000" / "corpus.txt")
    parser.add_argument("--model", default=str(SCALE / "minilm-1-layer"))
    parser.add_argument("--quantizations", default="binary,int8,none")
    parser.add_argument("--hnsw-m", type=int, default=None)
    parser.add_argument("--ef-construction", type=int, default=None)
    parser.add_argument("--work", type=Path, default=Path("/tmp/sbft-bench-index"))
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks")
    parser.add_argument("--keep", action="store_true", help="keep the index folders")
    parser.add_argument("--note", action="append", default=[], help="a line for index.md")
    parser.add_argument(
        "--synthetic",
        type=int,
        help="N rows made from --embeddings: each real row, then noisy copies of it (labelled synthetic)",
    )
    args = parser.parse_args(argv)
    import numpy as np

    from sbft.index import backend
    from sbft.index.record import model_entry
    from sbft.inference import EncodeOptions, load_encoder
    from sbft.inference.corpus import model_identity

    args.hnsw_m = args.hnsw_m or backend.HNSW_M
    args.ef_construction = args.ef_construction or backend.EF_CONSTRUCTION
    about = machine()
    vectors = np.load(args.embeddings, mmap_mode="r")
    with open(args.texts, encoding="utf-8") as stream:
        texts = [line.rstrip("\n") for line in stream]
    if args.synthetic:
        vectors, texts = synthetic(vectors, texts, args.synthetic, args.work)
        args.embeddings = f"{args.embeddings} + noisy copies (synthetic)"
    assert len(texts) == len(vectors), (len(texts), vectors.shape)
    model = model_entry(
        args.model, model_identity(load_encoder(args.model), EncodeOptions(), "text", args.model)
    )
    args.queries_vectors, encode_ms = query_vectors(args.model)
    args.exact, args.tenth, exact_s = exact_top10(args.queries_vectors, vectors)
    print(f"exact search: {exact_s:.1f} s", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    for quantization in args.quantizations.split(","):  # written after each: a long run keeps its parts
        results.append(bench_quantization(quantization, vectors, texts, model, args.work, args))
        write(args, about, vectors, encode_ms, exact_s, results)
    print(markdown(write(args, about, vectors, encode_ms, exact_s, results)))
    return 0


def write(
    args: argparse.Namespace,
    about: dict[str, Any],
    vectors: Any,
    encode_ms: float,
    exact_s: float,
    results: list,
) -> dict[str, Any]:
    """benchmarks/index.json and index.md with the results so far."""
    report = {
        "documents": len(vectors),
        "dim": int(vectors.shape[1]),
        "embeddings": str(args.embeddings),
        "queries": len(args.queries_vectors),
        "exact_seconds": round(exact_s, 1),
        "query_encode_p50_ms": round(encode_ms, 2),
        "hnsw_m": args.hnsw_m,
        "ef_construction": args.ef_construction,
        "machine": about,
        "load_average_at_end": list(os.getloadavg()),
        "results": results,
        "notes": args.note,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / "index.json"
    reports = json.loads(path.read_text(encoding="utf-8")) if path.exists() else []
    rerun = {result["quantization"] for result in results}
    for old in reports:  # the same size: keep the quantizations this run did not measure again
        if old["documents"] == report["documents"] and old["embeddings"] == report["embeddings"]:
            report["results"] = [r for r in old["results"] if r["quantization"] not in rerun] + results
    reports = sorted(
        [r for r in reports if r["documents"] != report["documents"]] + [report], key=lambda r: r["documents"]
    )
    path.write_text(json.dumps(reports, indent=2) + "\n", encoding="utf-8")
    (args.out / "index.md").write_text("\n".join(markdown(r) for r in reports), encoding="utf-8")
    return report


if __name__ == "__main__":
    sys.exit(main())
