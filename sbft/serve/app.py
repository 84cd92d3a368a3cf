"""The HTTP routes: OpenAI's /v1/embeddings and /v1/models, TEI's /rerank, /health and /metrics.

Bodies are read and checked by sbft.serve.protocol (not by pydantic models), so every refusal,
malformed JSON included, has OpenAI's error shape; answers are serialized with json.dumps
straight from numpy's lists, which is several times faster than FastAPI's encoder on 384 floats
per text.

No `from __future__ import annotations` here: FastAPI reads the routes' annotations (Request) at
definition time, and Request is imported inside create_app, where fastapi is needed.
"""

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sbft.serve.batching import Batcher, Job
from sbft.serve.engine import Engine
from sbft.serve.metrics import Metrics
from sbft.serve.options import ServeOptions
from sbft.serve.protocol import ApiError, embeddings_request, read_json, rerank_request


def create_app(engine: Engine, options: ServeOptions) -> Any:
    """The FastAPI application; its lifespan starts the batching worker and, at shutdown, lets it
    answer what is queued before it stops (uvicorn waits for in-flight requests first)."""
    import contextlib

    from fastapi import FastAPI, Request
    from fastapi.responses import Response
    from starlette.exceptions import HTTPException

    metrics = Metrics()
    batcher = Batcher(
        engine.prepare,
        engine.run,
        max_batch_tokens=options.max_batch_tokens,
        max_queue=options.max_queue,
        batching=options.batching,
        metrics=metrics,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Any):
        batcher.start()
        yield
        await asyncio.to_thread(batcher.stop)

    app = FastAPI(title="sbft serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)

    async def answer(endpoint: str, handler: Callable[[], Awaitable[Any]]) -> Response:
        """Run `handler`, count the request, and turn a refusal into OpenAI's error shape."""
        started = time.perf_counter()
        metrics.in_flight += 1
        try:
            response = _json(await handler())
        except ApiError as error:
            response = _error(error)
        except Exception as error:  # a bug or a model failure: this request fails, the server goes on
            response = _error(ApiError(500, f"{type(error).__name__}: {error}", type="server_error"))
        finally:
            metrics.in_flight -= 1
        metrics.request(endpoint, response.status_code, time.perf_counter() - started)
        return response

    async def result(job: Job) -> Any:
        """The job's result, or 504 once --request-timeout has passed (a job still queued is dropped)."""
        future = asyncio.wrap_future(batcher.submit(job))
        try:
            return await asyncio.wait_for(future, options.request_timeout)
        except TimeoutError:
            raise ApiError(
                504,
                f"no result within {options.request_timeout:g} s (sbft serve --request-timeout)",
                type="timeout_error",
                code="timeout",
            ) from None

    @app.post("/v1/embeddings")
    async def embeddings(request: Request) -> Response:
        async def handle() -> dict[str, Any]:
            data = await read_json(request, options.max_request_bytes)
            engine.require_encoder()
            checked = embeddings_request(
                data, engine.model_ids, engine.dimension, engine.prompts, options.max_inputs
            )
            vectors, tokens = await result(engine.embeddings_job(checked))
            return _embeddings_body(vectors, tokens, checked.encoding_format, engine.encoder_name)

        return await answer("/v1/embeddings", handle)

    @app.post("/rerank")
    async def rerank(request: Request) -> Response:
        async def handle() -> list[dict[str, Any]]:
            data = await read_json(request, options.max_request_bytes)
            job = engine.rerank_job(rerank_request(data, options.max_inputs))
            ranked, _ = await result(job)
            return ranked

        return await answer("/rerank", handle)

    @app.get("/health")
    async def health() -> Response:
        return await answer("/health", _ok)

    @app.get("/v1/models")
    async def models() -> Response:
        async def handle() -> dict[str, Any]:
            listed = [
                {"id": name, "object": "model", "created": 0, "owned_by": "sbft"} for name in engine.model_ids
            ]
            return {"object": "list", "data": listed}

        return await answer("/v1/models", handle)

    @app.get("/metrics")
    async def prometheus() -> Response:
        return Response(metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.exception_handler(HTTPException)
    async def not_found(request: Request, error: HTTPException) -> Response:
        """Unknown paths and methods in OpenAI's error shape too."""
        kind = "not_found_error" if error.status_code == 404 else "invalid_request_error"
        message = f"{request.method} {request.url.path}: {error.detail}"
        return _error(ApiError(error.status_code, message, type=kind))

    return app


async def _ok() -> dict[str, str]:
    return {"status": "ok"}


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Any:
    from fastapi.responses import Response

    return Response(json.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _error(error: ApiError) -> Any:
    return _json(error.body(), error.status, error.headers)


def _embeddings_body(vectors: Any, tokens: int, encoding_format: str, model: str | None) -> dict[str, Any]:
    """OpenAI's response: base64 is the little-endian float32 bytes of each vector, as OpenAI sends."""
    import numpy as np

    vectors = np.ascontiguousarray(vectors, dtype="<f4")
    if encoding_format == "base64":
        embeddings: list[Any] = [base64.b64encode(row.tobytes()).decode("ascii") for row in vectors]
    else:
        embeddings = vectors.tolist()
    data = [
        {"object": "embedding", "index": index, "embedding": embedding}
        for index, embedding in enumerate(embeddings)
    ]
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
