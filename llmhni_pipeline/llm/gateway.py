"""Cached, budgeted, concurrent execution of embedding and judge calls.

Misses are split into batches and sent through a pool of at most ``max_in_flight`` workers; each finished
batch is written to the cache before it counts as done, so killing the process loses at most the batches in
flight. A batch that still fails after the backend's retries is reported and left uncached (the next run
retries it), and its inputs spend the per-run cap like sent ones; an error no retry can change (401/403/404)
stops the run at once, and so do ``max_consecutive_failures`` failed batches in a row. A run in which every
call failed raises ``LLMStageFailed`` naming the endpoint and the error: nothing is reported as success. Only
valid answers are cached (``cacheable``); unreadable ones are asked again by the next run. The budget stops new
batches cleanly and everything finished stays cached.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import polars as pl

from llmhni_pipeline.llm.accounting import (
    DEFAULT_PRICES,
    Allowance,
    AllowanceSpent,
    Budget,
    CallStats,
    Progress,
    call_cost,
    estimated_text_tokens,
    price_of,
    require_price,
)
from llmhni_pipeline.llm.cache import CallCache, cache_key
from llmhni_pipeline.llm.interfaces import CallStatus, Embedder, Judge, JudgePrompt, JudgeResult
from llmhni_pipeline.llm.openai_backend import FatalLLMError

T = TypeVar("T")
Reporter = Callable[[str], None]


@dataclass
class RunOptions:
    batch_size: int = 64
    max_in_flight: int = 1
    budget: Budget = field(default_factory=Budget)
    prices: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    report: Reporter = print
    progress_every_seconds: float = 10.0
    max_consecutive_failures: int = 3  # failed batches in a row that stop the run
    # a run whose answers were readable for fewer than this share of the inputs sent (retries counted) fails:
    # an endpoint that answers mostly garbage is broken, and retrying it spends the cap on nothing
    min_readable_share: float = 0.5
    min_sent_for_share: int = 20  # ... once at least this many inputs were sent
    free: bool = False  # the backend costs nothing (local, simulated, semantic): a cost cap needs no price


ANSWERED = "_answered"  # optional column of a batch's rows: False where the backend stopped before answering


class LLMStageFailed(RuntimeError):
    """Every call of a run failed: the stage must fail rather than pass on unchanged data as a result."""


def _run_batches(
    items: Sequence[T],
    keys: list[str],
    cache: CallCache,
    call: Callable[[list[T]], tuple[pl.DataFrame, int, int]],
    options: RunOptions,
    model: str,
    label: str,
    endpoint: str = "",
    cacheable: Callable[[pl.DataFrame], pl.Series] | None = None,
    interrupt: Callable[[], None] | None = None,
    backend: object = None,
    estimate: Callable[[T], tuple[int, int]] | None = None,
) -> tuple[pl.DataFrame, CallStats]:
    """Shared engine: returns the cached rows for ``keys`` (hits and fresh results) and the statistics.
    ``cacheable(rows)`` marks the fresh rows worth caching (default: all). ``call`` may return a boolean
    ``ANSWERED`` column: rows without an answer (an interrupted batch) are neither paid nor cached.
    ``interrupt()`` asks the backend to return what it has now. The whole run holds ``keys``
    (``CallCache.claim``): a second process asking for the same inputs at once waits, then finds them cached, and
    pays nothing twice. ``estimate(item)``: its (input, output) tokens before it is sent, so that a cost cap is
    checked before each batch, not after: a batch is trimmed to the inputs whose estimated cost still fits. A cost
    cap on a model whose price is unknown raises ``UnknownPrice`` before anything is sent."""
    if options.budget.max_cost_usd is not None and not options.free:
        require_price(model, options.prices, label.removesuffix("s"))
    # a backend that retries (the OpenAI one) asks this allowance before every attempt, so the cap counts inputs
    # sent, retries included; the others send each input once, and the batches below are planned exactly
    allowance = Allowance(None if options.budget.max_calls is None else options.budget.room(CallStats()))
    supports_allowance = backend is not None and hasattr(backend, "allowance")
    if supports_allowance:
        backend.allowance = allowance
    try:
        return _run_batches_within(
            items,
            keys,
            cache,
            call,
            options,
            model,
            label,
            endpoint,
            cacheable,
            interrupt,
            allowance,
            supports_allowance,
            estimate,
        )
    finally:
        if supports_allowance:
            backend.allowance = None


def _run_batches_within(
    items,
    keys,
    cache,
    call,
    options,
    model,
    label,
    endpoint,
    cacheable,
    interrupt,
    allowance,
    counted,
    estimate,
) -> tuple[pl.DataFrame, CallStats]:
    """``_run_batches`` with the run's allowance in place (``counted``: the backend charges it per attempt)."""
    with cache.claim(keys, options.report, label):
        stats = CallStats(requested=len(keys))
        start = time.perf_counter()
        cached = cache.load(keys)
        have = set(cached["key"].to_list()) if cached.height else set()
        stats.cache_hits = sum(key in have for key in keys)  # inputs served from the cache
        seen: set[str] = set(have)
        unique_todo = []  # first index of each uncached key: the same input twice in one run is paid once
        for i, key in enumerate(keys):
            if key not in seen:
                seen.add(key)
                unique_todo.append(i)
        batches = [
            unique_todo[lo : lo + options.batch_size] for lo in range(0, len(unique_todo), options.batch_size)
        ]
        planned = min(len(unique_todo), options.budget.room(CallStats()))  # what this run will send at most
        progress = Progress(planned, options.report, label, options.progress_every_seconds)
        if batches:
            capped = f", {planned} of them in this run (per-run cap)" if planned < len(unique_todo) else ""
            options.report(
                f"{label}: {stats.cache_hits} cached, {len(unique_todo)} to call{capped} in batches of "
                f"{options.batch_size}, {options.max_in_flight} in flight"
            )

        state = {"in_flight": 0, "failures_in_a_row": 0, "in_flight_usd": 0.0}
        price = None if options.free else price_of(model, options.prices)
        capped_cost = options.budget.max_cost_usd is not None and price is not None and estimate is not None

        def estimated_usd(index: int) -> float:
            return call_cost(model, *estimate(items[index]), options.prices)

        def finish(future: Future, batch: list[int], queue: list[list[int]]) -> None:
            """Account for one finished batch: cache its valid answers, or count its failure."""
            state["in_flight"] -= len(batch)
            if capped_cost:
                state["in_flight_usd"] -= sum(estimated_usd(i) for i in batch)
            try:
                rows, tokens_in, tokens_out = future.result()
            except AllowanceSpent:  # the cap ran out before this batch's (next) attempt: not sent, not failed
                stats.skipped += len(batch)
                stats.stopped_by_budget = True
                return
            except Exception as exc:  # the backend already retried; report and leave uncached
                stats.failed += len(batch)
                state["failures_in_a_row"] += 1
                stats.last_error = f"{type(exc).__name__}: {str(exc)[:300]}"
                fatal = isinstance(exc, FatalLLMError)
                if fatal or state["failures_in_a_row"] >= options.max_consecutive_failures:
                    stats.stopped_by_failures = True
                    stats.skipped += sum(len(b) for b in queue)
                    queue.clear()
                options.report(
                    f"{label}: a batch of {len(batch)} failed"
                    f"{'' if fatal else ' after retries'}: {stats.last_error}"
                    + ("; stopping this run" if stats.stopped_by_failures else "")
                )
                return
            state["failures_in_a_row"] = 0
            rows = rows.with_columns(key=pl.Series([keys[i] for i in batch]))
            if ANSWERED in rows.columns:
                answered = rows[ANSWERED]
                stats.skipped += int((~answered).sum())
                rows = rows.filter(answered).drop(ANSWERED)
                if counted and (~answered).any() and allowance.left() == 0:
                    stats.stopped_by_budget = True
            stats.calls += rows.height  # answered: paid, readable or not
            keep = cacheable(rows) if cacheable else None
            if keep is not None and not keep.all():
                stats.malformed += int((~keep).sum())
                if "raw" in rows.columns:
                    stats.last_unreadable = str(rows.filter(~keep)["raw"][0])[:200]
                rows = rows.filter(keep)
            cache.put(rows)
            stats.tokens_in += tokens_in
            stats.tokens_out += tokens_out
            stats.cost_usd += call_cost(model, tokens_in, tokens_out, options.prices)
            progress.advance(len(batch))

        with ThreadPoolExecutor(max_workers=max(1, options.max_in_flight)) as pool:
            running: dict[Future, list[int]] = {}
            queue = list(batches)
            try:
                while queue or running:
                    while queue and len(running) < options.max_in_flight:
                        projected = CallStats(
                            calls=stats.calls + state["in_flight"],
                            failed=stats.failed,
                            cost_usd=stats.cost_usd,
                        )
                        room = options.budget.room(projected)
                        if counted and allowance.left() is not None:  # retries spent part of the cap
                            room = min(room, allowance.left())
                        if capped_cost and room > 0:  # the inputs whose estimated cost still fits the cap
                            left_usd = options.budget.max_cost_usd - stats.cost_usd - state["in_flight_usd"]
                            spend = np.cumsum([estimated_usd(i) for i in queue[0][:room]])
                            room = int(np.searchsorted(spend, left_usd, side="right"))
                        if (
                            room < len(queue[0]) and room > 0
                        ):  # a cap of N calls makes exactly N: trim the last batch
                            queue[0:1] = [queue[0][:room], queue[0][room:]]
                        if room <= 0:
                            stats.stopped_by_budget = True
                            stats.skipped = sum(len(b) for b in queue)
                            queue.clear()
                            break
                        batch = queue.pop(0)
                        running[pool.submit(call, [items[i] for i in batch])] = batch
                        state["in_flight"] += len(batch)
                        if capped_cost:
                            state["in_flight_usd"] += sum(estimated_usd(i) for i in batch)
                    if not running:
                        break
                    # with a timeout: a signal the kernel hands to a worker thread is only acted on when the
                    # main thread wakes, and a wait without one may never wake before the batch ends
                    done, _ = wait(running, timeout=0.1, return_when=FIRST_COMPLETED)
                    for future in done:
                        finish(future, running.pop(future), queue)
            except (
                BaseException
            ):  # Ctrl-C, SIGTERM, an orchestrator's interrupt: keep what is finished, then stop
                if interrupt is not None:
                    interrupt()
                queue.clear()
                for future in list(running):
                    if future.cancel():
                        running.pop(future)
                before = stats.calls
                # only the batches already running: the OpenAI judge returns at once with what it has, the local
                # judge's batches are a few prompts long; a second interrupt here ends the run at once
                wait(running)
                for future, batch in running.items():
                    finish(future, batch, queue)
                options.report(
                    f"{label}: interrupted; {stats.calls} answers of this run are cached "
                    f"({stats.calls - before} from the batches in flight); the next run continues from there"
                )
                raise
        stats.requests = allowance.used if counted else stats.calls + stats.failed
        if stats.stopped_by_budget:
            options.report(
                f"{label}: budget reached after {stats.requests} inputs sent ({stats.calls} answered, "
                f"${stats.cost_usd:.4f}); {stats.skipped} left for a later run"
            )
        stats.seconds = time.perf_counter() - start
        if stats.failed and stats.calls == 0:
            raise LLMStageFailed(
                f"{label}: every call to {endpoint or 'the backend'} ({model}) failed — {stats.failed} inputs, "
                f"{stats.skipped} not attempted; nothing new was judged or embedded. Last error: {stats.last_error}"
            )
        readable = stats.calls - stats.malformed
        # every answer unreadable, and enough of them to call the endpoint broken rather than a few prompts odd
        if readable == 0 and stats.malformed >= options.max_consecutive_failures:
            raise LLMStageFailed(
                f"{label}: {endpoint or 'the backend'} ({model}) answered {stats.malformed} inputs, and not one answer "
                f"was readable (e.g. {stats.last_unreadable!r}); nothing new was judged or embedded. Check that the "
                "endpoint serves the OpenAI API for this model (chat completions with choices)"
            )
        share = readable / stats.requests if stats.requests else 1.0
        if stats.requests >= options.min_sent_for_share and share < options.min_readable_share:
            failed = (
                f"; {stats.failed} inputs failed, the last with {stats.last_error}" if stats.failed else ""
            )  # a 400 from the endpoint is the cause then, not an unreadable answer
            raise LLMStageFailed(
                f"{label}: only {readable} of the {stats.requests} inputs sent to {endpoint or 'the backend'} "
                f"({model}) got a readable answer ({share:.0%}, retries counted; the floor is "
                f"{options.min_readable_share:.0%}){failed}"
                + (f", e.g. {stats.last_unreadable!r}" if stats.last_unreadable else "")
                + f"; the {readable} readable ones are cached. "
                + (
                    "The last error names the cause (a 400: the request itself, e.g. too long an input)"
                    if stats.failed
                    else "Check that the endpoint serves the OpenAI API for this model"
                )
            )
        if stats.malformed:
            options.report(
                f"{label}: {stats.malformed} unreadable answers not cached; the next run asks again"
            )
        return cache.load(keys), stats


