import numpy as np
import pytest
import torch

from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.losses import bpr_loss, embedding_l2, info_nce
from llmhni_pipeline.recsys.models import build_backbone
from llmhni_pipeline.recsys.sampling import UniformNegativeSampler


def _graph():
    # users 0,1,2; items 0,1,2,3; user 2 has one edge; item 3 none (degree-0 node)
    users = torch.tensor([0, 0, 1, 1, 2])
    items = torch.tensor([0, 1, 1, 2, 2])
    return InteractionGraph(users, items, 3, 4)


def test_symmetric_normalisation_matches_the_formula():
    g = _graph()
    adj = g.norm_adj().to_dense()
    a = torch.zeros(7, 7)
    for u, i in zip(g.users.tolist(), g.items.tolist(), strict=True):
        a[u, 3 + i] = a[3 + i, u] = 1
    d = a.sum(1)
    inv = torch.where(d > 0, d.pow(-0.5), torch.zeros_like(d))
    assert torch.allclose(adj, inv[:, None] * a * inv[None, :])
    assert torch.equal(adj, adj.T)
    assert adj[6].abs().sum() == 0  # isolated item: zero row


def test_edge_dropout_is_seeded_and_renormalises():
    g = InteractionGraph(torch.arange(1000) // 20, torch.arange(1000) % 70, 50, 70)  # unique pairs
    a = g.dropped(0.3, torch.Generator().manual_seed(1))
    b = g.dropped(0.3, torch.Generator().manual_seed(1))
    assert torch.equal(a.users, b.users) and 600 < a.n_edges < 800
    row_sums_deg = a.norm_adj().to_dense()[: a.n_users].count_nonzero(1)
    assert torch.equal(row_sums_deg, a.user_degree())


def test_lightgcn_is_the_layer_mean_of_propagations():
    g = _graph()
    model = build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)
    adj = g.norm_adj()
    dense = adj.to_dense()
    e0 = model.ego()
    expected = (e0 + dense @ e0 + dense @ dense @ e0) / 3
    z_u, z_i = model.embed(adj)
    assert torch.allclose(torch.cat([z_u, z_i]), expected, atol=1e-6)
    # gradients flow through the custom sparse product exactly like through the dense one
    (z_u.sum() + z_i.pow(2).sum()).backward()
    grad_sparse = model.user_embedding.weight.grad.clone()
    model.zero_grad()
    e0 = model.ego()
    z = (e0 + dense @ e0 + dense @ dense @ e0) / 3
    (z[:3].sum() + z[3:].pow(2).sum()).backward()
    assert torch.allclose(grad_sparse, model.user_embedding.weight.grad, atol=1e-6)


@pytest.mark.parametrize("name, width", [("ngcf", 8 * 3), ("mf", 8)])
def test_other_backbones_share_the_interface(name, width):
    model = build_backbone(name, 3, 4, dim=8, n_layers=2)
    z_u, z_i = model.embed(_graph().norm_adj())
    assert z_u.shape == (3, width) and z_i.shape == (4, width)


def test_ngcf_layers_are_unit_norm():
    model = build_backbone("ngcf", 3, 4, dim=8, n_layers=2).eval()
    z = model.encode(_graph().norm_adj())
    assert torch.allclose(z[:, 8:16].norm(dim=1), torch.ones(7), atol=1e-5)


def test_uniform_sampler_never_returns_a_positive():
    rng = np.random.default_rng(0)
    users = torch.from_numpy(rng.integers(0, 20, 400))
    items = torch.from_numpy(rng.integers(0, 30, 400))
    g = InteractionGraph(users, items, 20, 30)
    sampler = UniformNegativeSampler(g)
    neg = sampler.sample(users.repeat(20), torch.Generator().manual_seed(0))
    positives = set(zip(users.tolist(), items.tolist(), strict=True))
    assert not any((u, j) in positives for u, j in zip(users.repeat(20).tolist(), neg.tolist(), strict=True))


def test_uniform_sampler_finds_the_few_items_a_near_complete_user_lacks():
    """A small catalogue where users have interacted with all but one or two items: rejection alone would give
    up; the exact draw from each user's complement returns exactly those items, uniformly."""
    n_items = 200
    lacks = {0: [7], 1: [0, 199], 2: [100], 3: list(range(150))}  # user 3: an ordinary user
    users, items = zip(
        *((u, i) for u, miss in lacks.items() for i in range(n_items) if i not in miss), strict=True
    )
    g = InteractionGraph(torch.tensor(users), torch.tensor(items), 5, n_items)
    sampler = UniformNegativeSampler(g)
    batch = torch.tensor([0, 1, 2, 3]).repeat(500)
    neg = sampler.sample(batch, torch.Generator().manual_seed(0))
    for u, miss in lacks.items():
        drawn = neg[batch == u]
        assert set(drawn.tolist()) <= set(miss)
    assert 0.4 < (neg[batch == 1] == 0).float().mean() < 0.6  # both of user 1's items, about equally
    rng = torch.Generator().manual_seed(1)  # the exact draw itself, over every rank of every user
    for u, miss in lacks.items():
        ranks = torch.arange(len(miss))
        assert sampler.positives.nth_negative(torch.full_like(ranks, u), ranks).tolist() == miss
    full = InteractionGraph(torch.zeros(n_items, dtype=torch.long), torch.arange(n_items), 1, n_items)
    with pytest.raises(
        RuntimeError, match=r"1 users have interacted with every item in training \(user indices \[0\]"
    ):
        UniformNegativeSampler(full).sample(torch.zeros(3, dtype=torch.long), rng)


def test_losses_against_direct_formulas():
    pos, neg = torch.tensor([2.0, 0.5]), torch.tensor([1.0, 1.5])
    assert bpr_loss(pos, neg) == pytest.approx(float(-torch.log(torch.sigmoid(pos - neg)).mean()))
    a, b = torch.randn(4, 3), torch.randn(4, 3)
    assert embedding_l2(a, b) == pytest.approx(float((a.pow(2).sum() + b.pow(2).sum()) / 8))
    x, y = torch.randn(5, 6), torch.randn(5, 6)
    cos = torch.nn.functional.cosine_similarity(x[:, None], y[None], dim=2) / 0.2
    direct = -(cos.diag() - torch.logsumexp(cos, dim=1)).mean()
    assert info_nce(x, y, 0.2) == pytest.approx(float(direct), rel=1e-5)
