"""The settings of `sbft serve`, checked before any model is loaded."""

from __future__ import annotations

from dataclasses import dataclass

from sbft.errors import SbftError

BACKENDS = ("torch", "onnx", "onnx-int8")


@dataclass
class ServeOptions:
    """What `sbft serve` is told; the defaults are TEI's where TEI has the same setting."""

    host: str = "127.0.0.1"
    port: int = 8080
    backend: str = "torch"
    reranker: str | None = None
    """A cross-encoder served at /rerank beside a bi-encoder MODEL."""
    index: str | None = None
    """A folder of `sbft index` built by MODEL, searched at POST /search."""
    max_batch_tokens: int = 16384
    """Tokens (special tokens in) of the requests gathered into one encode call (TEI's default)."""
    max_queue: int = 256
    """Requests waiting for the model; one more is answered 429."""
    truncate: bool = True
    """Over-long inputs are truncated to the model's max_seq_length; False: refused with 413."""
    max_request_bytes: int = 2_000_000
    """The largest request body (TEI's payload limit)."""
    request_timeout: float = 30.0
    """Seconds a request may wait for its result before a 504."""
    batching: bool = True
    """False: one request per encode call (the comparison point for batching)."""
    max_inputs: int = 2048
    """Texts per request (OpenAI's limit for one embeddings call)."""
    device: str | None = None
    threads: int | None = None
    trust_remote_code: bool = False

    def check(self) -> None:
        """Checks that need no model and no socket."""
        positive = {
            "max_batch_tokens": self.max_batch_tokens,
            "max_request_bytes": self.max_request_bytes,
            "max_inputs": self.max_inputs,
        }
        for name, value in positive.items():
            if value <= 0:
                raise SbftError(f"--{name.replace('_', '-')} must be positive", where=name)
        if self.max_queue < 1:  # 0 would refuse every request, even with the model idle
            raise SbftError("--max-queue must be at least 1", where="max_queue")
        if self.request_timeout <= 0:
            raise SbftError("--request-timeout must be positive (seconds)", where="request_timeout")
        if not 0 <= self.port <= 65535:
            raise SbftError(
                f"--port {self.port} is not a TCP port", where="port", fix="Use 1-65535 (0: any free port)."
            )
        if self.backend not in BACKENDS:
            raise SbftError(
                f"unknown backend '{self.backend}'", where="backend", fix=f"Use one of {', '.join(BACKENDS)}."
            )