def fit_texts(texts: Sequence[str], max_bytes: int | None) -> tuple[list[str], list[tuple[int, int, int]]]:
    """``texts`` cut to at most ``max_bytes`` UTF-8 bytes each (at a character boundary), before anything tokenizes
    or sends them: a token covers at least one byte, so no tokenizer makes more tokens than bytes, and a text cut
    to the model's token limit in bytes always fits. The cut ones as (index, bytes before, bytes after)."""
    if max_bytes is None:
        return list(texts), []
    out, cut = [], []
    for i, text in enumerate(texts):
        if (
            len(text) * 4 > max_bytes and len(data := text.encode()) > max_bytes
        ):  # 4 bytes a character at most
            text = data[:max_bytes].decode("utf-8", "ignore")
            cut.append((i, len(data), len(text.encode())))
        out.append(text)
    return out, cut


def embed_texts(
    embedder: Embedder,
    texts: Sequence[str],
    cache: CallCache,
    options: RunOptions,
    prompt_version: str = "raw",
) -> tuple[np.ndarray, np.ndarray, CallStats]:
    """Embeddings of ``texts`` (row order kept) and a mask of rows that have one (budget or failures)."""
    keys = [cache_key(embedder.backend, embedder.model, prompt_version, t) for t in texts]

    def call(batch: list[str]) -> tuple[pl.DataFrame, int, int]:
        out = embedder.embed(batch)
        if out.vectors.shape[0] != len(batch):
            raise ValueError(f"backend returned {out.vectors.shape[0]} embeddings for {len(batch)} texts")
        rows = pl.DataFrame(
            {
                "backend": embedder.backend,
                "model": embedder.model,
                "prompt_version": prompt_version,
                "vector": pl.Series(out.vectors.astype(np.float32).tolist(), dtype=pl.List(pl.Float32)),
            }
        )
        return rows, out.tokens_in, 0

    rows, stats = _run_batches(
        list(texts),
        keys,
        cache,
        call,
        options,
        embedder.model,
        "embeddings",
        _endpoint(embedder),
        interrupt=getattr(embedder, "interrupt", None),
        backend=embedder,
        estimate=lambda text: (estimated_text_tokens(text), 0),
    )
    by_key = dict(zip(rows["key"].to_list(), rows["vector"].to_list(), strict=True)) if rows.height else {}
    dim = len(next(iter(by_key.values()))) if by_key else 0
    matrix = np.full((len(texts), dim), np.nan, dtype=np.float32)
    found = np.zeros(len(texts), dtype=bool)
    for r, key in enumerate(keys):
        vec = by_key.get(key)
        if vec is not None:
            matrix[r] = vec
            found[r] = True
    return matrix, found, stats


