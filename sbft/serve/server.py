"""`sbft serve`: the socket first, then the model, then uvicorn until SIGTERM or Ctrl-C.

The port is bound before the model loads: a port in use ends the command in a second, not after
a model load. SIGTERM and SIGINT stop accepting, let in-flight requests finish (uvicorn waits for
them, the worker answers what is queued) and return normally, so the command exits 0.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Callable, Iterator
from typing import Any

from sbft.errors import SbftError
from sbft.serve.options import ServeOptions

SHUTDOWN_GRACE_S = 5.0
"""Beyond --request-timeout, how long shutdown waits for open connections."""


def serve(model: str, options: ServeOptions, ready: Callable[[str], None] = lambda line: None) -> None:
    """Serve `model` (and options.reranker) until a signal stops it; `ready` gets one line once
    the model is loaded and requests are accepted (the address, with the port chosen for port 0)."""
    options.check()
    _require_extra()
    # One worker thread tokenizes and runs the model; tokenizers' own thread pool would only compete
    # with the model's threads: all-MiniLM-L6-v2 onnx-int8 embedded 16 texts at a time at 10 texts/s
    # with it and 540 without, on this 2-core machine at load average 5. A user's setting stands.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sock = bind(options.host, options.port)
    try:
        from sbft.serve.app import create_app
        from sbft.serve.engine import Engine

        engine = Engine.load(model, options)
        app = create_app(engine, options)
        host, port = sock.getsockname()[:2]
        url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
        mode = "batching" if options.batching else "one request per encode call"
        ready(f"serving {engine.describe()} on {url} ({mode}, backend {options.backend}); Ctrl-C stops")
        _run(app, sock, options)
    finally:
        sock.close()


def _require_extra() -> None:
    import importlib.util

    missing = [name for name in ("fastapi", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise SbftError(
            f"sbft serve needs {' and '.join(missing)}, which are not installed",
            fix="Install the serve extra: pip install 'sbft[serve]' (make install does).",
        )


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port (port 0: any free one), or one paragraph saying why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise SbftError(f"cannot resolve the host '{host}': {exc.strerror}", where="host") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart right after a stop binds
        sock.bind(address)
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        raise _bind_error(host, port, exc) from None
    return sock


def _bind_error(host: str, port: int, exc: OSError) -> SbftError:
    if exc.errno == errno.EADDRINUSE:
        return SbftError(
            f"port {port} on {host} is already in use by another process",
            where="port",
            fix=f"Choose another --port, or stop the process that listens there (`ss -ltnp | grep :{port}`).",
        )
    if exc.errno == errno.EACCES:
        return SbftError(
            f"no permission to listen on port {port}", where="port", fix="Use a port above 1023."
        )
    if exc.errno == errno.EADDRNOTAVAIL:
        return SbftError(f"'{host}' is not an address of this machine", where="host")
    return SbftError(f"cannot listen on {host}:{port}: {exc.strerror or exc}", where="port")


def _run(app: Any, sock: socket.socket, options: ServeOptions) -> None:
    import uvicorn

    config = uvicorn.Config(
        app,
        log_level="warning",
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=int(options.request_timeout + SHUTDOWN_GRACE_S),
    )

    class Server(uvicorn.Server):
        """uvicorn re-raises the signal that stopped it after a graceful shutdown (the process then
        dies of it, exit 143); sbft has finished every request by then, so it returns instead."""

        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            with super().capture_signals():
                yield
                self._captured_signals.clear()

    Server(config).run(sockets=[sock])
