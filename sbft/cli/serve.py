"""`sbft serve MODEL`: the model behind OpenAI's embeddings API and TEI's /rerank, over HTTP."""

from __future__ import annotations

from typing import Annotated

import typer

from sbft.cli import app, user_errors
from sbft.cli.options import BackendOption, DeviceOption, ModelArg, ThreadsOption, TrustOption


@app.command()
@user_errors
def serve(
    model: ModelArg,
    host: Annotated[
        str, typer.Option(help="The address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="The TCP port (0: any free port, printed when ready).")] = 8080,
    backend: BackendOption = "torch",
    reranker: Annotated[
        str | None,
        typer.Option(
            metavar="CROSS_ENCODER",
            help="A cross-encoder served at POST /rerank beside a bi-encoder MODEL (a cross-encoder MODEL "
            "serves /rerank itself).",
            show_default=False,
        ),
    ] = None,
    index: Annotated[
        str | None,
        typer.Option(
            metavar="DIR",
            help="An index of `sbft index` built by MODEL, searched at POST /search.",
            show_default=False,
        ),
    ] = None,
    max_batch_tokens: Annotated[
        int, typer.Option(help="Tokens of the requests gathered into one encode call (as TEI).")
    ] = 16384,
    max_queue: Annotated[
        int, typer.Option(help="Requests that may wait for the model; one more gets 429 with Retry-After.")
    ] = 256,
    truncate: Annotated[
        bool,
        typer.Option(
            "--truncate/--no-truncate",
            help="Truncate inputs longer than the model's max sequence length, or refuse them with 413.",
        ),
    ] = True,
    max_request_bytes: Annotated[
        int, typer.Option(help="The largest request body; larger: 413.")
    ] = 2_000_000,
    max_inputs: Annotated[int, typer.Option(help="Texts per request (OpenAI's limit is 2048).")] = 2048,
    request_timeout: Annotated[
        float, typer.Option(metavar="SECONDS", help="A request without its result by then gets 504.")
    ] = 30.0,
    no_batching: Annotated[
        bool,
        typer.Option("--no-batching", help="One request per encode call (to measure what batching gives)."),
    ] = False,
    device: DeviceOption = None,
    threads: ThreadsOption = None,
    trust_remote_code: TrustOption = False,
) -> None:
    """Serve MODEL over HTTP until SIGTERM or Ctrl-C (in-flight requests are answered first; exit 0).

    POST /v1/embeddings (OpenAI's schema: input, encoding_format float|base64, dimensions;
    input_type query|document or prompt_name picks the model's prompt), POST /rerank (TEI's
    schema: query, texts, top_n, return_text; a cross-encoder MODEL or --reranker), POST /search
    (query, top_k, rescore: hits as `sbft search --index --json`; with --index), GET /health,
    GET /v1/models and GET /metrics (Prometheus text). Concurrent requests are gathered into
    encode calls under --max-batch-tokens; embeddings equal `sbft encode`'s. Needs the serve
    extra (`make install` installs it).
    """
    from sbft.serve import ServeOptions
    from sbft.serve import serve as run_server

    options = ServeOptions(
        host=host,
        port=port,
        backend=backend,
        reranker=reranker,
        index=index,
        max_batch_tokens=max_batch_tokens,
        max_queue=max_queue,
        truncate=truncate,
        max_request_bytes=max_request_bytes,
        request_timeout=request_timeout,
        batching=not no_batching,
        max_inputs=max_inputs,
        device=device,
        threads=threads,
        trust_remote_code=trust_remote_code,
    )
    run_server(model, options, ready=lambda line: typer.echo(line, err=True))
