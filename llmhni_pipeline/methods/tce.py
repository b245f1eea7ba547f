"""T-CE (pairwise) — Wang et al., "Denoising Implicit Feedback for Recommendation", WSDM 2021; pairwise form of
RecCFDenoise ``model/PairDenoise.py`` (TCEPairDenoise).

Per batch, the ⌊ρ(t)·B⌋ triples with the largest ℓ_uij = −log σ(ŷ_ui − ŷ_uj) are dropped (likely noisy
positives) and L = mean of the rest + reg; ρ(t) = ρ_max · min(1, t / num_update) rises linearly over the first
``num_update`` iterations t (exponent 1) and then stays. Defaults: RecCFDenoise ``config/tce.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from llmhni_pipeline.methods.base import Method, objective_build
from llmhni_pipeline.recsys.losses import embedding_l2
from llmhni_pipeline.recsys.train import BPRObjective, triple_rows


@dataclass(frozen=True)
class TCEParams:
    max_drop_rate: float = 0.05  # ρ_max
    num_update: int = 10_000  # iterations over which ρ rises from 0 to ρ_max


def drop_rate(iteration: int, max_drop_rate: float, num_update: int) -> float:
    """ρ(t) = ρ_max · min(1, t / num_update)."""
    return max_drop_rate * min(1.0, iteration / max(num_update, 1))


def truncated_mean(losses: torch.Tensor, rate: float, droppable: torch.Tensor | None = None) -> torch.Tensor:
    """Mean of ``losses`` without the ⌊rate·B⌋ largest (ties: the later ones in the batch are kept). With a
    boolean ``droppable``, only those may go: the ⌊rate·B⌋ largest among them (all of them if fewer)."""
    n_drop = int(rate * len(losses))
    if droppable is None:
        return torch.topk(losses, len(losses) - n_drop, largest=False, sorted=False).values.mean()
    n_drop = min(n_drop, int(droppable.sum()))
    if n_drop == 0:
        return losses.mean()
    candidates = losses.detach().masked_fill(~droppable, float("-inf"))
    keep = torch.ones_like(droppable)
    keep[torch.topk(candidates, n_drop, sorted=False).indices] = False
    return losses[keep].mean()


def truncated_bpr(
    objective: BPRObjective,
    z: torch.Tensor,
    users: torch.Tensor,
    pos: torch.Tensor,
    neg: torch.Tensor,
    rate: float,
    droppable: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """``objective.bpr`` with the mean over triples truncated at ``rate`` (``truncated_mean``); the L2 term as is."""
    u, i, j = triple_rows(z, users, pos, neg, objective.model.n_users)
    per_triple = -F.logsigmoid((u * i).sum(1) - (u * j).sum(1))
    rec = truncated_mean(per_triple, rate, droppable)
    reg = objective.reg_weight * embedding_l2(*objective.model.ego_rows(users, pos, neg))
    return rec + reg, {"bpr": rec.detach(), "reg": reg.detach()}


class TCEObjective(BPRObjective):
    def __init__(self, model, graph, reg_weight, device, params: TCEParams):
        super().__init__(model, graph, reg_weight, device)
        self.params, self.iteration = params, 0

    def loss(self, users, pos, neg):
        rate = drop_rate(self.iteration, self.params.max_drop_rate, self.params.num_update)
        self.iteration += 1
        return truncated_bpr(self, self.model.encode(self.adj), users, pos, neg, rate)


METHOD = Method(
    "tce", "Wang et al., WSDM 2021 (pairwise, RecCFDenoise)", TCEParams, objective_build(TCEObjective)
)
