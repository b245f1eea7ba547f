"""LightGCN — He et al., "LightGCN: Simplifying and Powering Graph Convolution Network for Recommendation", SIGIR 2020.

L = −mean log σ(⟨z_u, z_i⟩ − ⟨z_u, z_j⟩) + reg · ½Σ‖e⁽⁰⁾‖²/B, z = f(e⁽⁰⁾; Â), j uniform over the user's
non-positives. This is BPR on the backbone with nothing added: every other method is a delta over it (with the
``ngcf`` or ``mf`` backbone this is NGCF-BPR or MF-BPR).
"""

from __future__ import annotations

from dataclasses import dataclass

from llmhni_pipeline.methods.base import BuildContext, Method, Plan, uniform_plan
from llmhni_pipeline.recsys.train import BPRObjective


@dataclass(frozen=True)
class LightGCNParams:
    pass


def build(c: BuildContext) -> Plan:
    return uniform_plan(
        BPRObjective(c.model, c.inputs.data.train, c.reg_weight, c.device), c.inputs.data.train
    )


METHOD = Method("lightgcn", "He et al., SIGIR 2020", LightGCNParams, build)
