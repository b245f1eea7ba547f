"""RLMRec-Con — Ren et al., "Representation Learning with Large Language Models for Recommendation", WWW 2024
(RLMRec ``encoder/models/general_cf/lightgcn_plus.py``).

Contrastive alignment of the CF representations with projected text embeddings s (here the raw
``llm_embeddings`` of the text profiles), through an MLP σ: s → (d_s + d)/2 → LeakyReLU → d:
L = L_BPR + reg + w_kd · [InfoNCE(z_u, σ(s_u); all users) + InfoNCE(z_i, σ(s_i); batch) + InfoNCE(z_j, σ(s_j);
batch)], each InfoNCE averaged over the batch (RLMRec sums and divides by B), cosine similarity, temperature τ.
Defaults: RLMRec ``lightgcn_plus.yml`` for amazon (w_kd 1e-2, τ 0.2). The MLP trains with the backbone.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn.functional as F
from torch import nn

from llmhni_pipeline.methods.base import BuildContext, Method, Plan, uniform_plan
from llmhni_pipeline.recsys.losses import info_nce
from llmhni_pipeline.recsys.train import BPRObjective, triple_rows


@dataclass(frozen=True)
class RLMRecConParams:
    kd_weight: float = 1e-2  # w_kd
    kd_temperature: float = 0.2  # τ


def text_mlp(text_dim: int, dim: int) -> nn.Sequential:
    hidden = (text_dim + dim) // 2
    return nn.Sequential(nn.Linear(text_dim, hidden), nn.LeakyReLU(), nn.Linear(hidden, dim))


class RLMRecConObjective(BPRObjective):
    def __init__(self, model, graph, reg_weight, device, params: RLMRecConParams, text):
        super().__init__(model, graph, reg_weight, device)
        self.params = params
        self.user_text, self.item_text = (t.float().to(device) for t in text)
        self.mlp = text_mlp(self.user_text.shape[1], model.ego().shape[1]).to(device)

    def parameters(self):
        return [*self.model.parameters(), *self.mlp.parameters()]

    def loss(self, users, pos, neg):
        z = self.model.encode(self.adj)
        total, parts = self.bpr(z, users, pos, neg)
        u, i, j = triple_rows(z, users, pos, neg, self.model.n_users)
        tau = self.params.kd_temperature
        all_users = F.normalize(self.mlp(self.user_text), dim=1)
        user_term = F.cross_entropy(F.normalize(u, dim=1) @ all_users.T / tau, users)
        kd = (
            user_term
            + info_nce(i, self.mlp(self.item_text[pos]), tau)
            + info_nce(j, self.mlp(self.item_text[neg]), tau)
        )
        parts["kd"] = kd.detach()
        return total + self.params.kd_weight * kd, parts


def build(c: BuildContext) -> Plan:
    train = c.inputs.data.train
    objective = RLMRecConObjective(c.model, train, c.reg_weight, c.device, c.params, c.inputs.text)
    return uniform_plan(objective, train)


METHOD = Method("rlmrec_con", "Ren et al., WWW 2024 (RLMRec-Con)", RLMRecConParams, build, needs=("text",))
