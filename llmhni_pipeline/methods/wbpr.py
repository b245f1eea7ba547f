"""WBPR — Gantner et al., "Personalized Ranking for Non-Uniformly Sampled Items", KDD Cup 2011 (JMLR W&CP 2012).

BPR on the backbone with negatives drawn ∝ item popularity: j is the item of a uniformly drawn training
interaction (cornac ``recom_wbpr.pyx``), redrawn while it is one of the user's own positives.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llmhni_pipeline.methods.base import BuildContext, Method, Plan
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.sampling import UniformNegativeSampler
from llmhni_pipeline.recsys.train import BPRObjective


@dataclass(frozen=True)
class WBPRParams:
    pass


class PopularityNegativeSampler(UniformNegativeSampler):
    """P(j) ∝ deg(j): the item of a random training edge."""

    name = "popularity"

    def __init__(self, graph: InteractionGraph):
        super().__init__(graph)
        self.edge_items = graph.items

    def propose(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return self.edge_items[torch.randint(0, len(self.edge_items), (n,), generator=generator)]


def build(c: BuildContext) -> Plan:
    train = c.inputs.data.train
    return Plan(BPRObjective(c.model, train, c.reg_weight, c.device), train, PopularityNegativeSampler(train))


METHOD = Method("wbpr", "Gantner et al., JMLR W&CP 18, 2012", WBPRParams, build)
