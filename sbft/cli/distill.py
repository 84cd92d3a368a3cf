"""`sbft distill MODEL -o DIR`: a static (model2vec) copy of a bi-encoder, for fast CPU encoding."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import DeviceOption, ModelArg, TrustOption


@app.command()
@user_errors
def distill(
    model: ModelArg,
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", help="A new (or empty) folder for the static model.", show_default=False
        ),
    ],
    pca_dims: Annotated[
        int | None,
        typer.Option(help="Dimensions kept by PCA (default 256; at most the model's own)."),
    ] = None,
    device: DeviceOption = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Distill MODEL into a static embedding model with model2vec: one vector per token, averaged.

    It encodes hundreds of times faster than a transformer on a CPU, at some cost in quality;
    tune it with configs/static.yaml. The folder is a sentence-transformers model: use it as
    `model.name` in a recipe or as MODEL in encode, eval and search. Runs offline, in a few
    minutes on a small CPU (each token of the vocabulary is encoded once).
    """
    from sbft.distill import DEFAULT_PCA_DIMS
    from sbft.distill import distill as run_distill

    made = run_distill(
        model,
        output,
        pca_dims=DEFAULT_PCA_DIMS if pca_dims is None else pca_dims,
        device=device,
        trust_remote_code=trust_remote_code,
    )
    typer.echo(
        f"{made.folder}: a static model of {made.vocabulary:,} tokens x {made.dimensions} dimensions "
        f"({made.seconds:.0f} s)"
    )
