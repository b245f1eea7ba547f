"""Budgets, call statistics, prices and progress reporting for a run of LLM calls."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

# USD per 1M tokens (input, output). Local backends cost nothing; override per run through configuration.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "text-embedding-ada-002": (0.10, 0.0),
    "text-embedding-3-small": (0.02, 0.0),
    "text-embedding-3-large": (0.13, 0.0),
    "gpt-4o": (2.50, 10.00),
    "gpt-4o-mini": (0.15, 0.60),
}


# what may follow a model's name in a dated snapshot of it: gpt-4o-2024-08-06 is gpt-4o, priced as gpt-4o
DATED_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}")
PRICE_SETTING = "resources: llm: config: prices: {<model>: [input, output]} (USD per 1M tokens)"


def price_of(model: str, prices: dict[str, tuple[float, float]]) -> tuple[float, float] | None:
    """(input, output) USD per 1M tokens of ``model``: its own entry, else its base model's when it is a dated
    snapshot (``gpt-4o-2024-08-06`` → ``gpt-4o``); ``None`` when neither is known."""
    if model in prices:
        return prices[model]
    match = DATED_SNAPSHOT.search(model)
    if match and match.end() == len(model) and model[: match.start()] in prices:
        return prices[model[: match.start()]]
    return None


class UnknownPrice(ValueError):
    """A cost cap is set for a model whose price is not known: the cap could not hold, so nothing starts."""


def require_price(model: str, prices: dict[str, tuple[float, float]], what: str = "") -> tuple[float, float]:
    """``price_of(model)``, or ``UnknownPrice`` naming the setting that supplies one."""
    price = price_of(model, prices)
    if price is None:
        raise UnknownPrice(
            f"max_cost_usd is set, but the price of {what + ' ' if what else ''}model {model!r} is unknown "
            f"(known: {', '.join(sorted(prices))}), so the cap could not hold and nothing was sent; give its price "
            f"as {PRICE_SETTING}, or remove max_cost_usd"
        )
    return price


def call_cost(model: str, tokens_in: int, tokens_out: int, prices: dict[str, tuple[float, float]]) -> float:
    """USD of these tokens at ``model``'s price (a dated snapshot at its base model's); 0 for an unknown price
    (a cost cap refuses such a model up front: ``require_price``)."""
    price_in, price_out = price_of(model, prices) or (0.0, 0.0)
    return (tokens_in * price_in + tokens_out * price_out) / 1e6


def estimated_text_tokens(text: str) -> int:
    """Input tokens of a text before it is sent, as characters / 4 (OpenAI's rule of thumb; no tokenizer is
    installed for hosted models), at least 1."""
    return max(1, len(text) // 4)


@dataclass
class Budget:
    """A per-run cap on calls (inputs sent to the backend) and/or estimated cost; ``None`` = unlimited."""

    max_calls: int | None = None
    max_cost_usd: float | None = None

    def room(self, stats: CallStats) -> int:
        """How many more inputs may be sent (a large number when unlimited, 0 once the cost cap is reached). Every
        input sent counts, a retry of an unreadable answer or a failed attempt too (``stats.requests``)."""
        if self.max_cost_usd is not None and stats.cost_usd >= self.max_cost_usd:
            return 0
        if self.max_calls is None:
            return 1 << 62
        return max(0, self.max_calls - max(stats.calls + stats.failed, stats.requests))


class Allowance:
    """How many inputs a backend may still send in this run, every attempt counted (``None``: no limit); shared
    by the backend's threads. A backend asks before each request, its retries included, so a cap of N sends at
    most N inputs however many answers come back unreadable."""

    def __init__(self, limit: int | None):
        self.limit, self.used = limit, 0
        self._lock = threading.Lock()

    def take(self, n: int = 1) -> bool:
        with self._lock:
            if self.limit is not None and self.used + n > self.limit:
                return False
            self.used += n
            return True

    def left(self) -> int | None:
        with self._lock:
            return None if self.limit is None else max(0, self.limit - self.used)


class AllowanceSpent(RuntimeError):
    """The run's cap is reached: this input is not sent (and not retried)."""


@dataclass
class CallStats:
    requested: int = 0
    cache_hits: int = 0
    calls: int = 0  # inputs answered (paid for)
    requests: int = 0  # inputs sent, every attempt counted (a retried input counts once per attempt)
    failed: int = 0  # inputs whose batch failed after all retries (not cached; retried next run)
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float = 0.0
    seconds: float = 0.0
    stopped_by_budget: bool = False
    skipped: int = 0  # inputs not attempted because the budget ran out or the run stopped on failures
    malformed: int = 0  # answered, but unreadable: not cached, so the next run asks again
    stopped_by_failures: bool = False
    last_error: str = ""
    last_unreadable: str = ""  # what an unreadable answer said (for the error naming a broken endpoint)

    def __add__(self, other: CallStats) -> CallStats:
        """Two runs of one stage as one: counts add up, a stop in either is a stop, the later error wins."""
        merged = {}
        for f in dataclasses.fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            merged[f.name] = (b or a) if isinstance(a, str) else (a or b) if isinstance(a, bool) else a + b
        return CallStats(**merged)

    def as_metadata(self, prefix: str = "llm_") -> dict[str, float | int | bool]:
        return {f"{prefix}{k}": (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass
class Progress:
    """Reports done/total with rate and ETA at most every ``every_seconds`` (and at the end)."""

    total: int
    report: Callable[[str], None]
    label: str = "calls"
    every_seconds: float = 10.0
    done: int = 0
    _start: float = field(default_factory=time.perf_counter)
    _last: float = 0.0

    def advance(self, n: int, force: bool = False) -> None:
        self.done += n
        now = time.perf_counter()
        if not force and now - self._last < self.every_seconds and self.done < self.total:
            return
        self._last = now
        elapsed = now - self._start
        rate = self.done / elapsed if elapsed > 0 else 0.0
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        eta_text = f"{eta:.0f}s" if eta != float("inf") else "?"
        self.report(f"{self.label}: {self.done}/{self.total} ({rate:.1f}/s, ETA {eta_text})")