JUDGE_SCHEMA = {
    "p_high": pl.Float64,
    "p_mid": pl.Float64,
    "p_low": pl.Float64,
    "label_mass": pl.Float64,
    "raw": pl.String,
    "status": pl.String,
    "tokens_in": pl.Int32,
    "tokens_out": pl.Int32,
}


UNANSWERED = JudgeResult(
    math.nan, math.nan, math.nan, 0.0, "", CallStatus.EMPTY
)  # placeholder row, never cached


def judge_rows(
    results: Sequence[JudgeResult], backend: str, model: str | Sequence[str], prompt_versions: Sequence[str]
) -> pl.DataFrame:
    """Judgments as the cache stores them (without ``key``): the one row format of the synchronous path and of
    batch imports (``llm/batch.py``)."""
    rows = pl.DataFrame(
        [
            {
                "p_high": r.p_high,
                "p_mid": r.p_mid,
                "p_low": r.p_low,
                "label_mass": r.label_mass,
                "raw": r.raw,
                "status": str(r.status),
                "tokens_in": r.tokens_in,
                "tokens_out": r.tokens_out,
            }
            for r in results
        ],
        schema=JUDGE_SCHEMA,
    )
    models = pl.lit(model) if isinstance(model, str) else pl.Series(list(model), dtype=pl.String)
    return rows.with_columns(
        backend=pl.lit(backend),
        model=models,
        prompt_version=pl.Series(list(prompt_versions), dtype=pl.String),
    )


