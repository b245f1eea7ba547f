"""How right the judge is, measured without hand labels.

The questions with answers the data holds are in ``truth``: on semi-synthetic partitions the planted truth —
the train edges held back from G among the high-scored negatives (``hidden``, ``-hideNN``) and the injected edges
among the low-scored positives (``noise``, ``-noiseNN``) — and elsewhere the trial's probes (random pairs
planted as noise, asked beside the low-scored positives). For each: the AUC of the judge's margin, the
recommender's own AUC on the same pairs (the bar: a judge that does not beat it adds nothing), and the
precision of the label the rule acts on against the base rate. The test split is never read.

The score of a pair is the mean over the two perspectives of P(High) − P(Low) (a perspective not judged is
left out; a pair judged from neither is not counted).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from llmhni_pipeline.denoise.truth import PROBE_Q, Question, gate_questions, questions, with_truth


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


def _block(frame: pl.DataFrame, question: Question) -> dict[str, float]:
    """AUCs of the judge's margin and of the recommender's score for ``question``'s truth (relevant = belongs
    in G′), and the precision (and, for planted questions, recall) of the label the rule acts on."""
    judged = frame.filter(pl.col("margin").is_not_null())
    relevant = judged["truth"].to_numpy()
    name = question.name
    # the class a question is about: held-back or validation edges (relevant), injected edges (not relevant)
    special = ~relevant if name == "noise" else relevant
    out: dict[str, float] = {
        f"{name}_pairs_judged": judged.height,
        f"{name}_base_rate": round(float(special.mean()), 4) if judged.height else float("nan"),
        f"{name}_judge_auc": round(auc(judged["margin"].to_numpy(), relevant), 4),
        # probes were not picked by the recommender: it has no score of them to rank
        f"{name}_recommender_auc": float("nan")
        if question is PROBE_Q
        else round(auc(judged["model_score"].to_numpy(), relevant), 4),
    }
    label = "noisy" if name == "noise" else "hard"
    flagged = judged["label"].to_numpy() == label
    out[f"{name}_{label}_labels"] = int(flagged.sum())
    out[f"{name}_{label}_precision"] = (
        round(float(special[flagged].mean()), 4) if flagged.any() else float("nan")
    )
    if question.planted:
        hits, positives = int((special & flagged).sum()), int(special.sum())
        out[f"{name}_{label}_recall"] = round(hits / positives, 4) if positives else float("nan")
    return out


def judge_quality(scores: pl.DataFrame, interactions: pl.DataFrame) -> dict[str, float]:
    """Every question the partition can answer (``truth.questions``) for one ``llm_logical_scores`` table (with
    the trial's judged probes, if any, appended), and ``judge_auc``: the mean judge AUC over the questions a
    judge's worth is measured on (``truth.gate_questions``), the x-axis of the judge-worth curve."""
    table = scores.with_columns(margin=pair_margin(scores))
    out: dict[str, float] = {}
    for question in questions(interactions, scores):
        block = with_truth(table, interactions, question)
        if block.height:
            out |= _block(block, question)
    gate = [out.get(f"{q.name}_judge_auc", float("nan")) for q in gate_questions(interactions, scores)]
    gate = [v for v in gate if not np.isnan(v)]
    if gate:
        out["judge_auc"] = round(float(np.mean(gate)), 4)
    return out
