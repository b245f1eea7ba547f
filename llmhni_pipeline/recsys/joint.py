"""LLMHNI's joint objective (method_spec §11): one ID table e⁽⁰⁾, one backbone, four graph views.

Z = f(e⁽⁰⁾; Â)  Z′ = f(e⁽⁰⁾; Â′)  Z̃ = f(e⁽⁰⁾; drop_p(Â))  Z̃′ = f(e⁽⁰⁾; drop_p(Â′))   (views redrawn each epoch)
L_total = L_rec + λ1·L_de + λ2·L_hal, for a batch of triples (u, i, j) with (u, i) ∈ E′:
  L_rec = mean −log σ(⟨z′_u, z′_i⟩ − ⟨z′_u, z′_j⟩) + reg·½Σ‖e⁽⁰⁾‖²/B
  L_de  = InfoNCE(Z[users], Z′[users]) + InfoNCE(Z[items], Z′[items])      (cross-graph, batch-unique nodes)
  L_hal = InfoNCE(Z̃[users], Z̃′[users]) + InfoNCE(Z̃[items], Z̃′[items])    (edge-dropped views)
Inference uses Z′. λ1 = 0 with G′ = G is "w/o interaction denoising"; λ2 = 0 is "w/o hallucination robustness".
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.losses import bpr_loss, embedding_l2, info_nce
from llmhni_pipeline.recsys.models import Backbone
from llmhni_pipeline.recsys.train import Objective, triple_rows


@dataclass(frozen=True)
class JointWeights:
    lambda_de: float = 0.1
    lambda_hal: float = 0.1
    temperature: float = 0.2
    edge_dropout: float = 0.1
    reg_weight: float = 1e-5


class JointObjective(Objective):
    def __init__(
        self,
        model: Backbone,
        graph: InteractionGraph,
        augmented: InteractionGraph,
        weights: JointWeights,
        device: torch.device,
    ):
        self.model, self.weights, self.device = model, weights, device
        self.graph, self.augmented = graph, augmented
        self.adj = graph.norm_adj(device)
        self.adj_aug = augmented.norm_adj(device)
        self.adj_drop = self.adj_aug_drop = None

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        if self.weights.lambda_hal > 0:
            p = self.weights.edge_dropout
            self.adj_drop = self.graph.dropped(p, generator).norm_adj(self.device)
            self.adj_aug_drop = self.augmented.dropped(p, generator).norm_adj(self.device)

    def _contrast(
        self, a: torch.Tensor, b: torch.Tensor, users: torch.Tensor, items: torch.Tensor
    ) -> torch.Tensor:
        n_u = self.model.n_users
        u, i = torch.unique(users), torch.unique(items) + n_u
        tau = self.weights.temperature
        return info_nce(a[u], b[u], tau) + info_nce(a[i], b[i], tau)

    def loss(self, users, pos, neg):
        w = self.weights
        z_aug = self.model.encode(self.adj_aug)
        u, i, j = triple_rows(z_aug, users, pos, neg, self.model.n_users)
        rec = bpr_loss((u * i).sum(1), (u * j).sum(1))
        reg = w.reg_weight * embedding_l2(*triple_rows(self.model.ego(), users, pos, neg, self.model.n_users))
        total, parts = rec + reg, {"bpr": rec.item(), "reg": reg.item()}
        if w.lambda_de > 0:
            de = self._contrast(self.model.encode(self.adj), z_aug, users, pos)
            total = total + w.lambda_de * de
            parts["l_de"] = de.item()
        if w.lambda_hal > 0:
            hal = self._contrast(
                self.model.encode(self.adj_drop), self.model.encode(self.adj_aug_drop), users, pos
            )
            total = total + w.lambda_hal * hal
            parts["l_hal"] = hal.item()
        return total, parts

    def embeddings(self):
        return self.model.embed(self.adj_aug)
