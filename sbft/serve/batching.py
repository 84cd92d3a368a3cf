"""A bounded queue and one worker thread that gathers waiting requests into encode calls.

Why one thread: the model uses every core a forward pass can (torch or onnxruntime threads);
two passes at once would only share the cores and double the memory. Requests that arrive
while a pass runs wait in the queue; when it ends the worker takes the oldest request and, with
batching on, every later one that is encoded the same way (the same `key`: prompt, dimensions)
while their tokens fit the budget (TEI's --max-batch-tokens: the sum of the inputs' tokens), in
one encode call. Nothing waits for a batch to fill: at low load a request runs at once.

Tokens are counted here, on the worker thread, not on the event loop: a Hugging Face fast
tokenizer used from two threads at once fails ("Already borrowed"), and the forward pass uses it.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from sbft.serve.metrics import Metrics
from sbft.serve.protocol import ApiError


@dataclass(eq=False)
class Job:
    """One request's work: jobs of the same `key` can share an encode call."""

    key: Hashable
    payload: Any
    future: Future = field(default_factory=Future)
    tokens: int | None = None
    """Set by `prepare` on the worker thread: what the job costs of the token budget."""
    detail: Any = None
    """What `prepare` found that `run` needs (per-text token counts...)."""
    shareable: bool = True
    """False: always an encode call of its own (a rerank)."""


class QueueFull(ApiError):
    def __init__(self, limit: int) -> None:
        super().__init__(
            429,
            f"the server is busy: {limit} requests already wait (sbft serve --max-queue); retry shortly",
            type="rate_limit_error",
            code="queue_full",
            headers={"Retry-After": "1"},
        )


class Batcher:
    """Jobs in, results out through each job's Future; `run` gets a gathered list of jobs."""

    def __init__(
        self,
        prepare: Callable[[Job], None],
        run: Callable[[list[Job]], list[Any]],
        *,
        max_batch_tokens: int,
        max_queue: int,
        batching: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self._prepare, self._run = prepare, run
        self.max_batch_tokens, self.max_queue, self.batching = max_batch_tokens, max_queue, batching
        self.metrics = metrics or Metrics()
        self.metrics.queue_depth = lambda: len(self._queue)
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._loop, name="sbft-serve-worker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Answer every job already queued, then end the worker."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def submit(self, job: Job) -> Future:
        """Queue `job`; a full queue (or a server shutting down) refuses it at once."""
        with self._cond:
            if self._stopping:
                raise ApiError(503, "the server is shutting down", type="server_error", code="shutting_down")
            if len(self._queue) >= self.max_queue:
                raise QueueFull(self.max_queue)
            self._queue.append(job)
            self._cond.notify()
        return job.future

    def _loop(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                waiting = [job for job in self._queue if job.tokens is None]
            for job in waiting:  # outside the lock: the event loop keeps queueing meanwhile
                self._count(job)
            with self._cond:
                batch = self._take()
            if batch:
                self._answer(batch)

    def _count(self, job: Job) -> None:
        try:
            self._prepare(job)
        except Exception as error:  # an over-long input (413), or anything else: that job alone fails
            job.tokens = 0
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(error)

    def _take(self) -> list[Job]:
        """Under the lock: the oldest counted job and the later ones it can share a call with."""
        ready = [job for job in self._queue if job.tokens is not None]
        batch: list[Job] = []
        total = 0
        for job in ready:
            if job.future.done():  # failed while counted, or cancelled (timed out) while waiting
                self._queue.remove(job)
                continue
            if batch and not (
                self.batching
                and job.shareable
                and batch[0].shareable
                and job.key == batch[0].key
                and total + job.tokens <= self.max_batch_tokens
            ):
                continue
            if not job.future.set_running_or_notify_cancel():
                self._queue.remove(job)
                continue
            self._queue.remove(job)
            batch.append(job)
            total += job.tokens or 0
            if not self.batching:
                break
        return batch

    def _answer(self, batch: list[Job]) -> None:
        try:
            results = self._run(batch)
        except Exception as error:  # the model failed: every request of this call gets the error
            for job in batch:
                job.future.set_exception(error)
            return
        for job, result in zip(batch, results, strict=True):
            job.future.set_result(result)
        texts = sum(len(job.payload.texts) for job in batch if hasattr(job.payload, "texts"))
        self.metrics.batch(len(batch), texts, sum(job.tokens or 0 for job in batch))
