"""Request bodies read and checked before they reach the model, and errors in OpenAI's shape.

Checks happen here, on the event loop and without the model, so a bad request costs no queue
place and never reaches the worker; every refusal is an ApiError, answered as
{"error": {"message", "type", "param", "code"}} (the shape OpenAI's clients parse).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

ENCODING_FORMATS = ("float", "base64")
INPUT_TYPES = ("query", "document")
"""`input_type` (as infinity and Cohere call it): the model's query or document prompt."""


class ApiError(Exception):
    """A request the server refuses: the HTTP status and the body OpenAI's clients read."""

    def __init__(
        self,
        status: int,
        message: str,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


async def read_json(request: Any, limit: int) -> dict[str, Any]:
    """The request's JSON object; bodies over `limit` bytes are refused before they are read whole."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(int(declared), limit)
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _too_large(len(body), limit)
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc})", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    return data


def _too_large(size: int, limit: int) -> ApiError:
    return ApiError(
        413,
        f"the request body ({size:,} bytes) is over this server's limit of {limit:,} bytes "
        "(sbft serve --max-request-bytes); send fewer or shorter texts per request",
        code="request_too_large",
    )


@dataclass(frozen=True)
class EmbeddingsRequest:
    """A checked /v1/embeddings request."""

    texts: list[str]
    encoding_format: str
    dimensions: int | None
    role: str
    """text (the model's default prompt), query or document: Encoder's role."""
    prompt_name: str | None


def texts_of(data: dict[str, Any], field: str, max_inputs: int) -> list[str]:
    """`data[field]`: a non-empty string or a non-empty list of them, at most `max_inputs`."""
    if field not in data or data[field] is None:
        raise ApiError(400, f"'{field}' is missing: give a string or a list of strings", param=field)
    value = data[field]
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise ApiError(400, f"'{field}' must be a string or a non-empty list of strings", param=field)
    if len(texts) > max_inputs:
        raise ApiError(
            400,
            f"'{field}' has {len(texts):,} items; this server takes at most {max_inputs:,} per request",
            param=field,
            code="too_many_inputs",
        )
    for index, text in enumerate(texts):
        if not isinstance(text, str):
            kind = "token ids" if isinstance(text, int | list) else type(text).__name__
            raise ApiError(400, f"'{field}[{index}]' is {kind}, not a string: send texts", param=field)
        if not text:
            raise ApiError(400, f"'{field}[{index}]' is an empty string", param=field)
    return texts


def embeddings_request(
    data: dict[str, Any], model_ids: list[str], dimension: int, prompts: dict[str, str], max_inputs: int
) -> EmbeddingsRequest:
    """Check a /v1/embeddings body against the served model (its id, dimensions and prompts)."""
    check_model(data, model_ids)
    texts = texts_of(data, "input", max_inputs)
    encoding_format = data.get("encoding_format") or "float"
    if encoding_format not in ENCODING_FORMATS:
        raise ApiError(400, f"'encoding_format' must be float or base64, not {encoding_format!r}")
    dimensions = data.get("dimensions")
    if dimensions is not None and (type(dimensions) is not int or not 0 < dimensions <= dimension):
        raise ApiError(
            400,
            f"'dimensions' must be a whole number from 1 to the model's {dimension}, not {dimensions!r}",
            param="dimensions",
        )
    input_type, prompt_name = data.get("input_type"), data.get("prompt_name")
    if input_type is not None and input_type not in INPUT_TYPES:
        raise ApiError(400, f"'input_type' must be query or document, not {input_type!r}", param="input_type")
    if prompt_name is not None and prompt_name not in prompts:
        names = ", ".join(prompts) or "none"
        raise ApiError(
            400, f"the model has no prompt named {prompt_name!r} (its prompts: {names})", param="prompt_name"
        )
    if input_type is not None and prompt_name is not None:
        raise ApiError(400, "give 'input_type' or 'prompt_name', not both", param="prompt_name")
    return EmbeddingsRequest(texts, encoding_format, dimensions, input_type or "text", prompt_name)


def check_model(data: dict[str, Any], model_ids: list[str]) -> None:
    """A request may leave `model` out; one that names a model this server lacks is refused (404)."""
    model = data.get("model")
    if model is not None and model not in model_ids:
        raise ApiError(
            404,
            f"the model {model!r} is not served here (this server serves: {', '.join(model_ids)})",
            param="model",
            code="model_not_found",
        )


@dataclass(frozen=True)
class RerankRequest:
    """A checked /rerank request (TEI's schema)."""

    query: str
    texts: list[str]
    top_n: int | None
    return_text: bool


def rerank_request(data: dict[str, Any], max_inputs: int) -> RerankRequest:
    query = data.get("query")
    if not isinstance(query, str) or not query:
        raise ApiError(400, "'query' must be a non-empty string", param="query")
    texts = texts_of(data, "texts", max_inputs)
    top_n = data.get("top_n")
    if top_n is not None and (type(top_n) is not int or top_n <= 0):
        raise ApiError(400, f"'top_n' must be a positive whole number, not {top_n!r}", param="top_n")
    return_text = data.get("return_text", False)
    if not isinstance(return_text, bool):
        raise ApiError(400, "'return_text' must be true or false", param="return_text")
    return RerankRequest(query, texts, top_n, return_text)


MAX_TOP_K = 1000
"""The most hits one /search query may ask for: a bound on the answer's size."""


@dataclass(frozen=True)
class SearchRequest:
    """A checked /search request: queries embedded with the model's query prompt, as `sbft search`."""

    texts: list[str]
    top_k: int
    rescore: int | None
    role: str = "query"
    prompt_name: str | None = None


def search_request(data: dict[str, Any], max_inputs: int) -> SearchRequest:
    """`query` (a string or a list of them), `top_k` (default 10), `rescore` (the index's default)."""
    texts = texts_of(data, "query", max_inputs)
    top_k = data.get("top_k", 10)
    if type(top_k) is not int or not 0 < top_k <= MAX_TOP_K:
        raise ApiError(
            400, f"'top_k' must be a whole number from 1 to {MAX_TOP_K}, not {top_k!r}", param="top_k"
        )
    rescore = data.get("rescore")
    if rescore is not None and (type(rescore) is not int or rescore <= 0):
        raise ApiError(400, f"'rescore' must be a positive whole number, not {rescore!r}", param="rescore")
    return SearchRequest(texts, top_k, rescore)
