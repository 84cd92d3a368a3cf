"""The served models and the work the batching worker asks of them.

Embeddings go through sbft.inference.encoder.Encoder, the path of `sbft encode` (texts sorted
by tokens, handed to model.encode a batch at a time, on either backend), so a served embedding
equals the one `sbft encode` writes; reranking goes through sbft.inference.search.rerank, the
path of `sbft rerank`; searches through sbft.index's OpenIndex.search, the path of `sbft search
--index`. One Encoder per way of encoding (role, prompt, dimensions), made once.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import TYPE_CHECKING, Any

from sbft.inference.encoder import EncodeOptions, Encoder, token_counts
from sbft.serve.batching import Job
from sbft.serve.options import ServeOptions
from sbft.serve.protocol import ApiError, EmbeddingsRequest, RerankRequest, SearchRequest

if TYPE_CHECKING:
    import numpy as np

DOCUMENT_PROMPTS = ("document", "passage", "corpus")
"""The prompt names SentenceTransformer.encode_document tries, in its order."""


class Engine:
    """A bi-encoder (embeddings), a cross-encoder (rerank), or both; names as clients give them."""

    def __init__(
        self,
        encoder: Any,
        reranker: Any,
        names: tuple[str | None, str | None],
        truncate: bool = True,
        index: Any = None,
    ) -> None:
        self.encoder_model, self.reranker = encoder, reranker
        self.encoder_name, self.reranker_name = names
        self.truncate = truncate
        self.index = index
        """An sbft.index OpenIndex, checked against the encoder, for POST /search."""
        self._encoders: dict[Hashable, Encoder] = {}

    @classmethod
    def load(cls, name: str, options: ServeOptions) -> Engine:
        """MODEL as a bi-encoder or a cross-encoder; --reranker beside a bi-encoder."""
        from sbft.errors import SbftError
        from sbft.inference.loading import load_any, load_reranker

        shared = {"device": options.device, "trust_remote_code": options.trust_remote_code}
        model = load_any(name, backend=options.backend, threads=options.threads, **shared)
        if not hasattr(model, "encode_query"):  # a cross-encoder
            if options.reranker is not None or options.index is not None:
                flag = "--reranker" if options.reranker is not None else "--index"
                raise SbftError(
                    f"'{name}' is a cross-encoder: it serves /rerank itself, and {flag} needs a bi-encoder",
                    where="reranker" if options.reranker is not None else "index",
                    fix=f"Give a bi-encoder as MODEL to serve {flag} beside it, or leave {flag} out.",
                )
            return cls(None, model, (None, name), options.truncate)
        index = None
        if options.index is not None:  # before the reranker loads: a wrong index fails fast
            from sbft.index import open_index

            index = open_index(options.index)
            index.check_model(model, name)
        reranker = None
        if options.reranker is not None:
            reranker = load_reranker(options.reranker, threads=options.threads, **shared)
        return cls(model, reranker, (name, options.reranker), options.truncate, index)

    @property
    def model_ids(self) -> list[str]:
        return [name for name in (self.encoder_name, self.reranker_name) if name is not None]

    @property
    def dimension(self) -> int:
        return self.encoder_model.get_embedding_dimension()

    @property
    def prompts(self) -> dict[str, str]:
        return dict(self.encoder_model.prompts)

    @property
    def normalizes(self) -> bool:
        """Whether the model's own embeddings have length 1 (a Normalize module, or declared so)."""
        declared = getattr(self.encoder_model, "declared", None)  # the torch-free LiteEncoder
        if declared is not None:
            return bool(declared.normalize)
        return any(type(module).__name__ == "Normalize" for module in self.encoder_model)

    def describe(self) -> str:
        """What runs, for the line `sbft serve` prints when it is ready."""
        parts = []
        if self.encoder_model is not None:
            parts.append(f"embeddings from {self.encoder_name} ({self.dimension} dimensions)")
        if self.reranker is not None:
            parts.append(f"rerank with {self.reranker_name}")
        if self.index is not None:
            parts.append(f"search in {self.index.folder} ({self.index.record['rows']:,} texts)")
        return ", ".join(parts)

    # --- embeddings ---------------------------------------------------------------------------

    def require_encoder(self) -> None:
        """/v1/embeddings needs a bi-encoder: a server of a cross-encoder alone refuses it."""
        if self.encoder_model is None:
            raise ApiError(
                400,
                f"{self.reranker_name} is a cross-encoder, which makes no embeddings "
                "(POST /rerank scores pairs)",
                param="model",
            )

    def embeddings_job(self, request: EmbeddingsRequest) -> Job:
        self.require_encoder()
        return Job(key=(request.role, request.prompt_name, request.dimensions), payload=request)

    def _encoder(self, key: Hashable) -> Encoder:
        """One Encoder per way of encoding. With `dimensions` a normalizing model's vectors are
        normalized again after truncation: `sbft encode --truncate-dim N --normalize` gives the same."""
        if key not in self._encoders:
            role, prompt_name, dimensions = key
            normalize = dimensions is not None and self.normalizes
            options = EncodeOptions(normalize=normalize, truncate_dim=dimensions, prompt_name=prompt_name)
            self._encoders[key] = Encoder(self.encoder_model, options, role=role)
        return self._encoders[key]

    def _prompt(self, role: str, prompt_name: str | None) -> str:
        """The prompt model.encode puts before each text of this role (counted with the text)."""
        prompts = self.encoder_model.prompts
        if prompt_name is None and role == "query" and "query" in prompts:
            prompt_name = "query"
        elif prompt_name is None and role == "document":
            prompt_name = next((name for name in DOCUMENT_PROMPTS if name in prompts), None)
        elif prompt_name is None:
            prompt_name = getattr(self.encoder_model, "default_prompt_name", None)
        return prompts.get(prompt_name, "") if prompt_name else ""

    # --- the worker's two calls ---------------------------------------------------------------

    def prepare(self, job: Job) -> None:
        """Count the job's tokens (special tokens in): its share of the budget and its usage.
        Over-long texts are truncated by the model, or refused here with --no-truncate."""
        if isinstance(job.payload, RerankRequest):
            counts = self._pair_counts(job.payload)
            limit = getattr(self.reranker, "max_length", None)
        else:
            prompt = self._prompt(job.payload.role, job.payload.prompt_name)
            texts = [prompt + text for text in job.payload.texts]
            counts = token_counts(self.encoder_model, texts, truncate=False, special_tokens=True)
            limit = self.encoder_model.max_seq_length
        if isinstance(limit, int):
            longest = max(counts)
            if not self.truncate and longest > limit:
                index = counts.index(longest)
                raise ApiError(
                    413,
                    f"input {index} has {longest} tokens, more than the model's {limit} "
                    "(this server refuses over-long inputs: sbft serve --no-truncate)",
                    param="input" if not isinstance(job.payload, RerankRequest) else "texts",
                    code="input_too_long",
                )
            counts = [min(count, limit) for count in counts]
        job.detail = counts
        job.tokens = sum(counts)

    def _pair_counts(self, request: RerankRequest) -> list[int]:
        tokenizer = self.reranker.tokenizer
        ids = tokenizer(
            [request.query] * len(request.texts),
            request.texts,
            add_special_tokens=True,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
            verbose=False,
        )["input_ids"]
        return [len(pair) for pair in ids]

    def run(self, jobs: list[Job]) -> list[Any]:
        """One encode call for the gathered jobs (all of one key), or one rerank."""
        if isinstance(jobs[0].payload, RerankRequest):
            return [self._rerank(job) for job in jobs]
        if isinstance(jobs[0].payload, SearchRequest):
            return [self._search(job) for job in jobs]
        texts = [text for job in jobs for text in job.payload.texts]
        vectors = self._encoder(jobs[0].key).encode(texts)
        results: list[tuple[np.ndarray, int]] = []
        start = 0
        for job in jobs:
            stop = start + len(job.payload.texts)
            results.append((vectors[start:stop], sum(job.detail)))
            start = stop
        return results

    def rerank_job(self, request: RerankRequest) -> Job:
        if self.reranker is None:
            raise ApiError(
                404,
                f"no reranker is served here: {self.encoder_name} is a bi-encoder",
                type="not_found_error",
                code="no_reranker",
            )
        return Job(key="rerank", payload=request, shareable=False)

    def _rerank(self, job: Job) -> tuple[list[dict[str, Any]], int]:
        from sbft.inference.search import rerank

        request: RerankRequest = job.payload
        hits = rerank(self.reranker, request.query, request.texts, request.top_n)
        ranked = [
            {"index": hit.id, "score": hit.score, **({"text": hit.text} if request.return_text else {})}
            for hit in hits
        ]
        return ranked, sum(job.detail)

    def search_job(self, request: SearchRequest) -> Job:
        if self.index is None:
            raise ApiError(
                404,
                "no index is served here: start the server with --index DIR (a folder of `sbft index`)",
                type="not_found_error",
                code="no_index",
            )
        return Job(key="search", payload=request, shareable=False)

    def _search(self, job: Job) -> tuple[list[dict[str, Any]], int]:
        """Each query's hits, as `sbft search --index --json` prints them (the index checked the
        model once, when the server started)."""
        request: SearchRequest = job.payload
        found = self.index.search(self.encoder_model, request.texts, request.top_k, rescore=request.rescore)
        results = [
            {
                "query": query,
                "hits": [{"rank": h.rank, "id": h.id, "score": h.score, "text": h.text} for h in hits],
            }
            for query, hits in zip(request.texts, found, strict=True)
        ]
        return results, sum(job.detail)
