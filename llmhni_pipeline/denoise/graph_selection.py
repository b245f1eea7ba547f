"""Choosing the rule that turns judgments into G′ on held-out validation (issue 11), with EASE as the quick loop.

A candidate is a *rule* and a High *threshold* on each perspective's P(High) − P(Low): ``remove_and_add`` (the
paper: drop low-scored positives not backed as High from both sides, add high-scored negatives backed from
both), ``remove_only``, ``add_only``, and ``none`` (G′ = G). Each candidate's G′ is fit with EASE and scored on
the **validation** split; the best wins, ``none`` on a tie, so G′ differs from G only where validation says it
helps. The test split is never read. A perspective that was not judged (the item-centric prompt is skipped
where the user-centric one fell below the judge's own threshold) leaves the pair undecided at a lower grid
threshold, so grid values below the judge's threshold change fewer pairs, never invent a verdict.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl
import torch

from llmhni_pipeline.denoise.augment import HIGH, augmented_edges, hard_or_noisy
from llmhni_pipeline.recsys.baselines import ease_valid_per_user, graph_check, means_of
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.graph import InteractionGraph

RULES = ("remove_and_add", "remove_only", "add_only", "none")
KINDS = {
    "remove_and_add": ("pos_low", "neg_high"),
    "remove_only": ("pos_low",),
    "add_only": ("neg_high",),
    "none": (),
}


@dataclass(frozen=True)
class GraphRule:
    rule: str = "remove_and_add"
    high: float = 0.5

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ValueError(f"unknown G′ rule {self.rule!r}; known: {', '.join(RULES)}")

    @property
    def name(self) -> str:
        return "none" if self.rule == "none" else f"{self.rule}@{self.high:g}"


def relabel(scores: pl.DataFrame, high: float) -> pl.DataFrame:
    """``label`` recomputed from the stored probabilities with High iff P(High) − P(Low) ≥ ``high``."""

    def view(prefix: str) -> pl.Expr:
        margin = (pl.col(f"{prefix}_p_high") - pl.col(f"{prefix}_p_low")).fill_nan(None)
        return (
            pl.when(margin.is_null())
            .then(None)
            .when(margin >= high)
            .then(pl.lit(HIGH))
            .otherwise(pl.lit("Mid"))
        )

    return scores.with_columns(label=hard_or_noisy(view("user"), view("item")))


def apply_rule(
    train: pl.DataFrame, scores: pl.DataFrame, rule: GraphRule
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(edges of G′ with ``origin``, removed edges) for one rule: :func:`augmented.augmented_edges` on the
    judged pairs of the kinds the rule edits."""
    judged = relabel(scores, rule.high).filter(
        (pl.col("label") != "unjudged") & pl.col("kind").is_in(list(KINDS[rule.rule]))
    )
    return augmented_edges(train, judged.select("user_id", "item_id", "kind", "label"))


def paired_z(candidate: torch.Tensor, reference: torch.Tensor) -> float:
    """mean(candidate − reference) / its standard error over users: how many standard errors a per-user metric
    moved. 0 where nothing moved."""
    diff = candidate - reference
    spread = float(diff.std()) if diff.numel() > 1 else 0.0
    mean = float(diff.mean())
    if spread == 0.0:  # every user moved by the same amount: nothing, or an unbounded z
        return math.copysign(math.inf, mean) if mean else 0.0
    return mean / (spread / diff.numel() ** 0.5)


def choose_rule(
    data: SplitData,
    train: pl.DataFrame,
    scores: pl.DataFrame,
    grid: list[float],
    rules: Sequence[str] = RULES,
    l2: float = 100.0,
    min_z: float = 2.0,
) -> tuple[GraphRule, pl.DataFrame]:
    """The candidate with the best EASE validation Recall@20, and every candidate's row (edits, metrics and the
    paired z of its per-user recall against G). A G′ replaces G only if its gain is at least ``min_z`` standard
    errors over the validation users; otherwise ``none`` (G) is kept, so a judge's noise is not taken for signal."""
    candidates = [GraphRule("none")] if "none" in rules else []
    candidates += [GraphRule(r, h) for r in rules if r != "none" for h in grid]
    on_g = ease_valid_per_user(data, data.train, l2)  # G, every candidate's reference
    subset = judged_user_mask(data, scores)
    rows = []
    for rule in candidates:
        edges, removed = apply_rule(train, scores, rule)
        if rule.rule == "none":  # G itself: fit once above
            per_user = on_g
        else:
            graph = InteractionGraph.from_frame(edges, data.n_users, data.n_items)
            per_user = ease_valid_per_user(data, graph, l2)
        metrics = means_of(per_user)
        rows.append(
            {
                "rule": rule.rule,
                "high": None if rule.rule == "none" else rule.high,
                "removed": removed.height,
                "added": edges.filter(pl.col("origin") == "added_hard").height,
                "ease_valid_recall@20": metrics["recall@20"],
                "ease_valid_ndcg@20": metrics["ndcg@20"],
                "z_vs_G": round(paired_z(per_user["recall@20"], on_g["recall@20"]), 2),
            }
        )
        if subset is not None:  # a capped judge covered some users: the effect where it judged
            rows[-1] |= {
                "ease_valid_recall@20_judged_users": round(float(per_user["recall@20"][subset].mean()), 5),
                "z_judged_users": round(
                    paired_z(per_user["recall@20"][subset], on_g["recall@20"][subset]), 2
                ),
            }
    table = pl.DataFrame(rows)
    eligible = [k for k, c in enumerate(candidates) if c.rule == "none" or rows[k]["z_vs_G"] >= min_z]
    if not eligible:  # "none" not among the rules: the best candidate, as before
        eligible = list(range(len(candidates)))
    best = max(eligible, key=lambda k: (rows[k]["ease_valid_recall@20"], candidates[k].rule == "none"))
    return candidates[best], table


def judged_users(scores: pl.DataFrame) -> pl.Series:
    """The users with at least one judged pair (a pair the judge has not reached has no P(High))."""
    judged = scores.filter(pl.col("user_p_high").is_not_nan() & pl.col("user_p_high").is_not_null())
    return judged["user_id"].unique()


def judged_user_mask(data: SplitData, scores: pl.DataFrame) -> torch.Tensor | None:
    """Over the validation users in :func:`ease_valid_per_user`'s order, which have at least one judged pair;
    ``None`` when the judge reached every validation user (or none), so there is no subset to report."""
    valid_users = torch.nonzero(data.valid.counts() > 0).squeeze(1)
    mask = torch.isin(valid_users, torch.as_tensor(judged_users(scores).to_numpy(), dtype=torch.int64))
    return mask if 0 < int(mask.sum()) < mask.numel() else None


def check_of(table: pl.DataFrame, chosen: GraphRule) -> dict[str, float]:
    """The G-against-G′ check (``recsys.baselines.graph_check``) read from :func:`choose_rule`'s table: its
    ``none`` row is G and the chosen rule's row is G′, both already fit, so nothing is refit."""

    def metrics(row: pl.DataFrame) -> dict[str, float]:
        return {"recall@20": row["ease_valid_recall@20"][0], "ndcg@20": row["ease_valid_ndcg@20"][0]}

    none = table.filter(pl.col("rule") == "none")
    high = None if chosen.rule == "none" else chosen.high
    picked = table.filter((pl.col("rule") == chosen.rule) & (pl.col("high").eq_missing(high)))
    return graph_check(metrics(none), metrics(picked))
