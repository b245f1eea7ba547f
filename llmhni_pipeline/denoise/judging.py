"""Stage 6's judging plan: which prompts of a candidate pair are sent, in which order, within one run's cap.

Every pair has a user-centric and an item-centric prompt. Under the both-High rule with fixed thresholds the
item-centric answer matters only where the user-centric one said High (``augment.needs_second_view``), so
by default the user-centric prompts go first and the item-centric ones follow only for those pairs: the
labels are exactly those of judging both (tested), for about half the prompts. With quantile thresholds, or
``skip_undecided=False``, both prompts of each pair are sent, user by user (a capped run then leaves whole
pairs judged).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import polars as pl

from llmhni_pipeline.denoise.augment import needs_second_view
from llmhni_pipeline.llm.accounting import Budget, CallStats
from llmhni_pipeline.llm.cache import CallCache
from llmhni_pipeline.llm.gateway import RunOptions, judge_key, judge_prompts
from llmhni_pipeline.llm.interfaces import Judge, JudgePrompt, JudgeResult
from llmhni_pipeline.llm.labels import LabelThresholds

USER_ORDERS = ("id", "shuffled")


def judging_order(users: np.ndarray, order: str = "id", seed: int = 2026) -> np.ndarray:
    """Each user's rank in the order users are judged. ``id``: by user id; ``shuffled``: a seeded random order,
    so that capped runs judge a random subset of users completely and each further run extends it."""
    if order not in USER_ORDERS:
        raise ValueError(f"user order must be one of {', '.join(USER_ORDERS)}, not {order!r}")
    users = np.asarray(users, dtype=np.int64)
    if order == "id":
        return users
    permutation = np.random.default_rng(seed).permutation(int(users.max()) + 1 if users.size else 0)
    return permutation[users]


def ordered_pairs(candidate_pairs: pl.DataFrame, order: str = "id", seed: int = 2026) -> pl.DataFrame:
    """The candidate pairs in the order they are judged: one user's pairs in a row, users in ``order``."""
    rank = judging_order(candidate_pairs["user_id"].to_numpy(), order, seed)
    return (
        candidate_pairs.with_columns(_order=pl.Series(rank))
        .sort("_order", "kind", "rank_within_user")
        .drop("_order")
    )


def per_user_blocks(users: np.ndarray) -> list[tuple[int, int]]:
    """(perspective, pair index) in judging order for pairs sorted by user: per user, 0 = user-centric block,
    then 1 = item-centric block."""
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    stops = np.r_[starts[1:], len(users)]
    return [(view, i) for lo, hi in zip(starts, stops, strict=True) for view in (0, 1) for i in range(lo, hi)]


def remaining(options: RunOptions, spent: CallStats) -> RunOptions:
    """``options`` with what ``spent`` used taken off its caps (calls sent or failed, dollars)."""
    room, cost = options.budget.max_calls, options.budget.max_cost_usd
    if room is not None:
        room = max(0, room - max(spent.calls + spent.failed, spent.requests))
    if cost is not None:
        cost = max(0.0, cost - spent.cost_usd)
    return dataclasses.replace(options, budget=Budget(room, cost))


@dataclasses.dataclass
class PairJudgments:
    user: list[JudgeResult | None]
    item: list[JudgeResult | None]
    stats: CallStats
    item_skipped: list[bool]  # item-centric prompt not sent: it could not change the pair's label

    @property
    def skipped_second(self) -> int:
        return sum(self.item_skipped)

    def scattered(self, rows: np.ndarray, n: int) -> PairJudgments:
        """These judgments of pairs ``rows`` of a table of ``n`` pairs, as that table's (others not judged; rows
        past ``n``, the trial's probes, left out)."""
        user: list[JudgeResult | None] = [None] * n
        item: list[JudgeResult | None] = [None] * n
        skipped = [False] * n
        for k, row in enumerate(rows):
            if row < n:
                user[row], item[row], skipped[row] = self.user[k], self.item[k], self.item_skipped[k]
        return PairJudgments(user, item, self.stats, skipped)

    def columns(self, thresholds: LabelThresholds) -> dict[str, object]:
        """``llm_logical_scores``' per-view columns: label, P(High), P(Mid), P(Low) and status of each pair."""
        skipped = {"user": [False] * len(self.user), "item": self.item_skipped}
        columns: dict[str, object] = {}
        for view, results in (("user", self.user), ("item", self.item)):
            p = {
                k: np.array([getattr(r, k) if r else np.nan for r in results])
                for k in ("p_high", "p_mid", "p_low")
            }
            labels = thresholds.labels(p["p_high"] - p["p_low"])
            columns |= {
                f"{view}_view": [str(label) if label else None for label in labels],
                f"{view}_p_high": p["p_high"],
                f"{view}_p_mid": p["p_mid"],
                f"{view}_p_low": p["p_low"],
                f"{view}_status": [
                    str(r.status) if r else "skipped" if skip else "unjudged"
                    for r, skip in zip(results, skipped[view], strict=True)
                ],
            }
        return columns


