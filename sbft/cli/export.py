"""`sbft export MODEL --backend onnx [--quantize int8]`: make the ONNX files --backend onnx runs, now."""

from __future__ import annotations

from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import ModelArg, TrustOption
from sbft.errors import SbftError


@app.command()
@user_errors
def export(
    model: ModelArg,
    backend: Annotated[str, typer.Option(help="The format to export to: onnx.")] = "onnx",
    quantize: Annotated[
        str | None,
        typer.Option(
            help="int8: also write the int8 model that --backend onnx-int8 runs (weights quantized "
            "for this CPU: avx512_vnni, avx512, avx2 or arm64). Faster, but its scores differ a little "
            "from torch's (0.7959 against 0.8167 for one pair; -0.15 STSb Spearman points).",
            show_default=False,
        ),
    ] = None,
    trust_remote_code: TrustOption = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Make sbft's export files again, even when their record says they are current.",
        ),
    ] = False,
) -> None:
    """Export MODEL's transformer to ONNX, checked against torch, for `--backend onnx` to load.

    `sbft encode`, `eval` and `search` with --backend onnx or onnx-int8 export on first use by
    themselves; this does it ahead of time. The files go to onnx/ beside the model, or to
    ~/.cache/sbft/onnx/ ($SBFT_CACHE) when the model's folder is read-only, an installed package
    or a hub id, and are made again when the model's files change or an export is damaged (its
    size or SHA-256 differs from the record); --overwrite makes them again regardless. ONNX files
    that sbft did not make are never replaced (sbft's exports then go to the cache).
    """
    from sbft.inference.export import export_onnx

    if backend != "onnx":
        raise SbftError(
            f"cannot export to '{backend}'",
            where="--backend",
            fix="Use --backend onnx (and --quantize int8).",
        )
    if quantize not in (None, "int8"):
        raise SbftError(f"unknown quantization '{quantize}'", where="--quantize", fix="Use --quantize int8.")
    variant = "onnx-int8" if quantize else "onnx"
    result = export_onnx(model, variant, trust_remote_code=trust_remote_code, overwrite=overwrite)
    typer.echo(f"{variant}: {result.path} ({result.path.stat().st_size / 1e6:.1f} MB)")
    typer.echo(result.comparison)
