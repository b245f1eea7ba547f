"""LightGCN — He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation", SIGIR 2020.

L = −mean log σ(⟨z_u, z_i⟩ − ⟨z_u, z_j⟩) + reg · ½Σ‖e⁽⁰⁾‖²/B, z = f(e⁽⁰⁾; Â), j uniform over the user's
non-positives. This is BPR on the backbone with nothing added: every other method is a delta over it (with the
``ngcf`` or ``mf`` backbone this is NGCF-BPR or MF-BPR).

``edge_dropout`` p > 0 is RLMRec's LightGCN (``encoder/models/general_cf/lightgcn.py``, ``keep_rate`` 0.8 in
its ``lightgcn.yml``): at every training step each entry of Â is dropped with probability p, without rescaling,
and ranking uses the whole Â. That is SGL's augmentation without SGL's loss, so a contrastive method's gain over
this row is what its loss adds beyond augmentation. 0 (the default) is the plain model.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llmhni_pipeline.methods.base import BuildContext, Method, Plan, uniform_plan
from llmhni_pipeline.recsys.graph import dropped_entries
from llmhni_pipeline.recsys.train import BPRObjective


@dataclass(frozen=True)
class LightGCNParams:
    edge_dropout: float = 0.0  # p: share of Â's entries dropped at every training step (RLMRec's: 0.2)

    def __post_init__(self):
        if not 0.0 <= self.edge_dropout < 1.0:
            raise ValueError(f"edge_dropout must be in [0, 1), not {self.edge_dropout}")


class EdgeDropBPR(BPRObjective):
    """BPR on a freshly edge-dropped Â at every step; ranking on the whole Â (``embeddings``)."""

    def __init__(self, model, graph, reg_weight, device, p: float):
        super().__init__(model, graph, reg_weight, device)
        self.p, self.generator = p, torch.Generator().manual_seed(0)

    def start_epoch(self, epoch, generator):
        self.generator = generator

    def loss(self, users, pos, neg):
        return self.bpr(self.model.encode(dropped_entries(self.adj, self.p, self.generator)), users, pos, neg)


def build(c: BuildContext) -> Plan:
    train, p = c.inputs.data.train, c.params.edge_dropout
    objective = (
        EdgeDropBPR(c.model, train, c.reg_weight, c.device, p)
        if p
        else BPRObjective(c.model, train, c.reg_weight, c.device)
    )
    return uniform_plan(objective, train)


METHOD = Method("lightgcn", "He et al., SIGIR 2020", LightGCNParams, build)
