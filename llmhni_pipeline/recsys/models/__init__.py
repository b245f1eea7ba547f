"""Backbones with one interface: ``embed(adj) -> (user_emb, item_emb)``; score = ⟨z_u, z_i⟩."""

from __future__ import annotations

from llmhni_pipeline.recsys.models.base import Backbone
from llmhni_pipeline.recsys.models.lightgcn import LightGCN
from llmhni_pipeline.recsys.models.mf import MF
from llmhni_pipeline.recsys.models.ngcf import NGCF

BACKBONES: dict[str, type[Backbone]] = {"lightgcn": LightGCN, "ngcf": NGCF, "mf": MF}


def build_backbone(
    name: str, n_users: int, n_items: int, dim: int = 64, n_layers: int = 3, **kwargs: float
) -> Backbone:
    try:
        cls = BACKBONES[name.lower()]
    except KeyError:
        raise ValueError(f"unknown backbone {name!r}; choose one of {sorted(BACKBONES)}") from None
    return cls(n_users, n_items, dim=dim, n_layers=n_layers, **kwargs)


__all__ = ["BACKBONES", "Backbone", "LightGCN", "MF", "NGCF", "build_backbone"]
