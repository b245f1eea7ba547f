from types import SimpleNamespace

import pytest
import torch

from llmhni_pipeline.methods import MethodUnavailable
from llmhni_pipeline.methods.base import BuildContext, MethodInputs
from llmhni_pipeline.methods.llmhni import RECIPES, LLMHNIObjective, LLMHNIParams, build
from llmhni_pipeline.methods.xsimgcl import XSimGCLObjective, XSimGCLParams
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.losses import info_nce
from llmhni_pipeline.recsys.models import build_backbone


def _graphs():
    g = InteractionGraph(torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 3]), 3, 4)
    g_aug = InteractionGraph(
        torch.tensor([0, 1, 2, 2, 1]), torch.tensor([0, 1, 2, 3, 3]), 3, 4
    )  # -(0,1) +(1,3)
    return g, g_aug


def _lightgcn(adj, e0, layers=2):
    z, e = e0, e0
    for _ in range(layers):
        e = adj @ e
        z = z + e
    return z / (layers + 1)


def test_joint_loss_matches_the_formula_term_by_term():
    torch.manual_seed(0)
    g, g_aug = _graphs()
    model = build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)
    w = LLMHNIParams(lambda_de=0.3, lambda_hal=0.2, temperature=0.5, edge_dropout=0.4)
    obj = LLMHNIObjective(model, g, g_aug, 0.01, torch.device("cpu"), w)
    obj.start_epoch(1, torch.Generator().manual_seed(3))
    users, pos, neg = torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 2, 3]), torch.tensor([3, 0, 0, 1])
    total, parts = obj.loss(users, pos, neg)

    e0 = model.ego().detach()
    z, z_aug = _lightgcn(g.norm_adj().to_dense(), e0), _lightgcn(g_aug.norm_adj().to_dense(), e0)
    z_drop, z_aug_drop = _lightgcn(obj.adj_drop.to_dense(), e0), _lightgcn(obj.adj_aug_drop.to_dense(), e0)
    u, i, j = z_aug[users], z_aug[3 + pos], z_aug[3 + neg]
    bpr = -torch.log(torch.sigmoid((u * i).sum(1) - (u * j).sum(1))).mean()
    reg = 0.01 * (e0[users].pow(2).sum() + e0[3 + pos].pow(2).sum() + e0[3 + neg].pow(2).sum()) / (2 * 4)
    uu, ii = torch.unique(users), torch.unique(pos) + 3
    de = info_nce(z[uu], z_aug[uu], 0.5) + info_nce(z[ii], z_aug[ii], 0.5)
    hal = info_nce(z_drop[uu], z_aug_drop[uu], 0.5) + info_nce(z_drop[ii], z_aug_drop[ii], 0.5)
    assert abs(parts["bpr"] - float(bpr)) < 1e-5
    assert abs(parts["reg"] - float(reg)) < 1e-6
    assert abs(parts["l_de"] - float(de)) < 1e-5 and abs(parts["l_hal"] - float(hal)) < 1e-5
    assert abs(float(total) - float(bpr + reg + 0.3 * de + 0.2 * hal)) < 1e-5


def test_switched_off_terms_are_absent_and_inference_uses_the_augmented_graph():
    g, g_aug = _graphs()
    model = build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)
    obj = LLMHNIObjective(
        model, g, g_aug, 1e-5, torch.device("cpu"), LLMHNIParams(lambda_de=0.0, lambda_hal=0.0)
    )
    obj.start_epoch(1, torch.Generator().manual_seed(0))
    _, parts = obj.loss(torch.tensor([0]), torch.tensor([0]), torch.tensor([3]))
    assert set(parts) == {"bpr", "reg"} and obj.adj_drop is None
    z_u, z_i = obj.embeddings()
    expected = _lightgcn(g_aug.norm_adj().to_dense(), model.ego().detach())
    assert torch.allclose(torch.cat([z_u, z_i]).detach(), expected, atol=1e-6)


