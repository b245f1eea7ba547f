"""SGL-ED — Wu et al., "Self-supervised Graph Learning for Recommendation", SIGIR 2021.

L = L_BPR(z on Â) + λ · [InfoNCE(z¹_U, z²_U) + InfoNCE(z¹_I, z²_I)] + reg,  z^s = f(e⁽⁰⁾; drop_p(Â)),
two edge-dropped views redrawn each epoch; InfoNCE with cosine similarity and temperature τ over the batch's
unique users and unique items, each set its own in-batch negatives. Defaults: SELFRec ``conf/SGL.yaml`` and
RLMRec's amazon setting (λ 0.1, τ 0.2, p 0.1).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmhni_pipeline.methods.base import Method, objective_build
from llmhni_pipeline.recsys.losses import node_info_nce
from llmhni_pipeline.recsys.train import BPRObjective


@dataclass(frozen=True)
class SGLParams:
    cl_weight: float = 0.1  # λ
    temperature: float = 0.2  # τ
    edge_dropout: float = 0.1  # p


class SGLObjective(BPRObjective):
    def __init__(self, model, graph, reg_weight, device, params: SGLParams):
        super().__init__(model, graph, reg_weight, device)
        self.params = params
        self.views = None

    def start_epoch(self, epoch, generator):
        p = self.params.edge_dropout
        self.views = tuple(self.graph.dropped(p, generator).norm_adj(self.device) for _ in range(2))

    def loss(self, users, pos, neg):
        total, parts = self.bpr(self.model.encode(self.adj), users, pos, neg)
        z1, z2 = (self.model.encode(view) for view in self.views)
        cl = node_info_nce(z1, z2, users, pos, self.model.n_users, self.params.temperature)
        parts["cl"] = cl.detach()
        return total + self.params.cl_weight * cl, parts


METHOD = Method("sgl", "Wu et al., SIGIR 2021 (SGL-ED)", SGLParams, objective_build(SGLObjective))