def judge_pairs(
    judge: Judge,
    user_prompts: Sequence[JudgePrompt],
    item_prompts: Sequence[JudgePrompt],
    users: np.ndarray,
    cache: CallCache,
    options: RunOptions,
    thresholds: LabelThresholds,
    skip_undecided: bool = True,
) -> PairJudgments:
    """Both perspectives' answers in pair order (``None``: not judged), for pairs sorted by user."""
    n = len(user_prompts)
    if not (skip_undecided and thresholds.mode == "fixed"):
        order = per_user_blocks(users)
        answers, stats = judge_prompts(
            judge, [user_prompts[i] if v == 0 else item_prompts[i] for v, i in order], cache, options
        )
        out: dict[int, list[JudgeResult | None]] = {0: [None] * n, 1: [None] * n}
        for (view, i), answer in zip(order, answers, strict=True):
            out[view][i] = answer
        return PairJudgments(out[0], out[1], stats, [False] * n)
    first, stats = judge_prompts(judge, list(user_prompts), cache, options)
    labels = thresholds.labels(np.array([r.score if r is not None else np.nan for r in first]))
    decided = [r is not None and lab is not None for r, lab in zip(first, labels, strict=True)]
    wanted = [i for i in range(n) if decided[i] and needs_second_view(str(labels[i]))]
    second_options = remaining(options, stats)
    room = second_options.budget.max_calls
    item: list[JudgeResult | None] = [None] * n
    if wanted and room != 0:
        answers, more = judge_prompts(judge, [item_prompts[i] for i in wanted], cache, second_options)
        for i, answer in zip(wanted, answers, strict=True):
            item[i] = answer
        stats = stats + more
    elif wanted:
        stats.stopped_by_budget = True
        stats.skipped += len(wanted)
    skipped = [decided[i] and not needs_second_view(str(labels[i])) for i in range(n)]
    return PairJudgments(first, item, stats, skipped)


def sent_prompts(judged: PairJudgments, user_prompts, item_prompts) -> list[JudgePrompt]:
    """The prompts a judging of these pairs needed: every user-centric one, the item-centric ones not skipped."""
    return list(user_prompts) + [p for p, r in zip(item_prompts, judged.item, strict=True) if r is not None]


def round_prompts(
    user_prompts: Sequence[JudgePrompt],
    item_prompts: Sequence[JudgePrompt],
    users: np.ndarray,
    cache: CallCache,
    backend: str,
    model: str,
    thresholds: LabelThresholds,
    both_views: bool = False,
) -> list[JudgePrompt]:
    """The prompts a batch round sends, in the order ``judge_pairs`` sends them, for pairs sorted by user: every
    user-centric prompt, and the item-centric prompt of each pair whose user-centric answer is cached and needs
    it (a batch cannot wait for its own answers, so that is a second round); with ``both_views`` (or quantile
    thresholds) both prompts of every pair in one round. Cached ones are left in: the export drops them."""
    if both_views or thresholds.mode != "fixed":
        return [user_prompts[i] if view == 0 else item_prompts[i] for view, i in per_user_blocks(users)]
    answers = cache.load([judge_key(backend, model, p) for p in user_prompts])
    by_key = (
        {r["key"]: r["p_high"] - r["p_low"] for r in answers.iter_rows(named=True)} if answers.height else {}
    )
    scores = np.array(
        [by_key.get(judge_key(backend, model, p), np.nan) for p in user_prompts], dtype=np.float64
    )
    labels = thresholds.labels(scores)
    wanted = [i for i, label in enumerate(labels) if label is not None and needs_second_view(str(label))]
    return list(user_prompts) + [item_prompts[i] for i in wanted]
