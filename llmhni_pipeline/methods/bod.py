"""BOD — Wang et al., "Efficient Bi-Level Optimization for Recommendation Denoising", KDD 2023
(``CoderWZW/BOD`` ``model/graph/BOD.py``, ``util/loss_torch.py``; RecCFDenoise ``config/bod.yaml``).

A generator g scores each interaction, w_ui = σ(MLP([z_u ‖ z_i])) with MLP 2d → h → ReLU → h → ReLU → 1.
Inner problem (the recommender, every batch, w detached):
  L_in = w_bpr · mean −log σ(w_ui ŷ_ui − w_uj ŷ_uj) + w_al · mean w_ui ‖ẑ_u − ẑ_i‖² + w_un · L_unif + reg,
  ẑ = z/‖z‖,  L_unif = mean over {users, positives, negatives, users} of log mean_{a≠b} exp(−2‖ẑ_a − ẑ_b‖²).
Outer problem (the generator, ``outer_steps`` sampled batches per epoch, before the epoch's recommender steps):
  L_out = Σ_θ Σ_c [1 − cos(∇_θ L_bpr^w, ∇_θ L_al^w)_c] + reg_g · ‖g‖²  (gradient matching over the recommender's
  parameters θ, column by column, second-order through w).
Defaults: generator lr 1e-3, reg 1e-5, hidden 64, one outer step per epoch, weights 1 / 1 / 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from llmhni_pipeline.methods.base import Method, objective_build
from llmhni_pipeline.recsys.losses import embedding_l2
from llmhni_pipeline.recsys.sampling import UniformNegativeSampler
from llmhni_pipeline.recsys.train import BPRObjective, triple_rows


@dataclass(frozen=True)
class BODParams:
    generator_lr: float = 1e-3
    generator_reg: float = 1e-5
    generator_hidden: int = 64
    outer_steps: int = 1  # generator updates per epoch
    outer_batch: int = 2048
    weight_bpr: float = 1.0
    weight_alignment: float = 1.0
    weight_uniformity: float = 0.5


def weighted_bpr(u, i, j, w_pos, w_neg) -> torch.Tensor:
    return -F.logsigmoid(w_pos * (u * i).sum(1) - w_neg * (u * j).sum(1)).mean()


def weighted_alignment(u, i, w) -> torch.Tensor:
    return (w * (F.normalize(u, dim=1) - F.normalize(i, dim=1)).pow(2).sum(1)).mean()


def uniformity(x: torch.Tensor) -> torch.Tensor:
    """log mean_{a<b} exp(−2‖x̂_a − x̂_b‖²)."""
    return torch.pdist(F.normalize(x, dim=1)).pow(2).mul(-2).exp().mean().log()


def gradient_distance(real: list[torch.Tensor], synthetic: list[torch.Tensor]) -> torch.Tensor:
    """Σ over 2-d parameter gradients of Σ_columns (1 − cosine) (BOD's ``distance_wb``; 1-d ones are skipped)."""
    total = real[0].new_zeros(())
    for g_r, g_s in zip(real, synthetic, strict=True):
        if g_r.dim() == 2:
            total = total + (1 - F.cosine_similarity(g_r, g_s, dim=0, eps=1e-6)).sum()
    return total


class EdgeWeightGenerator(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Linear(2 * dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 1)
        )

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.mlp(torch.cat([users, items], dim=1))).squeeze(1)


class BODObjective(BPRObjective):
    def __init__(self, model, graph, reg_weight, device, params: BODParams):
        super().__init__(model, graph, reg_weight, device)
        self.params = params
        self.generator = EdgeWeightGenerator(model.encode(self.adj).shape[1], params.generator_hidden).to(
            device
        )
        self.generator_optimizer = torch.optim.Adam(self.generator.parameters(), lr=params.generator_lr)
        self.negatives = UniformNegativeSampler(graph)

    def start_epoch(self, epoch, generator):
        p, n_users = self.params, self.model.n_users
        theta = [t for t in self.model.parameters() if t.requires_grad]
        for _ in range(p.outer_steps):
            pick = torch.randint(0, self.graph.n_edges, (p.outer_batch,), generator=generator)
            users, pos = self.graph.users[pick], self.graph.items[pick]
            neg = self.negatives.sample(users, generator)
            users, pos, neg = (t.to(self.device) for t in (users, pos, neg))
            u, i, j = triple_rows(self.model.encode(self.adj), users, pos, neg, n_users)
            w_pos, w_neg = self.generator(u, i), self.generator(u, j)
            real = torch.autograd.grad(weighted_bpr(u, i, j, w_pos, w_neg), theta, create_graph=True)
            synthetic = torch.autograd.grad(weighted_alignment(u, i, w_pos), theta, create_graph=True)
            reg = p.generator_reg * sum(t.pow(2).sum() for t in self.generator.parameters())
            loss = gradient_distance(list(real), list(synthetic)) + reg
            self.generator_optimizer.zero_grad(set_to_none=True)
            loss.backward(inputs=list(self.generator.parameters()))
            self.generator_optimizer.step()

    def loss(self, users, pos, neg):
        p, n_users = self.params, self.model.n_users
        z = self.model.encode(self.adj)
        u, i, j = triple_rows(z, users, pos, neg, n_users)
        with torch.no_grad():
            w_pos, w_neg = self.generator(u, i), self.generator(u, j)
        bpr = weighted_bpr(u, i, j, w_pos, w_neg)
        align = weighted_alignment(u, i, w_pos)
        unif = (2 * uniformity(u) + uniformity(i) + uniformity(j)) / 4
        reg = self.reg_weight * embedding_l2(*self.model.ego_rows(users, pos, neg))
        total = p.weight_bpr * bpr + p.weight_alignment * align + p.weight_uniformity * unif + reg
        return total, {
            "bpr": bpr.detach(),
            "alignment": align.detach(),
            "uniformity": unif.detach(),
            "reg": reg.detach(),
            "mean_weight": w_pos.mean(),
        }


METHOD = Method("bod", "Wang et al., KDD 2023", BODParams, objective_build(BODObjective))
