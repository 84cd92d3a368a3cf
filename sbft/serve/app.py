"""The HTTP routes: OpenAI's /v1/embeddings and /v1/models, TEI's /rerank, /search (an index of
`sbft index`), /health and /metrics.

Bodies are read and checked by sbft.serve.protocol (not by pydantic models), so every refusal,
malformed JSON included, has OpenAI's error shape; answers are serialized with json.dumps
straight from numpy's lists, which is several times faster than FastAPI's encoder on 384 floats
per text.

This module imports fastapi at its top: only sbft.serve.server imports it, inside serve(), so
`sbft --help` never loads it. (No `from __future__ import annotations`: FastAPI reads the routes'
annotations, Request, as objects.)
"""

import asyncio
import base64
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException

from sbft.serve.batching import Batcher, Job
from sbft.serve.engine import Engine
from sbft.serve.metrics import Metrics
from sbft.serve.options import ServeOptions
from sbft.serve.protocol import ApiError, embeddings_request, read_json, rerank_request, search_request


def create_app(engine: Engine, options: ServeOptions) -> FastAPI:
    """The FastAPI application; its lifespan starts the batching worker and, at shutdown, lets it
    answer what is queued before it stops (uvicorn waits for in-flight requests first)."""
    service = Service(engine, options)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        service.batcher.start()
        yield
        await asyncio.to_thread(service.batcher.stop)

    app = FastAPI(title="sbft serve", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.add_api_route("/v1/embeddings", service.embeddings, methods=["POST"])
    app.add_api_route("/rerank", service.rerank, methods=["POST"])
    app.add_api_route("/search", service.search, methods=["POST"])
    app.add_api_route("/health", service.health, methods=["GET"])
    app.add_api_route("/v1/models", service.models, methods=["GET"])
    app.add_api_route("/metrics", service.prometheus, methods=["GET"])
    app.add_exception_handler(HTTPException, _unknown_route)
    return app


class Service:
    """The routes' handlers around one engine, its batching worker and its metrics."""

    def __init__(self, engine: Engine, options: ServeOptions) -> None:
        self.engine, self.options = engine, options
        self.metrics = Metrics()
        self.batcher = Batcher(
            engine.prepare,
            engine.run,
            max_batch_tokens=options.max_batch_tokens,
            max_queue=options.max_queue,
            batching=options.batching,
            metrics=self.metrics,
        )

    async def answer(self, endpoint: str, handler: Callable[[], Awaitable[Any]]) -> Response:
        """Run `handler`, count the request, and turn a refusal into OpenAI's error shape."""
        started = time.perf_counter()
        self.metrics.in_flight += 1
        try:
            response = _json(await handler())
        except ApiError as error:
            response = _error(error)
        except Exception as error:  # a bug or a model failure: this request fails, the server goes on
            response = _error(ApiError(500, f"{type(error).__name__}: {error}", type="server_error"))
        finally:
            self.metrics.in_flight -= 1
        self.metrics.request(endpoint, response.status_code, time.perf_counter() - started)
        return response

    async def result(self, job: Job) -> Any:
        """The job's result, or 504 once --request-timeout has passed (a job still queued is dropped)."""
        future = asyncio.wrap_future(self.batcher.submit(job))
        try:
            return await asyncio.wait_for(future, self.options.request_timeout)
        except TimeoutError:
            raise ApiError(
                504,
                f"no result within {self.options.request_timeout:g} s (sbft serve --request-timeout)",
                type="timeout_error",
                code="timeout",
            ) from None

    async def embeddings(self, request: Request) -> Response:
        async def handle() -> dict[str, Any]:
            data = await read_json(request, self.options.max_request_bytes)
            engine = self.engine
            engine.require_encoder()
            checked = embeddings_request(
                data, engine.model_ids, engine.dimension, engine.prompts, self.options.max_inputs
            )
            vectors, tokens = await self.result(engine.embeddings_job(checked))
            return _embeddings_body(vectors, tokens, checked.encoding_format, engine.encoder_name)

        return await self.answer("/v1/embeddings", handle)

    async def rerank(self, request: Request) -> Response:
        async def handle() -> list[dict[str, Any]]:
            data = await read_json(request, self.options.max_request_bytes)
            job = self.engine.rerank_job(rerank_request(data, self.options.max_inputs))
            ranked, _ = await self.result(job)
            return ranked

        return await self.answer("/rerank", handle)

    async def search(self, request: Request) -> Response:
        async def handle() -> dict[str, Any]:
            data = await read_json(request, self.options.max_request_bytes)
            self.engine.require_encoder()
            job = self.engine.search_job(search_request(data, self.options.max_inputs))
            results, tokens = await self.result(job)
            return {"results": results, "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}

        return await self.answer("/search", handle)

    async def health(self) -> Response:
        async def handle() -> dict[str, str]:
            return {"status": "ok"}

        return await self.answer("/health", handle)

    async def models(self) -> Response:
        async def handle() -> dict[str, Any]:
            listed = [
                {"id": name, "object": "model", "created": 0, "owned_by": "sbft"}
                for name in self.engine.model_ids
            ]
            return {"object": "list", "data": listed}

        return await self.answer("/v1/models", handle)

    async def prometheus(self) -> Response:
        return Response(self.metrics.text(), media_type="text/plain; version=0.0.4; charset=utf-8")


async def _unknown_route(request: Request, error: Exception) -> Response:
    """Unknown paths and methods in OpenAI's error shape too."""
    status = getattr(error, "status_code", 500)
    kind = "not_found_error" if status == 404 else "invalid_request_error"
    message = f"{request.method} {request.url.path}: {getattr(error, 'detail', error)}"
    return _error(ApiError(status, message, type=kind))


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, headers=headers, media_type="application/json")


def _error(error: ApiError) -> Response:
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
