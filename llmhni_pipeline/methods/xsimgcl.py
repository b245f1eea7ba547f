"""XSimGCL — Yu et al., "XSimGCL: Towards Extremely Simple Graph Contrastive Learning for Recommendation",
TKDE 2023 (SELFRec ``model/graph/XSimGCL.py``).

One noisy pass of SimGCL's encoder serves both losses: z = mean_{l=1..L} e⁽ˡ⁾ with noise, and
L = L_BPR(z) + λ · [InfoNCE(z_U, e⁽ˡ*⁾_U) + InfoNCE(z_I, e⁽ˡ*⁾_I)] + reg, contrasting the final representation
with the same pass's layer l*. Ranking uses the pass without noise. Defaults: SELFRec ``conf/XSimGCL.yaml``
(λ 0.2, ε 0.2, τ 0.15, l* = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmhni_pipeline.methods.base import Method, objective_build
from llmhni_pipeline.methods.simgcl import SimGCLObjective, mean_of, noisy_layers
from llmhni_pipeline.recsys.losses import node_info_nce


@dataclass(frozen=True)
class XSimGCLParams:
    cl_weight: float = 0.2  # λ
    eps: float = 0.2  # ε
    temperature: float = 0.15  # τ
    cl_layer: int = 1  # l*


class XSimGCLObjective(SimGCLObjective):
    """SimGCL's encoder and ranking; one noisy pass serves both losses."""

    def __init__(self, model, graph, reg_weight, device, params: XSimGCLParams):
        super().__init__(model, graph, reg_weight, device, params)
        if not 1 <= params.cl_layer <= model.n_layers:
            raise ValueError(f"cl_layer must be in 1..{model.n_layers}, not {params.cl_layer}")
        self.params = params

    def loss(self, users, pos, neg):
        p = self.params
        layers = noisy_layers(self.model, self.adj, p.eps)
        z = mean_of(layers)
        total, parts = self.bpr(z, users, pos, neg)
        cl = node_info_nce(z, layers[p.cl_layer - 1], users, pos, self.model.n_users, p.temperature)
        parts["cl"] = cl.detach()
        return total + p.cl_weight * cl, parts


METHOD = Method(
    "xsimgcl",
    "Yu et al., TKDE 2023",
    XSimGCLParams,
    objective_build(XSimGCLObjective),
    backbones=("lightgcn",),
)
