"""How right the judge is, measured without hand labels (issue 11).

Two questions with answers the data already holds:

- **Hard samples.** Among the high-scored negatives (``kind == "neg_high"``), the items that are held-out
  **validation** positives of that user are true hard samples. How well does the judge's P(High) pick them —
  AUC, and the precision of the "hard" label against the base rate? The recommender's own score on the same
  pairs is the bar: a judge that does not beat it adds nothing. (Validation only: the test split chooses
  nothing.)
- **Noise.** On noise-injected partitions, among the low-scored positives (``kind == "pos_low"``) the injected
  edges are true noise. How well does the judge's P(Low) pick them — AUC, precision and recall of the "noisy"
  label against the base rate?

The score of a pair is the mean over the two perspectives of P(High) − P(Low) (a perspective not judged is
left out; a pair judged from neither is not counted).
"""

from __future__ import annotations

import numpy as np
import polars as pl


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Area under the ROC curve (Mann–Whitney, ties counted half); NaN when one class is absent."""
    scores, labels = np.asarray(scores, dtype=float), np.asarray(labels, dtype=bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def pair_margin(scores: pl.DataFrame) -> pl.Expr:
    """Mean over the judged perspectives of P(High) − P(Low)."""
    user = pl.col("user_p_high") - pl.col("user_p_low")
    item = pl.col("item_p_high") - pl.col("item_p_low")
    return pl.mean_horizontal(user.fill_nan(None), item.fill_nan(None))


def _block(frame: pl.DataFrame, truth: str, label: str, score_sign: float, prefix: str) -> dict[str, float]:
    judged = frame.filter(pl.col("margin").is_not_null())
    y = judged[truth].to_numpy()
    out: dict[str, float] = {
        f"{prefix}_pairs_judged": judged.height,
        f"{prefix}_base_rate": round(float(y.mean()), 4) if judged.height else float("nan"),
        f"{prefix}_judge_auc": round(auc(score_sign * judged["margin"].to_numpy(), y), 4),
        f"{prefix}_recommender_auc": round(auc(score_sign * judged["model_score"].to_numpy(), y), 4),
    }
    flagged = judged.filter(pl.col("label") == label)
    out[f"{prefix}_{label}_labels"] = flagged.height
    out[f"{prefix}_{label}_precision"] = (
        round(float(flagged[truth].mean()), 4) if flagged.height else float("nan")
    )
    if truth == "is_injected":
        positives = int(y.sum())
        out[f"{prefix}_{label}_recall"] = (
            round(flagged[truth].sum() / positives, 4) if positives else float("nan")
        )
    return out


def judge_quality(scores: pl.DataFrame, interactions: pl.DataFrame) -> dict[str, float]:
    """Both measures for one partition's ``llm_logical_scores`` table and its ``raw_interactions``.

    For hard samples, a higher margin should mean "validation positive" (and so should a higher recommender
    score); for noise, a lower margin should mean "injected" (and so should a lower recommender score).
    """
    table = scores.with_columns(margin=pair_margin(scores))
    valid = interactions.filter(pl.col("split") == "valid").select(
        "user_id", "item_id", pl.lit(True).alias("in_valid")
    )
    out: dict[str, float] = {}
    negatives = (
        table.filter(pl.col("kind") == "neg_high")
        .join(valid, on=["user_id", "item_id"], how="left")
        .with_columns(pl.col("in_valid").fill_null(False))
    )
    if negatives.height:
        out |= _block(negatives, "in_valid", "hard", 1.0, "hard")
    if interactions["is_injected"].any():
        injected = interactions.filter(pl.col("is_injected")).select(
            "user_id", "item_id", pl.lit(True).alias("injected")
        )
        positives = (
            table.filter(pl.col("kind") == "pos_low")
            .join(injected, on=["user_id", "item_id"], how="left")
            .with_columns(is_injected=pl.col("injected").fill_null(False))
        )
        if positives.height:
            out |= _block(positives, "is_injected", "noisy", -1.0, "noise")
    return out
