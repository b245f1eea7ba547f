"""The LLM gateway as a Dagster resource: which backends, models, limits and cache a run uses.

Secrets come only from the environment (``OPENAI_API_KEY``); they are never a config field, so they never
show in the launchpad, run config, logs or metadata.
"""

import os
from pathlib import Path

import dagster as dg
from pydantic import Field, field_validator, model_validator

from llmhni_pipeline.lake import default_lake_dir, lake_location, models_dir
from llmhni_pipeline.llm.accounting import DEFAULT_PRICES, Budget, require_price
from llmhni_pipeline.llm.batch_jobs import BatchJobs
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions
from llmhni_pipeline.llm.interfaces import Embedder, Judge
from llmhni_pipeline.llm.model_store import JUDGE_MODELS, installed_gguf
from llmhni_pipeline.llm.openai_backend import (
    OpenAIEmbedder,
    OpenAIJudge,
    OpenAISettings,
    base_urls,
    make_client,
)
from llmhni_pipeline.settings import env_number

LOCAL_JUDGE_BATCH = (
    2  # prompts per batch for the embedded judge (~1.5 s each on 2 cores): an interrupt waits for one
)


JUDGE_BACKENDS = ("local", "openai", "openai-batch", "simulated", "semantic")
EMBED_BACKENDS = ("local", "openai")


def _one_of(value: str, known, setting: str, what: str, hint: str = "") -> str:
    """``value`` if it is one of ``known``; otherwise an error naming the setting and the known values."""
    if value not in known:
        raise ValueError(f"{setting} {value!r} is not {what}; known: {', '.join(known)}{hint}")
    return value