CHAT_TOKENS_PER_MESSAGE = 4  # the chat template's tokens around each message
JUDGE_ANSWER_TOKENS = 1  # the judge asks for one token (openai_backend.chat_request_body's max_tokens)


def prompt_tokens(prompt: JudgePrompt) -> tuple[int, int]:
    """A judge prompt's (input, output) tokens before it is sent: its system and user messages as characters / 4
    plus the template's tokens, and the one answer token."""
    return (
        estimated_text_tokens(prompt.system)
        + estimated_text_tokens(prompt.user)
        + 2 * CHAT_TOKENS_PER_MESSAGE,
        JUDGE_ANSWER_TOKENS,
    )


def judge_key(backend: str, model: str, prompt: JudgePrompt) -> str:
    """The cache key of one judge answer: the judge and the exact prompt, with its version."""
    return cache_key(backend, model, prompt.prompt_version, prompt.fingerprint())


def judge_prompts(
    judge: Judge, prompts: Sequence[JudgePrompt], cache: CallCache, options: RunOptions
) -> tuple[list[JudgeResult | None], CallStats]:
    """Judgments in prompt order; ``None`` where the budget stopped the run or a batch failed."""
    keys = [judge_key(judge.backend, judge.model, p) for p in prompts]

    def call(batch: list[JudgePrompt]) -> tuple[pl.DataFrame, int, int]:
        results = judge.score(batch)  # None where an interrupted backend had no answer yet
        if len(results) != len(batch):
            raise ValueError(f"judge returned {len(results)} results for {len(batch)} prompts")
        answers = [r or UNANSWERED for r in results]
        rows = judge_rows(answers, judge.backend, judge.model, [p.prompt_version for p in batch])
        rows = rows.with_columns(**{ANSWERED: pl.Series([r is not None for r in results])})
        return rows, sum(r.tokens_in for r in answers), sum(r.tokens_out for r in answers)

    rows, stats = _run_batches(
        list(prompts),
        keys,
        cache,
        call,
        options,
        judge.model,
        "judgments",
        _endpoint(judge),
        cacheable=lambda rows: rows["status"].is_in([str(CallStatus.OK), str(CallStatus.TEXT)]),
        interrupt=getattr(judge, "interrupt", None),
        backend=judge,
        estimate=prompt_tokens,
    )
    by_key = {r["key"]: r for r in rows.iter_rows(named=True)} if rows.height else {}
    out: list[JudgeResult | None] = []
    for key in keys:
        r = by_key.get(key)
        out.append(
            None
            if r is None
            else JudgeResult(
                _nan(r["p_high"]),
                _nan(r["p_mid"]),
                _nan(r["p_low"]),
                r["label_mass"],
                r["raw"],
                CallStatus(r["status"]),
                r["tokens_in"],
                r["tokens_out"],
            )
        )
    return out, stats


def _endpoint(backend: object) -> str:
    endpoint = getattr(backend, "endpoint", None)
    return endpoint() if callable(endpoint) else f"the {getattr(backend, 'backend', 'local')} backend"


def _nan(value: float | None) -> float:
    return math.nan if value is None else value
