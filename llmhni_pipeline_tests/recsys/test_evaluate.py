"""Evaluator against hand-computed rankings."""

import math

import numpy as np
import pytest
import torch

from llmhni_pipeline.recsys.data import UserItemSets
from llmhni_pipeline.recsys.evaluate import evaluate_ranking, top_k_items


def _sets(pairs, n_users, n_items):
    users = np.array([u for u, _ in pairs], dtype=np.int64)
    items = np.array([i for _, i in pairs], dtype=np.int64)
    return UserItemSets.from_pairs(users, items, n_users, n_items)


def _fixed(scores):
    table = torch.tensor(scores, dtype=torch.float32)
    return lambda users: table[users].clone()


def test_hand_computed_user_with_mask():
    # user 0 ranks items 0..5 by score; item 1 (train) is masked, so the ranking is 0, 2, 3, 4, 5
    scores = [[0.9, 0.95, 0.8, 0.7, 0.6, 0.5]]
    truth = _sets([(0, 2), (0, 5)], 1, 6)
    mask = _sets([(0, 1)], 1, 6)
    m = evaluate_ranking(_fixed(scores), truth, mask, ks=(1, 2, 5))
    assert m["recall@1"] == 0.0 and m["precision@1"] == 0.0 and m["hit@1"] == 0.0
    assert m["recall@2"] == 0.5 and m["precision@2"] == 0.5 and m["hit@2"] == 1.0
    assert m["recall@5"] == 1.0 and m["precision@5"] == pytest.approx(2 / 5)
    idcg2 = 1 + 1 / math.log2(3)
    assert m["ndcg@2"] == pytest.approx((1 / math.log2(3)) / idcg2)
    assert m["ndcg@5"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / idcg2)


def test_users_without_truth_are_skipped_and_averaging_is_per_user():
    scores = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
    truth = _sets([(0, 0), (2, 1)], 3, 3)  # user 1 has no test item
    m = evaluate_ranking(_fixed(scores), truth, None, ks=(1,))
    assert m["users"] == 2
    assert m["recall@1"] == 0.5  # user 0 hit, user 2 missed


def test_ties_rank_lower_item_id_first():
    scores = [[0.5, 0.5, 0.5, 0.5]]
    assert top_k_items(torch.tensor(scores), 2).tolist() == [[0, 1]]
    truth = _sets([(0, 3)], 1, 4)
    m = evaluate_ranking(_fixed(scores), truth, None, ks=(3, 4))
    assert m["recall@3"] == 0.0 and m["recall@4"] == 1.0
    assert m["ndcg@4"] == pytest.approx(1 / math.log2(5))


def test_k_larger_than_candidates():
    scores = [[0.1, 0.2, 0.3]]
    truth = _sets([(0, 0)], 1, 3)
    mask = _sets([(0, 1)], 1, 3)
    m = evaluate_ranking(_fixed(scores), truth, mask, ks=(20, 50))
    assert m["recall@50"] == 1.0
    assert m["precision@20"] == pytest.approx(1 / 20)
    assert m["ndcg@20"] == pytest.approx(1 / math.log2(3))  # ranks: 2 (0.3), then 0 (0.1)


def test_batching_does_not_change_the_result():
    rng = np.random.default_rng(0)
    scores = rng.random((50, 30)).tolist()
    pairs = [(u, int(i)) for u in range(50) for i in rng.choice(30, 3, replace=False)]
    truth = _sets(pairs[::2], 50, 30)
    mask = _sets(pairs[1::2], 50, 30)
    full = evaluate_ranking(_fixed(scores), truth, mask, ks=(5, 10), batch_users=50)
    small = evaluate_ranking(_fixed(scores), truth, mask, ks=(5, 10), batch_users=7)
    assert full == pytest.approx(small)


def test_no_truth_at_all_is_an_error_not_a_zero():
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_ranking(_fixed([[1.0, 0.0]]), _sets([], 1, 2), None, ks=(1,))


def test_ease_is_refused_before_allocating_above_the_dense_bound(monkeypatch):
    import time

    import pytest

    from llmhni_pipeline.recsys.baselines import DenseMatrixRefused, check_dense, ease_weights
    from llmhni_pipeline.recsys.graph import InteractionGraph

    n_items = 600  # EASE holds 3 dense 600 × 600 float64 matrices: 8.2 MiB
    graph = InteractionGraph(torch.arange(600) % 50, torch.arange(600), 50, n_items)
    monkeypatch.setenv("LLMHNI_MAX_DENSE_GB", "0.009")  # 9.2 MiB: fits
    assert ease_weights(graph).shape == (n_items, n_items)
    monkeypatch.setenv("LLMHNI_MAX_DENSE_GB", "0.007")
    with pytest.raises(
        DenseMatrixRefused, match=r"EASE on 600 items needs 3 dense 600 × 600 matrices .*LLMHNI_MAX_DENSE_GB"
    ):
        ease_weights(graph)
    monkeypatch.setenv("LLMHNI_MAX_DENSE_GB", "8")
    started = time.perf_counter()  # 100,000 items: 240 GB, refused at once, nothing allocated
    with pytest.raises(
        DenseMatrixRefused, match=r"100,000 × 100,000 .*\(223\.5 GiB\), over the bound of 8\.0 GiB"
    ):
        check_dense(100_000, 100_000, "EASE on 100,000 items", copies=3)
    assert time.perf_counter() - started < 0.1
    monkeypatch.setenv("LLMHNI_MAX_DENSE_GB", "lots")
    with pytest.raises(ValueError, match="LLMHNI_MAX_DENSE_GB must be a positive number"):
        check_dense(2, 2, "x")
