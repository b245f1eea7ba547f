import math

import numpy as np
import polars as pl
import pytest

from llmhni_pipeline.denoise.judge_quality import auc, judge_quality


def test_auc_against_the_pairwise_definition():
    rng = np.random.default_rng(0)
    scores, labels = rng.integers(0, 5, 40).astype(float), rng.random(40) < 0.3
    pos, neg = scores[labels], scores[~labels]
    direct = np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg])
    assert auc(scores, labels) == pytest.approx(direct)
    assert auc([1, 2, 3], [False, False, True]) == 1.0 and auc([3, 2, 1], [False, False, True]) == 0.0
    assert math.isnan(auc([1, 2], [True, True]))


def _row(user, item, kind, score, user_margin, item_margin, label):
    return {
        "user_id": user,
        "item_id": item,
        "kind": kind,
        "model_score": score,
        "user_p_high": (1 + user_margin) / 2,
        "user_p_low": (1 - user_margin) / 2,
        "item_p_high": (1 + item_margin) / 2,
        "item_p_low": (1 - item_margin) / 2,
        "label": label,
    }


def test_hand_made_case_base_rates_precision_recall_and_both_aucs():
    scores = pl.DataFrame(
        [
            # high-scored negatives of user 0: items 5 and 6 are held-back train edges (known false negatives)
            _row(0, 5, "neg_high", 0.9, 0.8, 0.6, "hard"),
            _row(0, 6, "neg_high", 0.1, 0.4, 0.2, "noisy"),
            _row(0, 7, "neg_high", 0.5, -0.6, -0.2, "noisy"),
            _row(0, 8, "neg_high", 0.3, 0.9, 0.9, "hard"),
            # low-scored positives: item 1 injected
            _row(0, 1, "pos_low", 0.2, -0.9, -0.7, "noisy"),
            _row(0, 2, "pos_low", 0.1, 0.5, 0.1, "hard"),
            _row(0, 3, "pos_low", 0.3, -0.5, -0.5, "noisy"),
            _row(0, 4, "pos_low", 0.4, float("nan"), float("nan"), "unjudged"),
        ]
    )
    interactions = pl.DataFrame(
        {
            "user_id": [0] * 6,
            "item_id": [1, 2, 3, 4, 5, 6],
            "split": ["train", "train", "train", "train", "hidden", "hidden"],
            "is_injected": [True, False, False, False, False, False],
        }
    )
    q = judge_quality(scores, interactions)
    assert q["hidden_pairs_judged"] == 4 and q["hidden_base_rate"] == 0.5
    # margins 0.7, 0.3, -0.4, 0.9 for labels T, T, F, F: pairs (T>F): 0.7>-0.4, 0.3>-0.4 → 2 of 4
    assert q["hidden_judge_auc"] == 0.5
    assert q["hidden_recommender_auc"] == 0.5  # scores 0.9, 0.1 vs 0.5, 0.3
    assert (
        q["hidden_hard_labels"] == 2 and q["hidden_hard_precision"] == 0.5 and q["hidden_hard_recall"] == 0.5
    )
    assert q["judge_auc"] == 0.5  # a -hide partition's worth: the held-back question alone (its curve's)
    assert q["noise_pairs_judged"] == 3 and q["noise_base_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert q["noise_judge_auc"] == 1.0  # the injected edge has the lowest margin
    assert (
        q["noise_noisy_labels"] == 2 and q["noise_noisy_precision"] == 0.5 and q["noise_noisy_recall"] == 1.0
    )
    clean = interactions.with_columns(is_injected=False, split=pl.lit("train"))
    assert judge_quality(scores, clean) == {}  # nothing planted, no probes: nothing to measure on
    # the trial's probes (random pairs planted as noise) give a clean partition its noise question
    probes = pl.DataFrame(
        [
            _row(0, 9, "probe", float("nan"), -0.2, -0.9, "noisy"),
            _row(0, 10, "probe", float("nan"), 0.6, 0.7, "hard"),
        ]
    )
    q = judge_quality(pl.concat([scores, probes]), clean)
    # real pos_low margins -0.8, 0.3, -0.5 against the probes' -0.55 and 0.65: 2 of 6 pairs ordered right
    assert q["noise_pairs_judged"] == 5 and q["noise_judge_auc"] == 0.3333 and q["judge_auc"] == 0.3333
    assert math.isnan(q["noise_recommender_auc"])  # the recommender did not pick the probes: no score
