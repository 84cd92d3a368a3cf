"""`sbft serve`: a model behind the HTTP APIs applications already call (OpenAI embeddings, TEI rerank).

One concern per module: options (the server's settings and their checks), protocol (request
bodies read and checked, the OpenAI error shape), engine (the loaded models; embeddings through
sbft.inference's Encoder, the path `sbft encode` takes), batching (a bounded queue and one worker
thread that gathers requests into forward passes under a token budget), metrics (Prometheus
text), app (the FastAPI routes) and server (the socket, uvicorn, signals).

fastapi and uvicorn are an optional extra (`pip install 'sbft[serve]'`): only app and server
import them, inside functions, so `sbft --help` stays instant.
"""

from sbft.serve.options import ServeOptions
from sbft.serve.server import serve

__all__ = ["ServeOptions", "serve"]