def test_the_cross_graph_term_is_left_out_when_g_prime_equals_g():
    g, g_aug = _graphs()
    shuffled = InteractionGraph(g.users.flip(0), g.items.flip(0), 3, 4)  # the same edges in another order
    assert g.same_edges(shuffled) and not g.same_edges(g_aug)
    model = build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)
    params = LLMHNIParams(lambda_de=0.3, lambda_hal=0.0)
    same = LLMHNIObjective(model, g, shuffled, 1e-5, torch.device("cpu"), params)
    edited = LLMHNIObjective(model, g, g_aug, 1e-5, torch.device("cpu"), params)
    batch = torch.tensor([0]), torch.tensor([0]), torch.tensor([3])
    assert "l_de" not in same.loss(*batch)[1] and "l_de" in edited.loss(*batch)[1]


def test_layer_noise_view_with_g_prime_equal_to_g_is_xsimgcl():
    g, _ = _graphs()
    model = build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)
    params = LLMHNIParams(**{**RECIPES["recipe_xsim"], "lambda_hal": 0.3, "temperature": 0.5, "eps": 0.1})
    ours = LLMHNIObjective(model, g, g, 0.01, torch.device("cpu"), params)
    ref = XSimGCLObjective(
        model, g, 0.01, torch.device("cpu"), XSimGCLParams(cl_weight=0.3, eps=0.1, temperature=0.5)
    )
    batch = torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 2, 3]), torch.tensor([3, 0, 0, 1])
    ours.start_epoch(1, torch.Generator().manual_seed(0))
    torch.manual_seed(5)
    total, parts = ours.loss(*batch)
    torch.manual_seed(5)
    ref_total, ref_parts = ref.loss(*batch)
    assert abs(float(total) - float(ref_total)) < 1e-6 and parts["l_hal"] > 0
    assert abs(float(parts["l_hal"]) - float(ref_parts["cl"])) < 1e-6
    for a, b in zip(ours.embeddings(), ref.embeddings(), strict=True):
        assert torch.allclose(a, b)
    # and the view differs from the paper's encoder: layer 0 is left out of the ranking representation
    assert not torch.allclose(ours.embeddings()[0], model.embed(g.norm_adj())[0])


def test_layer_noise_view_needs_lightgcn():
    with pytest.raises(ValueError, match="hal_view"):
        LLMHNIParams(hal_view="dropout")
    g, _ = _graphs()
    data = SimpleNamespace(train=g)  # build reads only the training graph before the check
    ngcf = build_backbone("ngcf", 3, 4, dim=8, n_layers=2)
    params = LLMHNIParams(hal_view="layer_noise", sampler="uniform", use_augmented_graph=False)
    ctx = BuildContext(ngcf, MethodInputs(data), params, 1e-5, torch.device("cpu"), False)
    with pytest.raises(MethodUnavailable, match="LightGCN"):
        build(ctx)
    # a contrastive layer the backbone does not have is a setting's error, never "skipped: unavailable"
    lightgcn = build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)
    bad = LLMHNIParams(hal_view="layer_noise", sampler="uniform", use_augmented_graph=False, cl_layer=3)
    with pytest.raises(ValueError, match="cl_layer must be in 1..2") as raised:
        build(BuildContext(lightgcn, MethodInputs(data), bad, 1e-5, torch.device("cpu"), False))
    assert not isinstance(raised.value, MethodUnavailable)


def test_semantic_pruning_needs_projected_vectors_and_shrinks_g_prime():
    from llmhni_pipeline.methods.llmhni import needs

    assert needs(LLMHNIParams(sampler="uniform", use_augmented_graph=False)) == ()
    assert needs(LLMHNIParams(sampler="semantic", use_augmented_graph=False, semantic_prune=0.2)) == (
        "projected",
    )
    g, _ = _graphs()
    projected = (torch.eye(3, 2), torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]]))
    params = LLMHNIParams(sampler="uniform", use_augmented_graph=False, semantic_prune=0.2, lambda_hal=0.0)
    model = build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)
    plan = build(
        BuildContext(
            model,
            MethodInputs(SimpleNamespace(train=g), projected=projected),
            params,
            1e-5,
            torch.device("cpu"),
            False,
        )
    )
    assert plan.positives.n_edges == 4 and plan.objective.original is g  # one of five edges gone from G′ only