class LLMResource(dg.ConfigurableResource):
    """``local`` backends (MiniLM, llama.cpp judge) unless an OpenAI-compatible endpoint is configured.

    ``LLMHNI_JUDGE_BACKEND=openai-batch`` sends the judge's prompts as Batch API batches (half price, up to 24 h;
    the ``judge_batches_sensor`` follows them). Set ``LLMHNI_LLM_BASE_URL`` (e.g. http://127.0.0.1:8000/v1 for vLLM/Ollama/llama.cpp server; several,
    comma-separated, are a pool with ``max_in_flight`` requests on each) or
    ``LLMHNI_EMBED_BACKEND=openai`` / ``LLMHNI_JUDGE_BACKEND=openai`` and export ``OPENAI_API_KEY``.
    """

    # local (MiniLM) or openai; the environment's values are checked like any config (validate_default) when the
    # definitions load, so a misspelt backend fails before the first step, not after the training stages
    embed_backend: str = Field(
        default=os.environ.get(
            "LLMHNI_EMBED_BACKEND", "openai" if os.environ.get("LLMHNI_LLM_BASE_URL") else "local"
        ),
        validate_default=True,
    )
    judge_backend: str = Field(  # local, openai, openai-batch, simulated or semantic (checked the same way)
        default=os.environ.get(
            "LLMHNI_JUDGE_BACKEND", "openai" if os.environ.get("LLMHNI_LLM_BASE_URL") else "local"
        ),
        validate_default=True,
    )
    base_url: str | None = os.environ.get(
        "LLMHNI_LLM_BASE_URL"
    )  # an OpenAI-compatible endpoint; several: a pool
    embed_model: str = os.environ.get(
        "LLMHNI_EMBED_MODEL", "text-embedding-ada-002"
    )  # the endpoint's embedding model
    judge_model: str = os.environ.get("LLMHNI_JUDGE_MODEL", "gpt-4o-mini")  # the endpoint's judge model
    # the 0.5B model: on real candidate pairs neither embedded judge beats chance measurably, and the 0.5B is
    # 1.7–1.8× faster (docs/guide/llm-backends.md); LLMHNI_LOCAL_JUDGE=qwen2.5-coder-1.5b picks the larger one
    local_judge_model: str = Field(
        default=os.environ.get("LLMHNI_LOCAL_JUDGE", "qwen2.5-coder-0.5b"), validate_default=True
    )
    # LLMHNI_JUDGE_BACKEND=simulated: a judge of known quality on a partition with planted truth (-hideNN,
    # -noiseNN), its AUC against that truth this target; the seed draws which pairs it gets right
    simulated_auc: float = Field(
        default=env_number("LLMHNI_SIMULATED_AUC", 0.8, float, 0, 1, exclusive_minimum=True, what="an AUC"),
        gt=0,
        le=1,
    )
    simulated_seed: int = env_number(
        "LLMHNI_SIMULATED_SEED", 2026, int, what="a whole number"
    )  # its pairs' draw
    max_in_flight: int = Field(default=8, ge=1)  # requests at once on each endpoint
    timeout_s: float = Field(default=60.0, gt=0)  # seconds one request may take before it is retried
    # tries per request (429, 5xx, timeouts, unreadable bodies), each counted by the cap
    max_attempts: int = Field(default=6, ge=1)
    # texts per embedding request; each batch is cached when it returns
    embed_batch_size: int = Field(default=64, ge=1)
    # the embedding endpoint's input limit in tokens (OpenAI's text-embedding models: 8191): a longer text is cut
    # to that many bytes before it is sent, which no tokenizer can exceed, and the stage names it
    embed_max_tokens: int = Field(default=8191, ge=16)
    # prompts per cached batch (the embedded judge: 2, so Ctrl-C stops in seconds)
    judge_batch_size: int = Field(default=32, ge=1)
    # inputs sent per run, every retry counted (null = unlimited, 0 = none)
    max_calls: int | None = Field(default=None, ge=0)
    # dollars per run at the list price (null: no cap), checked before each batch is sent; needs the price of every
    # endpoint model in use (the built-in list, or prices below): a cap on an unknown price refuses to start
    max_cost_usd: float | None = Field(default=None, ge=0)
    # USD per 1M tokens, [input, output], by model name: over the built-in list (accounting.DEFAULT_PRICES); a dated
    # snapshot (gpt-4o-2024-08-06) takes its model's price unless it has its own
    prices: dict[str, list[float]] = {}
    # a run whose answers are readable for fewer than this share of the inputs sent fails (a broken endpoint)
    min_readable_share: float = Field(default=0.5, ge=0, le=1)
    lake_dir: str = str(default_lake_dir())  # the lake whose LLM cache and batch records are used

    @field_validator("prices")
    @classmethod
    def _two_prices(cls, value: dict[str, list[float]]) -> dict[str, list[float]]:
        for model, price in value.items():
            if len(price) != 2 or any(p < 0 for p in price):
                raise ValueError(
                    f"prices: {model!r} must be [input, output] USD per 1M tokens, two numbers ≥ 0, not {price}"
                )
        return value

    @model_validator(mode="after")
    def _cost_cap_has_prices(self) -> "LLMResource":
        """A cost cap on an endpoint model of unknown price could not hold: refuse it when the resource is made,
        before any step sends anything (local, simulated and semantic backends cost nothing)."""
        if self.max_cost_usd is not None:
            if self.embed_backend == "openai":
                require_price(self.embed_model, self.price_list(), "the embedding")
            if self.judge_backend in ("openai", "openai-batch"):
                require_price(self.judge_model, self.price_list(), "the judge")
        return self

    def price_list(self) -> dict[str, tuple[float, float]]:
        """The built-in prices with this configuration's ``prices`` over them."""
        return {**DEFAULT_PRICES, **{m: (float(p[0]), float(p[1])) for m, p in self.prices.items()}}

    @field_validator("judge_backend")
    @classmethod
    def _known_judge_backend(cls, value: str) -> str:
        return _one_of(value, JUDGE_BACKENDS, "LLMHNI_JUDGE_BACKEND / judge_backend", "a judge backend")

    @field_validator("embed_backend")
    @classmethod
    def _known_embed_backend(cls, value: str) -> str:
        return _one_of(value, EMBED_BACKENDS, "LLMHNI_EMBED_BACKEND / embed_backend", "an embedding backend")

    @field_validator("local_judge_model")
    @classmethod
    def _known_local_judge(cls, value: str) -> str:
        return _one_of(
            value,
            JUDGE_MODELS,
            "LLMHNI_LOCAL_JUDGE / local_judge_model",
            "an embedded judge",
            " (fetch one with llmhni fetch judge-<name>)",
        )

    def _openai_settings(self) -> OpenAISettings:
        return OpenAISettings(
            base_url=self.base_url,
            api_key=os.environ.get("OPENAI_API_KEY", ""),
            embed_model=self.embed_model,
            judge_model=self.judge_model,
            timeout_s=self.timeout_s,
            max_attempts=self.max_attempts,
            max_in_flight=self.max_in_flight,
            embed_max_tokens=self.embed_max_tokens,
        )

    def embedder(self) -> Embedder:
        if self.embed_backend == "openai":
            return OpenAIEmbedder(self._openai_settings())
        if self.embed_backend == "local":
            from llmhni_pipeline.llm.local_backends import LocalMiniLMEmbedder

            return LocalMiniLMEmbedder()
        raise ValueError(
            f"embed_backend must be one of {', '.join(EMBED_BACKENDS)}, not {self.embed_backend!r}"
        )

    def judge(self) -> Judge:
        if self.judge_backend in (
            "openai",
            "openai-batch",
        ):  # batch mode reads the answers its batches cached
            return OpenAIJudge(self._openai_settings())
        if self.judge_backend == "local":
            from llmhni_pipeline.llm.local_backends import LlamaCppJudge

            model = JUDGE_MODELS[self.local_judge_model]
            return LlamaCppJudge(installed_gguf(model, self.models_dir), model.name)
        if self.judge_backend == "simulated":  # bound to the partition's pairs by llm_logical_scores
            from llmhni_pipeline.denoise.pair_judges import SimulatedJudge

            return SimulatedJudge(self.simulated_auc, self.simulated_seed)
        if self.judge_backend == "semantic":
            from llmhni_pipeline.denoise.pair_judges import SemanticJudge

            return SemanticJudge()
        raise ValueError(
            f"judge_backend must be one of {', '.join(JUDGE_BACKENDS)}, not {self.judge_backend!r}"
        )

    @property
    def batch_mode(self) -> bool:
        """The judge submits its prompts as batches (OpenAI's Batch API) instead of calling synchronously."""
        return self.judge_backend == "openai-batch"

    def batch_jobs(self, report=print) -> BatchJobs:
        """The lake's batch records and a client of the (first) configured endpoint."""
        settings = self._openai_settings()
        return BatchJobs(
            lake_location(self.lake_dir), make_client(settings, base_urls(settings.base_url)[0]), report
        )

    @property
    def models_dir(self) -> Path:
        return models_dir(lake_location(self.lake_dir))

    def cache(self, namespace: str) -> CallCache:
        return CallCache(lake_location(self.lake_dir) / "_llm_cache", namespace)

    def run_options(self, log, kind: str) -> RunOptions:
        """Options for one stage; local backends run one batch at a time (the CPU is the limit)."""
        backend = self.embed_backend if kind == "embed" else self.judge_backend
        batch_size = self.embed_batch_size if kind == "embed" else self.judge_batch_size
        if kind == "judge" and backend != "openai":
            # a local batch runs to its end once started: keep it to a few seconds, so that an interrupt
            # stops within seconds and caches the batch rather than throwing half a minute of work away
            batch_size = min(batch_size, LOCAL_JUDGE_BATCH)
        return RunOptions(
            batch_size=batch_size,
            max_in_flight=self.max_in_flight if backend == "openai" and kind == "embed" else 1,
            budget=Budget(self.max_calls, self.max_cost_usd),
            prices=self.price_list(),
            report=log.info,
            min_readable_share=self.min_readable_share,
            free=backend not in ("openai", "openai-batch"),
        )
