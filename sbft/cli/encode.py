"""`sbft encode MODEL INPUT`: embeddings of every text of a file or stdin, streamed."""

from __future__ import annotations

import json
import signal
import sys
from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import (
    BackendOption,
    BatchSizeOption,
    DeviceOption,
    MaxSeqLengthOption,
    ModelArg,
    OverwriteOption,
    ReplaceErrorsOption,
    ThreadsOption,
    TrustOption,
)


@app.command()
@user_errors
def encode(
    model: ModelArg,
    input: Annotated[
        str,
        typer.Argument(
            help="A text file (one text per line), - for stdin, or jsonl/csv/tsv/parquet with --column.",
            show_default=False,
        ),
    ],
    output: Annotated[
        str | None,
        typer.Option(
            "--output",
            "-o",
            metavar="FILE",
            help="The format follows the extension: .npy (embeddings only), .jsonl, .csv, .parquet "
            "(id, text, embedding). Default: jsonl on stdout.",
            show_default=False,
        ),
    ] = None,
    column: Annotated[
        str | None, typer.Option(help="The text column of jsonl/csv/tsv/parquet input.", show_default=False)
    ] = None,
    batch_size: BatchSizeOption = 32,
    normalize: Annotated[
        bool, typer.Option("--normalize", help="Scale every embedding to length 1.")
    ] = False,
    precision: Annotated[
        str,
        typer.Option(
            help="float32, int8, uint8, binary or ubinary (quantize_embeddings; int8/uint8 ranges "
            "come from the first 8192 texts)."
        ),
    ] = "float32",
    truncate_dim: Annotated[
        int | None, typer.Option(help="Keep the first N dimensions (Matryoshka models).", show_default=False)
    ] = None,
    prompt: Annotated[
        str | None, typer.Option(help="Text put before every input, e.g. 'query: '.", show_default=False)
    ] = None,
    prompt_name: Annotated[
        str | None, typer.Option(help="A prompt the model defines, e.g. query.", show_default=False)
    ] = None,
    device: DeviceOption = None,
    devices: Annotated[
        str | None,
        typer.Option(
            metavar="LIST",
            help="Several devices, comma-separated (cuda:0,cuda:1): sentence-transformers' process pool "
            "encodes on all of them.",
            show_default=False,
        ),
    ] = None,
    shard: Annotated[
        str | None,
        typer.Option(
            metavar="i/N",
            help="Encode only the i-th of N contiguous row ranges (0-based, cut at multiples of 8192 rows): "
            "the shards concatenate to the whole output. A .npy shard gets a .npy.json record; a folder "
            "of them serves `sbft search --corpus-embeddings`.",
            show_default=False,
        ),
    ] = None,
    backend: BackendOption = "torch",
    threads: ThreadsOption = None,
    max_seq_length: MaxSeqLengthOption = None,
    trust_remote_code: TrustOption = False,
    replace_errors: ReplaceErrorsOption = False,
    overwrite: OverwriteOption = False,
    stats: Annotated[
        bool,
        typer.Option("--stats", help="Print timings and texts/s as one JSON line on stderr at the end."),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="No summary line on stderr at the end (errors only).")
    ] = False,
) -> None:
    """Embed every text of INPUT; output row i is always input row i.

    Text input is split on newlines only: blank lines are encoded as the empty string,
    duplicates are encoded each time, and texts longer than the model's max sequence length are
    truncated to it, so no row is ever dropped. Input is read, encoded and written in windows of
    8192 texts: memory stays flat for any input size. Progress shows on stderr (a bar on a
    terminal, a line every 10% in a log; input files are counted first), and one summary line at
    the end (rows, dimensions, file, texts/s), unless -q.

    Faster: with --backend torch each call loads torch (5-16 s on a busy 2-core machine); with
    --backend onnx it starts in under a second and embeds as torch does (within 1e-5). For many
    calls, export once (`sbft export MODEL`; the first --backend onnx call also does it).
    """
    from sbft.inference import EncodeOptions, TextSource, encode_file
    from sbft.inference.shards import parse_devices, parse_shard

    # SIGTERM (kill, a scheduler) unwinds like Ctrl-C: the partial output file is removed.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    options = EncodeOptions(batch_size, normalize, precision, truncate_dim, prompt, prompt_name)
    source = TextSource(input, column, replace_errors)
    chosen_shard = parse_shard(shard)
    result = encode_file(
        model,
        source,
        output,
        options,
        overwrite=overwrite,
        progress=False if quiet else None,
        shard=chosen_shard,
        devices=parse_devices(devices),
        device=device,
        backend=backend,
        threads=threads,
        trust_remote_code=trust_remote_code,
        max_seq_length=max_seq_length,
    )
    if stats:
        typer.echo(json.dumps(result.to_dict()), err=True)
    elif not quiet:
        typer.echo(result.summary(output or "stdout (jsonl)"), err=True)
