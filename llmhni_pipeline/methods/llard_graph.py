"""LLaRD's LLM-edited graph — LLaRD, WWW 2025 (arXiv 2502.09058; ``shuyao-wang/LLaRD``, ``data/*/aug_traindata.npy``).

**A stand-in, not LLaRD.** Plain LightGCN-BPR on LLaRD's *published* LLM-denoised training set (edges removed
and added per user by its LLM); LLaRD's own training objective (graph learner, profile InfoNCE, relation graph,
HSIC) is not replicated. Edges of this partition's held-out validation slice are removed from the edited set,
so the epoch is still chosen on data the model never trained on. Only ``-llard`` partitions of amazon-book and
yelp have the file.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from llmhni_pipeline.methods.base import BuildContext, Method, Plan, uniform_plan
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.sampling import PositiveSet
from llmhni_pipeline.recsys.train import BPRObjective


@dataclass(frozen=True)
class LLaRDGraphParams:
    pass


def without_validation(edited: InteractionGraph, valid_users: torch.Tensor, valid_items: torch.Tensor):
    """The edited edges minus the held-out validation pairs."""
    held_out = PositiveSet(valid_users, valid_items, edited.n_items).contains(edited.users, edited.items)
    keep = ~held_out
    return InteractionGraph(edited.users[keep], edited.items[keep], edited.n_users, edited.n_items)


def build(c: BuildContext) -> Plan:
    valid = c.inputs.data.valid
    graph = without_validation(c.inputs.llard_train, valid.row_ids(), valid.indices)
    return uniform_plan(BPRObjective(c.model, graph, c.reg_weight, c.device), graph)


METHOD = Method(
    "llard_graph",
    "LLaRD's published LLM-edited training set (Wang et al., WWW 2025) under LightGCN; a stand-in for LLaRD",
    LLaRDGraphParams,
    build,
    needs=("llard_train",),
)
