"""What is known to be true of a partition's candidate pairs, and so what a judge can be measured against.

Each *question* asks whether a judge's margin P(High) − P(Low) ranks the relevant pairs of one candidate kind
above the others (AUC; 0.5 is chance), every one oriented so that relevant means "belongs in G′":

- ``hidden`` (``-hideNN`` partitions): among the high-scored negatives, the train edges held back from G —
  known false negatives, planted;
- ``noise`` (``-noiseNN`` partitions): among the low-scored positives, the real edges as opposed to the
  injected ones — the injected edges are known false positives, planted;
- ``hard`` (any partition): among the high-scored negatives, the user's held-out **validation** positives —
  a truth the data holds, used where nothing was planted. The test split is never read.

Held-back edges and validation positives are the same kind of thing (a random share of a user's real
interactions that G does not show), so a judge's ``hidden`` and ``hard`` AUCs estimate the same quantity; the
planted questions are preferred where they exist because a simulated judge knows only what was planted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from llmhni_pipeline.datasets.interactions import HIDDEN

KEY = ["user_id", "item_id"]


@dataclass(frozen=True)
class Question:
    name: str  # hidden | noise | hard
    kind: str  # the candidate kind it is asked of
    planted: bool
    description: str


HIDDEN_Q = Question("hidden", "neg_high", True, "held-back train edges among the high-scored negatives")
NOISE_Q = Question("noise", "pos_low", True, "real edges (not injected ones) among the low-scored positives")
HARD_Q = Question("hard", "neg_high", False, "validation positives among the high-scored negatives")


def _pairs(interactions: pl.DataFrame, condition: pl.Expr, name: str) -> pl.DataFrame:
    return interactions.filter(condition).select(*KEY).unique().with_columns(pl.lit(True).alias(name))


def has_planted_truth(interactions: pl.DataFrame) -> bool:
    return bool(interactions["is_injected"].any() or (interactions["split"] == HIDDEN).any())


def questions(interactions: pl.DataFrame, planted_only: bool = False) -> list[Question]:
    """The questions this partition can answer: the planted ones, and ``hard`` unless ``planted_only``."""
    asked = []
    if (interactions["split"] == HIDDEN).any():
        asked.append(HIDDEN_Q)
    if interactions["is_injected"].any():
        asked.append(NOISE_Q)
    if not planted_only:
        asked.append(HARD_Q)
    return asked


def gate_questions(interactions: pl.DataFrame) -> list[Question]:
    """What a judge's worth is measured on: the planted questions where the partition has them (a simulated
    judge knows nothing else), the validation one otherwise."""
    return questions(interactions, planted_only=True) or [HARD_Q]


def with_truth(candidates: pl.DataFrame, interactions: pl.DataFrame, question: Question) -> pl.DataFrame:
    """The candidate pairs of ``question``'s kind, with a boolean ``truth`` (relevant: belongs in G′)."""
    block = candidates.filter(pl.col("kind") == question.kind)
    if question.name == "hidden":
        known = _pairs(interactions, pl.col("split") == HIDDEN, "t")
        return (
            block.join(known, on=KEY, how="left").with_columns(truth=pl.col("t").fill_null(False)).drop("t")
        )
    if question.name == "noise":
        known = _pairs(interactions, pl.col("is_injected"), "t")
        return block.join(known, on=KEY, how="left").with_columns(truth=pl.col("t").is_null()).drop("t")
    known = _pairs(interactions, pl.col("split") == "valid", "t")
    return block.join(known, on=KEY, how="left").with_columns(truth=pl.col("t").fill_null(False)).drop("t")


def planted_relevance(candidates: pl.DataFrame, interactions: pl.DataFrame) -> np.ndarray:
    """For every candidate pair, in order, whether it is relevant by what was planted: a held-back edge, or a
    low-scored positive that was not injected. Pairs the plant says nothing of (high-scored negatives that were
    not held back) count as not relevant. Raises when the partition planted nothing."""
    if not has_planted_truth(interactions):
        raise ValueError("no planted truth: neither held-back (-hideNN) nor injected (-noiseNN) edges")
    hidden = _pairs(interactions, pl.col("split") == HIDDEN, "hidden")
    injected = _pairs(interactions, pl.col("is_injected"), "injected")
    table = (
        candidates.select(*KEY, "kind")
        .with_row_index("_row")
        .join(hidden, on=KEY, how="left")
        .join(injected, on=KEY, how="left")
        .sort("_row")
    )
    relevant = pl.when(pl.col("kind") == "neg_high").then(pl.col("hidden").fill_null(False))
    relevant = relevant.otherwise(pl.col("injected").is_null())
    return table.select(relevant.alias("r"))["r"].to_numpy().astype(bool)


def reach(candidates: pl.DataFrame, interactions: pl.DataFrame) -> dict[str, float | int]:
    """What a perfect judge of these candidates could fix at most: the share of the planted edges that are
    candidates of the kind that can act on them — injected edges among the low-scored positives (removable),
    held-back edges among the high-scored negatives (addable) — with the counts. Empty where nothing was
    planted."""
    out: dict[str, float | int] = {}
    for name, kind, condition in (
        ("injected", "pos_low", pl.col("is_injected")),
        ("hidden", "neg_high", pl.col("split") == HIDDEN),
    ):
        planted = _pairs(interactions, condition, "planted")
        if not planted.height:
            continue
        hits = candidates.filter(pl.col("kind") == kind).select(*KEY).unique().join(planted, on=KEY).height
        out[f"reach_{name}"] = round(hits / planted.height, 4)
        out[f"reach_{name}_candidates"] = hits
        out[f"reach_{name}_planted"] = planted.height
    return out
