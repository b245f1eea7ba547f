"""SimGCL — Yu et al., "Are Graph Augmentations Necessary? Simple Graph Contrastive Learning for
Recommendation", SIGIR 2022 (SELFRec ``model/graph/SimGCL.py``, RecBole-GNN ``SimGCL(LightGCN)``).

Each LightGCN layer adds uniform noise: e⁽ˡ⁺¹⁾ = Â e⁽ˡ⁾ + Δ⁽ˡ⁾, Δ = ε · sign(e⁽ˡ⁺¹⁾) ⊙ normalize(U(0, 1));
z = mean_{l=1..L} e⁽ˡ⁾ (layer 0 excluded, as in both reference codes, for training and ranking alike).
L = L_BPR(z, no noise) + λ · [InfoNCE(z′_U, z″_U) + InfoNCE(z′_I, z″_I)] + reg, z′, z″ two noisy passes.
Defaults: λ 0.1 (RLMRec's setting for amazon and yelp), ε 0.1 and τ 0.2 (SELFRec ``conf/SimGCL.yaml``).
SELFRec's λ 0.5 collapsed on amazon-book (best after 1–2 epochs, R@20 0.101); λ 0.1 with ε chosen on validation
from {0.1, 0.9} gave 0.167 (docs/notebook/2026-12-01-results.md, §0).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llmhni_pipeline.methods.base import Method, objective_build
from llmhni_pipeline.recsys.graph import propagate
from llmhni_pipeline.recsys.losses import node_info_nce
from llmhni_pipeline.recsys.models import LightGCN
from llmhni_pipeline.recsys.train import BPRObjective


@dataclass(frozen=True)
class SimGCLParams:
    cl_weight: float = 0.1  # λ
    eps: float = 0.1  # ε, the noise radius
    temperature: float = 0.2  # τ


def noisy_layers(model: LightGCN, adj: torch.Tensor, eps: float) -> list[torch.Tensor]:
    """[e⁽¹⁾, …, e⁽ᴸ⁾] of LightGCN propagation, each layer perturbed by ε-radius uniform noise (ε = 0: none)."""
    e, layers = model.ego(), []
    for _ in range(model.n_layers):
        e = propagate(adj, e)
        if eps > 0:
            # Δ carries no gradient (∂sign/∂e = 0, the noise has no parameters): built outside autograd, which
            # leaves the gradient unchanged and saves a quarter of a noisy pass's time on the CPU
            with torch.no_grad():  # in place: ε · sign(e) ⊙ normalize(U) in three passes over the matrix
                delta = torch.rand_like(e)
                delta *= eps / torch.linalg.vector_norm(delta, dim=1, keepdim=True).clamp_min(1e-12)
                delta *= torch.sign(e)
            e = e + delta
        layers.append(e)
    return layers


def mean_of(layers: list[torch.Tensor]) -> torch.Tensor:
    """The layers' mean, summed in place of stacking (no L × N × d copy, forward or backward)."""
    return sum(layers[1:], layers[0]) / len(layers)


def layer_mean(model: LightGCN, adj: torch.Tensor, eps: float = 0.0) -> torch.Tensor:
    """mean_{l=1..L} e⁽ˡ⁾ of one (ε = 0: noise-free) pass, layer 0 excluded as in SimGCL and XSimGCL."""
    return mean_of(noisy_layers(model, adj, eps))


class SimGCLObjective(BPRObjective):
    def __init__(self, model, graph, reg_weight, device, params: SimGCLParams):
        super().__init__(model, graph, reg_weight, device)
        self.params = params

    def loss(self, users, pos, neg):
        p = self.params
        total, parts = self.bpr(layer_mean(self.model, self.adj), users, pos, neg)
        z1, z2 = (layer_mean(self.model, self.adj, p.eps) for _ in range(2))
        cl = node_info_nce(z1, z2, users, pos, self.model.n_users, p.temperature)
        parts["cl"] = cl.detach()
        return total + p.cl_weight * cl, parts

    def embeddings(self):
        return self.model.split(layer_mean(self.model, self.adj))


METHOD = Method(
    "simgcl", "Yu et al., SIGIR 2022", SimGCLParams, objective_build(SimGCLObjective), backbones=("lightgcn",)
)
