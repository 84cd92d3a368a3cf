"""Typer options shared by several commands, so each reads and documents the same everywhere.

A yes/no option that is off by default is one flag (`--overwrite`): a `--no-overwrite` twin
would only repeat the default.
"""

from __future__ import annotations

from typing import Annotated

import typer

ModelArg = Annotated[
    str,
    typer.Argument(
        help="A run folder of `sbft train`, a saved model folder, or a hub id "
        "(sentence-transformers/all-MiniLM-L6-v2 works offline).",
        show_default=False,
    ),
]
DeviceOption = Annotated[
    str | None, typer.Option(help="cpu, cuda, cuda:1, mps... (default: the best available).")
]
BatchSizeOption = Annotated[int, typer.Option(help="Texts per forward pass.")]
MaxSeqLengthOption = Annotated[
    int | None, typer.Option(help="Tokens kept per text; longer texts are truncated (default: the model's).")
]
TrustOption = Annotated[
    bool,
    typer.Option(
        "--trust-remote-code", help="Allow a model that runs custom code from its repository (read it first)."
    ),
]
ReplaceErrorsOption = Annotated[
    bool,
    typer.Option(
        "--replace-errors",
        help="Replace bytes that are not UTF-8 with U+FFFD instead of stopping with an error.",
    ),
]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing output file.")]
BackendOption = Annotated[
    str,
    typer.Option(
        help="torch, onnx or onnx-int8. onnx runs the transformer with ONNX Runtime: under a second "
        "to start where torch takes seconds, the same embeddings within 1e-5. onnx-int8 also quantizes "
        "the weights: faster again, but scores move a little (0.7959 against torch's 0.8167 for one "
        "pair; -0.15 STSb Spearman points). Exported on first use and kept (see `sbft export`)."
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        help="CPU threads (default: OMP_NUM_THREADS, else one per physical core).", show_default=False
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="KEY=VALUE",
        help="Override a recipe field: training.learning_rate=3e-5 (repeatable).",
        show_default=False,
    ),
]
