"""`sbft tune` measured (issue 24): the shipped tune recipes' studies, written to benchmarks/tune.md.

    python scripts/bench_tune.py stsb                       # configs/stsb-tune.yaml, 12 trials
    python scripts/bench_tune.py retrieval                  # configs/retrieval-tune.yaml
    python scripts/bench_tune.py stsb --timeout 3600        # start no trial after an hour
    python scripts/bench_tune.py stsb --work /tmp/x --out /tmp/y --trials 1   # a quick check

Each study runs as `sbft tune CONFIG -o WORK/NAME` in its own process, the real command: the study
lives in WORK/NAME/study.db, so running the script again resumes it (a study cut short by the
timeout or by the end of a session goes on where it stopped). The section for that study in
benchmarks/tune.md is then rewritten from what the study folder holds: the untuned recipe (the
study's first trial) and the best trial on dev and on test (evaluated once each, after the search),
the shipped recipe's published test score beside them, every trial with its wall time, the machine
and its load. Sections of the other studies are kept. Hours on 2 CPU cores: a benchmark, never a test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent
sys.path.insert(0, str(SCRIPTS))

from bench import REPO, STSB_DIR, environment, machine, machine_line  # noqa: E402

STUDIES = {
    "stsb": {
        "config": REPO / "configs" / "stsb-tune.yaml",
        "env": {"STSB_DIR": os.environ.get("STSB_DIR", str(STSB_DIR))},
        "reference": "configs/stsb.yaml (README, Measured): test Spearman 0.8507, dev 0.8945",
    },
    "retrieval": {
        "config": REPO / "configs" / "retrieval-tune.yaml",
        "env": {"WIKIQA_DIR": os.environ.get("WIKIQA_DIR", str(REPO.parent / "shared" / "data" / "wikiqa"))},
        "reference": "configs/retrieval.yaml (benchmarks/retrieval.md): dev nDCG@10 0.7057",
    },
}
MARKER = "<!-- study: {} -->"


def run_study(name: str, work: Path, trials: int | None, timeout: float | None) -> float:
    """`sbft tune` on the study's config, its output passed through; the wall seconds."""
    study = STUDIES[name]
    command = [sys.executable, "-m", "sbft", "tune", str(study["config"]), "-o", str(work / name)]
    if trials is not None:
        command += ["--trials", str(trials)]
    if timeout is not None:
        command += ["--timeout", str(timeout)]
    started = time.perf_counter()
    code = subprocess.run(command, env=environment(**study["env"])).returncode
    if code != 0:
        raise SystemExit(f"sbft tune stopped with exit code {code}; benchmarks/tune.md is unchanged")
    return time.perf_counter() - started


def section(name: str, folder: Path, about: dict[str, Any], seconds: float) -> str:
    """The study's part of tune.md: its own report.md (tables, wall time per trial), the reference,
    the machine; the plots' paths point into the study folder, which is not in the repository."""
    report = (folder / "report.md").read_text(encoding="utf-8")
    body = report.split("\n", 1)[1].split("## Plots")[0].strip()
    scored = folder / "test.json"  # absent without a test split: the report body says so
    tests = json.loads(scored.read_text(encoding="utf-8")) if scored.is_file() else {}
    lines = [
        MARKER.format(name),
        f"## {name}: `sbft tune {STUDIES[name]['config'].relative_to(REPO)}`",
        "",
        f"Reference: {STUDIES[name]['reference']}.",
        "",
        body,
        "",
        *([f"Test metrics (all, per scored trial): `{json.dumps(tests)}`", ""] if tests else []),
        f"This invocation: {seconds / 60:.1f} min, load average at its end "
        + ", ".join(f"{load:.2f}" for load in about["load_average_at_end"])
        + f". {machine_line(about)}",
        "",
    ]
    return "\n".join(lines)


def write(out: Path, name: str, text: str) -> Path:
    """tune.md with this study's section replaced (or added); the others' kept as they were."""
    path = out / "tune.md"
    old = path.read_text(encoding="utf-8") if path.exists() else "# `sbft tune` measured\n"
    head, *parts = old.split("<!-- study: ")
    kept = {part.split(" -->", 1)[0]: "<!-- study: " + part for part in parts}
    kept[name] = text
    path.write_text(head.rstrip() + "\n\n" + "\n".join(kept[k].rstrip() + "\n" for k in sorted(kept)))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("study", choices=sorted(STUDIES))
    parser.add_argument("--trials", type=int, help="run this many more trials (default: the recipe's)")
    parser.add_argument("--timeout", type=float, help="start no trial after this many seconds")
    parser.add_argument("--work", type=Path, default=Path("/tmp/sbft-bench-tune"), help="study folders")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks", help="where tune.md goes")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    about = machine()
    seconds = run_study(args.study, args.work, args.trials, args.timeout)
    about["load_average_at_end"] = os.getloadavg()
    path = write(args.out, args.study, section(args.study, args.work / args.study, about, seconds))
    print(path.read_text(encoding="utf-8"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
