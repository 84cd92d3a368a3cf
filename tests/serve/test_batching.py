"""sbft.serve.batching: what one encode call gathers, the bounded queue, the token budget; no model."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import pytest

from sbft.serve.batching import Batcher, Job, QueueFull
from sbft.serve.metrics import Metrics
from sbft.serve.protocol import ApiError


@dataclass
class Payload:
    texts: list[str]


class Gate:
    """A fake model: `run` records each call's jobs and blocks until the test opens the gate."""

    def __init__(self, blocked: bool = True) -> None:
        self.calls: list[list[str]] = []
        self.entered = threading.Event()
        self.opened = threading.Event()
        if not blocked:
            self.opened.set()

    def prepare(self, job: Job) -> None:
        if "too long" in job.payload.texts:
            raise ApiError(413, "too long")
        job.tokens = sum(len(text.split()) for text in job.payload.texts)

    def run(self, jobs: list[Job]) -> list[str]:
        self.calls.append([text for job in jobs for text in job.payload.texts])
        self.entered.set()
        assert self.opened.wait(10)
        return [" ".join(job.payload.texts) for job in jobs]


def job(*texts: str, key: str = "text") -> Job:
    return Job(key=key, payload=Payload(list(texts)))


def busy_batcher(gate: Gate, **settings) -> tuple[Batcher, Job]:
    """A started batcher whose worker is inside its first call (the job `first`)."""
    batcher = Batcher(gate.prepare, gate.run, **{"max_batch_tokens": 100, "max_queue": 8, **settings})
    batcher.start()
    first = job("first")
    batcher.submit(first)
    assert gate.entered.wait(10)
    return batcher, first


def test_waiting_requests_share_one_call_by_key_and_budget():
    gate = Gate()
    batcher, first = busy_batcher(gate, max_batch_tokens=5)
    jobs = [job("a b"), job("c", key="query"), job("d e"), job("f g"), job("h")]
    for waiting in jobs:
        batcher.submit(waiting)
    gate.opened.set()
    assert [waiting.future.result(10) for waiting in jobs] == ["a b", "c", "d e", "f g", "h"]
    batcher.stop()
    # a b + d e + h fit 5 tokens; f g waits for the next call; query texts never mix with text ones
    assert gate.calls == [["first"], ["a b", "d e", "h"], ["c"], ["f g"]]
    assert first.future.result() == "first"


def test_no_batching_is_one_request_per_call():
    gate = Gate()
    batcher, _ = busy_batcher(gate, batching=False)
    jobs = [job("a"), job("b"), job("c")]
    for waiting in jobs:
        batcher.submit(waiting)
    gate.opened.set()
    for waiting in jobs:
        waiting.future.result(10)
    batcher.stop()
    assert gate.calls == [["first"], ["a"], ["b"], ["c"]]


def test_a_full_queue_refuses_with_429():
    gate = Gate()
    metrics = Metrics()
    batcher, _ = busy_batcher(gate, max_queue=2, metrics=metrics)
    batcher.submit(job("a"))
    batcher.submit(job("b"))
    assert metrics.queue_depth() == 2
    with pytest.raises(QueueFull) as refused:
        batcher.submit(job("c"))
    assert refused.value.status == 429 and refused.value.headers == {"Retry-After": "1"}
    gate.opened.set()
    batcher.stop()
    assert metrics.queue_depth() == 0
    text = metrics.text()
    assert "sbft_batch_requests_count 2" in text and "sbft_batch_requests_sum 3" in text  # first, a + b


def test_a_refused_or_cancelled_job_fails_alone():
    gate = Gate()
    batcher, _ = busy_batcher(gate)
    long, cancelled, fine = job("too long"), job("gone"), job("fine")
    for waiting in (long, cancelled, fine):
        batcher.submit(waiting)
    assert cancelled.future.cancel()  # a request that timed out while it waited
    gate.opened.set()
    assert fine.future.result(10) == "fine"
    with pytest.raises(ApiError, match="too long"):
        long.future.result(10)
    batcher.stop()
    assert ["gone"] not in gate.calls and ["fine"] in gate.calls


def test_stop_answers_what_is_queued_then_refuses():
    gate = Gate()
    batcher, _ = busy_batcher(gate)
    queued = job("queued")
    batcher.submit(queued)
    stopper = threading.Thread(target=batcher.stop)
    stopper.start()
    gate.opened.set()
    stopper.join(10)
    assert queued.future.result(0) == "queued"
    with pytest.raises(ApiError, match="shutting down"):
        batcher.submit(job("late"))


def test_a_failing_model_fails_that_call_only():
    calls = []

    def run(jobs: list[Job]) -> list[str]:
        calls.append(len(jobs))
        if jobs[0].payload.texts == ["boom"]:
            raise RuntimeError("model failed")
        return ["ok" for _ in jobs]

    batcher = Batcher(Gate().prepare, run, max_batch_tokens=100, max_queue=8, batching=False)
    batcher.start()
    broken, fine = batcher.submit(job("boom")), batcher.submit(job("fine"))
    with pytest.raises(RuntimeError):
        broken.result(10)
    assert fine.result(10) == "ok"
    batcher.stop()


def test_metrics_exposition_is_prometheus_text():
    metrics = Metrics()
    metrics.request("/v1/embeddings", 200, 0.02)
    metrics.request("/v1/embeddings", 400, 0.001)
    metrics.batch(3, 7, 90)
    text = metrics.text()
    assert (
        '# TYPE sbft_requests_total counter\nsbft_requests_total{endpoint="/v1/embeddings",status="200"} 1'
        in text
    )
    assert 'sbft_request_errors_total{endpoint="/v1/embeddings",status="400"} 1' in text
    assert 'sbft_request_duration_seconds_bucket{endpoint="/v1/embeddings",le="0.025"} 2' in text
    assert 'sbft_request_duration_seconds_bucket{endpoint="/v1/embeddings",le="0.005"} 1' in text
    assert 'sbft_request_duration_seconds_count{endpoint="/v1/embeddings"} 2' in text
    assert 'sbft_batch_texts_bucket{le="8"} 1' in text and 'sbft_batch_texts_bucket{le="4"} 0' in text
    assert text.endswith("sbft_requests_in_flight 0\n")