def test_guarded_truncation_drops_only_the_largest_losses_among_the_droppable():
    from llmhni_pipeline.methods.tce import truncated_mean

    losses = torch.tensor([1.0, 9.0, 2.0, 8.0, 3.0, 4.0, 5.0, 6.0, 7.0, 10.0])
    droppable = torch.tensor([True, False, True, False, True, True, False, False, True, False])
    # ⌊0.2·10⌋ = 2 go: the two largest among 1, 2, 3, 4, 7 are 7 and 4; the larger 8, 9, 10 are protected
    assert float(truncated_mean(losses, 0.2, droppable)) == pytest.approx((55 - 7 - 4) / 8)
    one = torch.zeros(10, dtype=torch.bool)
    one[2] = True  # fewer droppable than the rate asks for: only it goes
    assert float(truncated_mean(losses, 0.2, one)) == pytest.approx((55 - 2) / 9)
    assert float(truncated_mean(losses, 0.2, torch.zeros(10, dtype=torch.bool))) == pytest.approx(5.5)
    assert float(truncated_mean(losses, 0.2, torch.ones(10, dtype=torch.bool))) == pytest.approx(
        float(truncated_mean(losses, 0.2))
    )


def test_llmhni_truncation_is_tce_and_its_guard_protects_semantically_related_edges():
    import torch.nn.functional as F

    from llmhni_pipeline.methods.tce import TCEObjective, TCEParams

    g, _ = _graphs()
    cpu = torch.device("cpu")
    users, pos, neg = (
        torch.tensor([0, 0, 1, 2, 2]),
        torch.tensor([0, 1, 1, 2, 3]),
        torch.tensor([3, 2, 0, 0, 1]),
    )
    torch.manual_seed(0)
    model = build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)
    plain = {"use_augmented_graph": False, "lambda_de": 0.0, "lambda_hal": 0.0, "sampler": "uniform"}
    unguarded = LLMHNIParams(**plain, truncation=0.5, truncation_updates=1)
    obj = LLMHNIObjective(model, g, g, 0.01, cpu, unguarded)
    tce_obj = TCEObjective(model, g, 0.01, cpu, TCEParams(max_drop_rate=0.5, num_update=1))
    # iteration 0 drops nothing, iteration 1 drops ⌊0.5·5⌋ = 2: the same as T-CE both times
    for _ in range(2):
        assert abs(float(obj.loss(users, pos, neg)[0]) - float(tce_obj.loss(users, pos, neg)[0])) < 1e-6

    # vectors: user 0 is related to items 0 and 1 (cosine 1), everything else is unrelated (cosine 0)
    user_vec = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    item_vec = torch.tensor([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])
    guarded = LLMHNIParams(**plain, truncation=0.5, truncation_updates=1, truncation_guard=0.5)
    inputs = MethodInputs(SimpleNamespace(train=g), projected=(user_vec, item_vec))
    plan = build(BuildContext(model, inputs, guarded, 0.01, cpu, warm_start=False))
    assert plan.objective.guard.unrelated(users, pos).tolist() == [False, False, True, True, True]
    plan.objective.iteration = 1
    total, parts = plan.objective.loss(users, pos, neg)
    z = _lightgcn(g.norm_adj().to_dense(), model.ego().detach())
    per = -F.logsigmoid((z[users] * z[3 + pos]).sum(1) - (z[users] * z[3 + neg]).sum(1))
    dropped = per[2:].topk(2).indices + 2  # the two largest among the unrelated triples 2, 3, 4
    keep = torch.ones(5, dtype=torch.bool)
    keep[dropped] = False
    assert abs(float(parts["bpr"]) - float(per[keep].mean())) < 1e-6
    with pytest.raises(ValueError, match="truncation_guard"):
        LLMHNIParams(truncation=0.1, truncation_guard=0.0)
