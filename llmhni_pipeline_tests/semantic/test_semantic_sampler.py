import pytest
import torch

from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.semantic.sampler import SemanticHardNegativeSampler


def _setup():
    # 2 users, 10 items; user 0 interacted with items 0-2, user 1 with items 5-6
    graph = InteractionGraph(torch.tensor([0, 0, 0, 1, 1]), torch.tensor([0, 1, 2, 5, 6]), 2, 10)
    user_emb = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    item_emb = torch.stack([torch.tensor([10.0 - i, float(i)]) for i in range(10)])  # user 0 likes low ids
    # semantic vectors: items 3 and 4 are semantically close to user 0 (probable false negatives)
    user_sem = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    item_sem = torch.tensor([[0.0, 1.0]] * 10)
    item_sem[3] = item_sem[4] = torch.tensor([1.0, 0.0])
    return graph, user_emb, item_emb, user_sem, item_sem


def test_pool_excludes_positives_and_semantic_mode_skips_probable_false_negatives():
    graph, user_emb, item_emb, user_sem, item_sem = _setup()
    s = SemanticHardNegativeSampler(graph, user_sem, item_sem, pool_size=4, k_low=2, warmup_epochs=0)
    s.refresh(user_emb, item_emb, epoch=1)
    # user 0's pool = top-4 non-positives by score = items 3, 4, 5, 6; the 2 least similar are 5 and 6
    assert sorted(s.candidates[0].tolist()) == [5, 6]
    assert not set(s.candidates[1].tolist()) & {5, 6}
    negatives = s.sample(torch.zeros(200, dtype=torch.long), torch.Generator().manual_seed(0))
    assert set(negatives.tolist()) == {5, 6}


def test_dns_ablation_takes_the_top_scored_and_warmup_is_uniform():
    graph, user_emb, item_emb, user_sem, item_sem = _setup()
    dns = SemanticHardNegativeSampler(graph, None, None, pool_size=4, k_low=2, warmup_epochs=0, mode="dns")
    dns.refresh(user_emb, item_emb, epoch=1)
    assert sorted(dns.candidates[0].tolist()) == [3, 4]  # highest-scored non-positives, semantics ignored
    warm = SemanticHardNegativeSampler(graph, user_sem, item_sem, pool_size=4, k_low=2, warmup_epochs=3)
    warm.refresh(user_emb, item_emb, epoch=2)
    assert warm.candidates is None
    negatives = warm.sample(torch.zeros(500, dtype=torch.long), torch.Generator().manual_seed(0))
    assert set(negatives.tolist()) == set(range(3, 10))  # uniform over user 0's non-positives


def test_hard_share_mixes_hard_and_uniform_negatives():
    graph, user_emb, item_emb, user_sem, item_sem = _setup()
    users = torch.zeros(4000, dtype=torch.long)
    shares = {}
    for share in (0.0, 0.25, 1.0):
        s = SemanticHardNegativeSampler(
            graph, user_sem, item_sem, pool_size=4, k_low=2, warmup_epochs=0, hard_share=share
        )
        s.refresh(user_emb, item_emb, epoch=1)
        negatives = s.sample(users, torch.Generator().manual_seed(0))
        assert not set(negatives.tolist()) & {0, 1, 2}  # never a positive
        shares[share] = torch.isin(negatives, torch.tensor([5, 6])).float().mean().item()
    # items 5, 6 are the hard pair; uniform over user 0's 7 non-positives draws them 2/7 of the time
    assert shares[1.0] == 1.0
    assert abs(shares[0.0] - 2 / 7) < 0.03
    assert abs(shares[0.25] - (0.25 + 0.75 * 2 / 7)) < 0.03
    with pytest.raises(ValueError, match="hard_share must be in"):
        SemanticHardNegativeSampler(graph, user_sem, item_sem, hard_share=1.5)


def test_semantic_mode_needs_vectors():
    graph, *_ = _setup()
    with pytest.raises(ValueError, match="needs user and item semantic vectors"):
        SemanticHardNegativeSampler(graph, None, None)


def test_sampler_factory_gives_each_ablation_arm_and_names_missing_vectors():
    import pytest
    import torch

    from llmhni_pipeline.recsys.graph import InteractionGraph
    from llmhni_pipeline.semantic.sampler import build_negative_sampler

    graph = InteractionGraph(torch.tensor([0, 1]), torch.tensor([0, 1]), 2, 4)
    vectors = (torch.randn(2, 3), torch.randn(4, 3))
    names = {
        k: build_negative_sampler(k, graph, vectors, vectors).name
        for k in ("uniform", "dns", "semantic", "raw")
    }
    assert names == {"uniform": "uniform", "dns": "dns", "semantic": "semantic", "raw": "raw"}
    # a share of 0 never draws a hard negative: plain uniform, with no pool to refresh
    assert build_negative_sampler("semantic", graph, vectors, hard_share=0.0).name == "uniform"
    with pytest.raises(ValueError, match="needs raw \\(llm_embeddings\\)"):
        build_negative_sampler("raw", graph, vectors, None)
    with pytest.raises(ValueError, match="one of uniform, dns, semantic, raw"):
        build_negative_sampler("hardest", graph)


def test_a_pool_larger_than_a_users_non_positives_shrinks_and_never_holds_a_positive():
    graph, user_emb, item_emb, user_sem, item_sem = _setup()  # 10 items; user 0 has 3 positives: room for 7
    s = SemanticHardNegativeSampler(graph, user_sem, item_sem, pool_size=200, k_low=100, warmup_epochs=0)
    assert (s.pool_size, s.k_low) == (7, 7)
    s.refresh(user_emb, item_emb, epoch=1)
    negatives = s.sample(torch.zeros(500, dtype=torch.long), torch.Generator().manual_seed(0))
    assert set(negatives.tolist()) == set(range(3, 10))
