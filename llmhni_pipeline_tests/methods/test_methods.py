"""Each method's loss against its formula on tiny tensors, the registry's errors, and the one recipe."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from llmhni_pipeline.methods import (
    METHODS,
    MethodInputs,
    MethodUnavailable,
    bod,
    get_method,
    rlmrec_con,
    sgl,
    simgcl,
    tce,
    wbpr,
    xsimgcl,
)
from llmhni_pipeline.methods.llard_graph import without_validation
from llmhni_pipeline.recipe import RunSpec, train
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.losses import info_nce
from llmhni_pipeline.recsys.models import build_backbone
from llmhni_pipeline_tests.recsys.test_train import _clustered_table

CPU = torch.device("cpu")
USERS, POS, NEG = torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 2, 3]), torch.tensor([3, 0, 0, 1])


def _graph():
    return InteractionGraph(torch.tensor([0, 0, 1, 2, 2]), torch.tensor([0, 1, 1, 2, 3]), 3, 4)


def _mean_layers(adj, e0, layers, include_ego=True):
    out, e = ([e0] if include_ego else []), e0
    for _ in range(layers):
        e = adj @ e
        out.append(e)
    return torch.stack(out).mean(0)


def _bpr(z, reg, e0):
    u, i, j = z[USERS], z[3 + POS], z[3 + NEG]
    bpr = -F.logsigmoid((u * i).sum(1) - (u * j).sum(1)).mean()
    l2 = (
        reg
        * (e0[USERS].pow(2).sum() + e0[3 + POS].pow(2).sum() + e0[3 + NEG].pow(2).sum())
        / (2 * len(USERS))
    )
    return bpr + l2


def _model(seed=0):
    torch.manual_seed(seed)
    return build_backbone("lightgcn", 3, 4, dim=8, n_layers=2)


def _cl(a, b, tau):
    uu, ii = torch.unique(USERS), torch.unique(POS) + 3
    return info_nce(a[uu], b[uu], tau) + info_nce(a[ii], b[ii], tau)


def test_every_method_file_states_its_paper_and_registers_under_its_file_name():
    for name, method in METHODS.items():
        module = __import__(f"llmhni_pipeline.methods.{name}", fromlist=["METHOD"])
        assert module.METHOD is method and method.reference
        assert dataclasses.is_dataclass(method.params)


def test_registry_errors_name_what_is_known():
    with pytest.raises(ValueError, match="unknown method 'sgll'; known methods: lightgcn, wbpr"):
        get_method("sgll")
    with pytest.raises(ValueError, match=r"sgl has no parameter\(s\) \['lambda'\].*cl_weight"):
        get_method("sgl").make_params({"lambda": 0.1})
    data = SplitData.from_frame(_clustered_table())
    with pytest.raises(MethodUnavailable, match="rlmrec_con needs text"):
        train(RunSpec(method="rlmrec_con", epochs=1), MethodInputs(data), "cpu")
    with pytest.raises(MethodUnavailable, match="simgcl is defined on the lightgcn backbone, not ngcf"):
        train(RunSpec(method="simgcl", backbone="ngcf", epochs=1), MethodInputs(data), "cpu")
    with pytest.raises(MethodUnavailable, match="llmhni needs augmented, projected"):
        train(RunSpec(method="llmhni", epochs=1), MethodInputs(data), "cpu")


def test_sgl_loss_is_bpr_plus_weighted_infonce_between_two_dropped_views():
    model, g = _model(), _graph()
    p = sgl.SGLParams(cl_weight=0.3, temperature=0.5, edge_dropout=0.4)
    obj = sgl.SGLObjective(model, g, 0.01, CPU, p)
    obj.start_epoch(1, torch.Generator().manual_seed(3))
    total, parts = obj.loss(USERS, POS, NEG)
    e0 = model.ego().detach()
    z = _mean_layers(g.norm_adj().to_dense(), e0, 2)
    v1, v2 = (_mean_layers(v.to_dense(), e0, 2) for v in obj.views)
    assert not torch.equal(obj.views[0].to_dense(), g.norm_adj().to_dense())
    cl = _cl(v1, v2, 0.5)
    assert abs(float(parts["cl"]) - float(cl)) < 1e-5
    assert abs(float(total) - float(_bpr(z, 0.01, e0) + 0.3 * cl)) < 1e-5


def test_lightgcn_edge_dropout_drops_entries_of_a_at_every_step_and_ranks_on_the_whole_graph():
    """RLMRec's LightGCN: each entry of Â (each direction on its own) dropped with probability p, no rescaling,
    a new draw per step; ranking on the whole Â."""
    from llmhni_pipeline.methods import lightgcn

    g = _graph()
    adj = g.norm_adj()
    gen = torch.Generator().manual_seed(5)
    draws = [lightgcn.dropped_entries(adj, 0.5, gen).to_dense() for _ in range(200)]
    dense = adj.to_dense()
    for d in draws:  # each kept entry keeps its value; each dropped one is 0
        assert torch.all((d == dense) | (d == 0))
    kept = torch.stack([(d != 0).float() for d in draws]).mean(0)[dense != 0]
    assert abs(float(kept.mean()) - 0.5) < 0.05 and not torch.equal(draws[0], draws[1])
    assert any(not torch.equal(d, d.T) for d in draws)  # the two directions of an edge drop independently
    model = _model()
    obj = lightgcn.EdgeDropBPR(model, g, 0.01, CPU, 0.4)
    obj.start_epoch(1, torch.Generator().manual_seed(3))
    total, _ = obj.loss(USERS, POS, NEG)
    view = lightgcn.dropped_entries(adj, 0.4, torch.Generator().manual_seed(3)).to_dense()  # the same draw
    e0 = model.ego().detach()
    assert abs(float(total) - float(_bpr(_mean_layers(view, e0, 2), 0.01, e0))) < 1e-5
    z_u, _ = obj.embeddings()
    assert torch.allclose(z_u, _mean_layers(dense, e0, 2)[:3], atol=1e-6)
    with pytest.raises(ValueError, match="edge_dropout must be in"):
        lightgcn.LightGCNParams(edge_dropout=1.0)


def test_simgcl_noise_has_radius_eps_and_the_loss_matches_its_formula():
    model, g = _model(), _graph()
    adj = g.norm_adj()
    e0 = model.ego().detach()
    clean = simgcl.mean_of(simgcl.noisy_layers(model, adj, 0.0)).detach()
    assert torch.allclose(clean, _mean_layers(adj.to_dense(), e0, 2, include_ego=False), atol=1e-6)
    torch.manual_seed(5)
    noisy = simgcl.noisy_layers(model, adj, 0.1)
    first = (noisy[0] - adj @ e0).detach()
    assert torch.allclose(first.norm(dim=1), torch.full((7,), 0.1), atol=1e-5)  # ‖Δ‖ = ε
    p = simgcl.SimGCLParams(cl_weight=0.4, eps=0.2, temperature=0.3)
    obj = simgcl.SimGCLObjective(model, g, 0.0, CPU, p)
    torch.manual_seed(7)
    total, parts = obj.loss(USERS, POS, NEG)
    torch.manual_seed(7)
    z1, z2 = (simgcl.mean_of(simgcl.noisy_layers(model, adj, 0.2)).detach() for _ in range(2))
    cl = _cl(z1, z2, 0.3)
    assert abs(float(parts["cl"]) - float(cl)) < 1e-5
    assert abs(float(total) - float(_bpr(clean, 0.0, e0) + 0.4 * cl)) < 1e-5
    z_u, z_i = obj.embeddings()
    assert torch.allclose(torch.cat([z_u, z_i]).detach(), clean)


def test_xsimgcl_contrasts_the_final_layer_mean_with_layer_one_of_the_same_pass():
    model, g = _model(), _graph()
    adj = g.norm_adj()
    p = xsimgcl.XSimGCLParams(cl_weight=0.2, eps=0.2, temperature=0.15, cl_layer=1)
    obj = xsimgcl.XSimGCLObjective(model, g, 0.0, CPU, p)
    torch.manual_seed(11)
    total, parts = obj.loss(USERS, POS, NEG)
    torch.manual_seed(11)
    layers = [x.detach() for x in simgcl.noisy_layers(model, adj, 0.2)]
    z = simgcl.mean_of(layers)
    cl = _cl(z, layers[0], 0.15)
    assert abs(float(parts["cl"]) - float(cl)) < 1e-5
    assert abs(float(total) - float(_bpr(z, 0.0, model.ego().detach()) + 0.2 * cl)) < 1e-5
    with pytest.raises(ValueError, match="cl_layer must be in 1..2"):
        xsimgcl.XSimGCLObjective(model, g, 0.0, CPU, xsimgcl.XSimGCLParams(cl_layer=3))


def test_tce_drop_rate_rises_linearly_then_stays_and_drops_the_largest_losses():
    assert tce.drop_rate(0, 0.2, 1000) == 0.0
    assert tce.drop_rate(500, 0.2, 1000) == pytest.approx(0.1)
    assert tce.drop_rate(1000, 0.2, 1000) == pytest.approx(0.2)
    assert tce.drop_rate(50_000, 0.2, 1000) == pytest.approx(0.2)
    losses = torch.tensor([1.0, 9.0, 2.0, 8.0, 3.0, 4.0, 5.0, 6.0, 7.0, 10.0])
    assert float(tce.truncated_mean(losses, 0.2)) == pytest.approx(sum(range(1, 9)) / 8)  # 9 and 10 dropped
    assert float(tce.truncated_mean(losses, 0.0)) == pytest.approx(5.5)
    model, g = _model(), _graph()
    obj = tce.TCEObjective(model, g, 0.0, CPU, tce.TCEParams(max_drop_rate=0.5, num_update=1))
    obj.loss(USERS, POS, NEG)  # iteration 0: nothing dropped
    total, _ = obj.loss(USERS, POS, NEG)  # iteration 1: half of the 4 triples dropped
    z = _mean_layers(g.norm_adj().to_dense(), model.ego().detach(), 2)
    per = -F.logsigmoid((z[USERS] * z[3 + POS]).sum(1) - (z[USERS] * z[3 + NEG]).sum(1))
    assert abs(float(total) - float(per.sort().values[:2].mean())) < 1e-5


def test_wbpr_negatives_follow_popularity_and_skip_own_positives():
    # item 0 in 6 edges, item 1 in 3, item 2 in 1; user 9 has item 2 only
    users = torch.tensor([0, 1, 2, 3, 4, 5, 0, 1, 2, 9])
    items = torch.tensor([0, 0, 0, 0, 0, 0, 1, 1, 1, 2])
    g = InteractionGraph(users, items, 10, 4)
    sampler = wbpr.PopularityNegativeSampler(g)
    draws = sampler.sample(torch.full((20_000,), 9), torch.Generator().manual_seed(0))
    share = torch.bincount(draws, minlength=4).float() / len(draws)
    assert share[2] == 0 and share[3] == 0  # own positive never; an item without edges never
    assert share[0] == pytest.approx(6 / 9, abs=0.02) and share[1] == pytest.approx(3 / 9, abs=0.02)


def test_rlmrec_con_adds_the_three_alignment_terms():
    model, g = _model(), _graph()
    torch.manual_seed(1)
    text = torch.randn(3, 6), torch.randn(4, 6)
    p = rlmrec_con.RLMRecConParams(kd_weight=0.5, kd_temperature=0.2)
    obj = rlmrec_con.RLMRecConObjective(model, g, 0.0, CPU, p, text)
    total, parts = obj.loss(USERS, POS, NEG)
    assert len(obj.parameters()) == len(list(model.parameters())) + 4  # the MLP trains too
    with torch.no_grad():
        z = _mean_layers(g.norm_adj().to_dense(), model.ego(), 2)
        su, si = F.normalize(obj.mlp(text[0]), dim=1), obj.mlp(text[1])
        zu = F.normalize(z[USERS], dim=1)
        user = (-(zu * su[USERS]).sum(1) / 0.2 + torch.logsumexp(zu @ su.T / 0.2, dim=1)).mean()
        kd = user + info_nce(z[3 + POS], si[POS], 0.2) + info_nce(z[3 + NEG], si[NEG], 0.2)
    assert abs(float(parts["kd"]) - float(kd)) < 1e-5
    assert abs(float(total) - float(_bpr(z, 0.0, model.ego().detach()) + 0.5 * kd)) < 1e-5


def test_bod_gradient_distance_and_generator_step():
    a, b = torch.tensor([[1.0, 0.0], [0.0, 1.0]]), torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    # columns: (1,0)·(1,0) → cos 1; (0,1)·(1,1) → cos 1/√2; 1-d tensors are skipped
    expected = (1 - 1.0) + (1 - 2**-0.5)
    assert float(bod.gradient_distance([a, torch.ones(3)], [b, torch.zeros(3)])) == pytest.approx(expected)
    model, g = _model(), _graph()
    obj = bod.BODObjective(model, g, 0.0, CPU, bod.BODParams(outer_batch=4))
    before_gen = [t.detach().clone() for t in obj.generator.parameters()]
    before_model = [t.detach().clone() for t in model.parameters()]
    obj.start_epoch(1, torch.Generator().manual_seed(0))
    assert any(not torch.equal(x, y) for x, y in zip(before_gen, obj.generator.parameters(), strict=True))
    assert all(torch.equal(x, y) for x, y in zip(before_model, model.parameters(), strict=True))
    assert all(t.grad is None for t in model.parameters())
    total, parts = obj.loss(USERS, POS, NEG)
    assert torch.isfinite(total) and 0 < float(parts["mean_weight"]) < 1


def test_llard_graph_never_trains_on_the_held_out_validation_pairs():
    edited = InteractionGraph(torch.tensor([0, 0, 1, 1]), torch.tensor([0, 2, 1, 3]), 2, 4)
    kept = without_validation(edited, torch.tensor([0, 1]), torch.tensor([2, 0]))
    assert list(zip(kept.users.tolist(), kept.items.tolist(), strict=True)) == [(0, 0), (1, 1), (1, 3)]


def test_spec_overrides_merge_params_and_reject_unknown_fields():
    spec = RunSpec(method="sgl", params={"cl_weight": 0.2})
    changed = spec.override(lr=5e-3, params={"temperature": 0.5})
    assert changed.params == {"cl_weight": 0.2, "temperature": 0.5} and changed.lr == 5e-3
    with pytest.raises(ValueError, match="no field"):
        spec.override(learning_rate=1)
    with pytest.raises(ValueError, match="init must be one of scratch, pretrained"):
        RunSpec(init="warm")


@pytest.mark.parametrize(
    "name, params",
    [(m, {}) for m in ("lightgcn", "wbpr", "tce", "bod", "sgl", "simgcl", "xsimgcl")]
    + [("lightgcn", {"edge_dropout": 0.2})],
)
def test_every_graph_method_learns_the_block_structure_through_the_recipe(name, params):
    data = SplitData.from_frame(_clustered_table())
    spec = RunSpec(
        method=name,
        epochs=12,
        batch_size=128,
        lr=0.01,
        dim=16,
        n_layers=2,
        patience=12,
        seed=3,
        params=params,
    )
    run = train(spec, MethodInputs(data), "cpu")
    assert run.result.best_valid["recall@20"] > 0.6, name  # random ranking ≈ 0.5
    again = train(spec, MethodInputs(data), "cpu")
    assert again.result.history[-1]["loss"] == run.result.history[-1]["loss"]  # seeded once, reproducible
