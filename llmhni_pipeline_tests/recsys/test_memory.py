"""The block bound: ranking's users × items blocks shrink over a large catalogue, and nothing they compute changes."""

import numpy as np
import pytest
import torch

from llmhni_pipeline.denoise.candidates import select_candidates
from llmhni_pipeline.recsys.data import UserItemSets
from llmhni_pipeline.recsys.evaluate import embedding_scorer, evaluate_per_user
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.memory import users_per_block
from llmhni_pipeline.semantic.sampler import SemanticHardNegativeSampler

TINY = "1e-9"  # 1e-9 GiB is about one byte: one user per block for any catalogue


def test_users_per_block_keeps_the_batch_under_the_bound_and_names_a_bad_setting(monkeypatch):
    monkeypatch.delenv("LLMHNI_BLOCK_GB", raising=False)
    assert users_per_block(9_332, 4096, 10) == 4096  # amazon-book: 0.38 GB, under the default 1 GiB
    assert users_per_block(464_684, 4096, 10) == 231  # 10⁷ interactions: 2**30 // 4,646,840
    monkeypatch.setenv("LLMHNI_BLOCK_GB", "0.001")
    assert users_per_block(1_000, 4096, 10) == int(0.001 * 2**30) // 10_000  # 107 users of 10,000 bytes each
    monkeypatch.setenv("LLMHNI_BLOCK_GB", "1e-12")
    assert users_per_block(1_000, 4096, 10) == 1  # never fewer than one user
    monkeypatch.setenv("LLMHNI_BLOCK_GB", "lots")
    with pytest.raises(ValueError, match="LLMHNI_BLOCK_GB must be a positive number of GiB, not 'lots'"):
        users_per_block(1_000, 4096, 10)


def _problem(seed=0, n_users=40, n_items=30):
    rng = np.random.default_rng(seed)
    pairs = rng.integers(0, [n_users, n_items], size=(400, 2))
    pairs = np.unique(pairs, axis=0)
    train, test = pairs[::2], pairs[1::2]
    sets = [UserItemSets.from_pairs(p[:, 0], p[:, 1], n_users, n_items) for p in (train, test)]
    emb = torch.from_numpy(rng.normal(size=(n_users + n_items, 8)).astype(np.float32))
    return sets[0], sets[1], emb[:n_users], emb[n_users:]


def test_evaluation_candidates_and_the_semantic_pool_are_the_same_in_one_user_blocks(monkeypatch):
    train, test, users, items = _problem()
    graph = InteractionGraph(
        torch.from_numpy(np.repeat(np.arange(40), train.counts().numpy())), train.indices, 40, 30
    )

    def run():
        metrics = evaluate_per_user(embedding_scorer(users, items), test, train, ks=(5, 10))
        pairs = select_candidates(users, items, train, k_pos=2, k_neg=2, m_evidence=3)
        sampler = SemanticHardNegativeSampler(graph, users, items, pool_size=6, k_low=3, warmup_epochs=0)
        sampler.refresh(users, items, epoch=1)
        return metrics, pairs, sampler.candidates

    monkeypatch.delenv("LLMHNI_BLOCK_GB", raising=False)
    metrics, pairs, pools = run()
    monkeypatch.setenv("LLMHNI_BLOCK_GB", TINY)
    assert users_per_block(30, 4096, 10) == 1
    small_metrics, small_pairs, small_pools = run()
    assert metrics.keys() == small_metrics.keys()
    for name in metrics:
        assert torch.equal(metrics[name], small_metrics[name]), name
    # the same pairs and evidence; a score may differ in its last bits (a one-row product takes another BLAS path)
    assert pairs.drop("model_score").equals(small_pairs.drop("model_score")) and pairs.height > 0
    assert np.allclose(pairs["model_score"].to_numpy(), small_pairs["model_score"].to_numpy(), atol=1e-5)
    assert torch.equal(pools, small_pools)
