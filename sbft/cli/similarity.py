"""`sbft similarity MODEL TEXT_A TEXT_B`: how alike two texts are, by the model's own measure."""

from __future__ import annotations

from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import BackendOption, DeviceOption, ModelArg, ThreadsOption, TrustOption


@app.command()
@user_errors
def similarity(
    model: ModelArg,
    text_a: Annotated[str, typer.Argument(help="The first text.", show_default=False)],
    text_b: Annotated[str, typer.Argument(help="The second text.", show_default=False)],
    device: DeviceOption = None,
    backend: BackendOption = "torch",
    threads: ThreadsOption = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Print the cosine similarity of two texts (a cross-encoder prints its score for the pair).

    Faster: with --backend torch each call loads torch (5-16 s on a busy 2-core machine); with
    --backend onnx it starts in under a second and embeds as torch does (within 1e-5). For many
    calls, export once (`sbft export MODEL`; the first --backend onnx call also does it).
    """
    from sbft.inference import compare_texts

    score = compare_texts(
        model,
        text_a,
        text_b,
        device=device,
        backend=backend,
        threads=threads,
        trust_remote_code=trust_remote_code,
    )
    typer.echo(f"{score:.4f}")
