"""Save and load a trained backbone with what is needed to rebuild it (no pickled code objects)."""

from __future__ import annotations

from pathlib import Path

import torch

from llmhni_pipeline.lake import atomic_write
from llmhni_pipeline.recsys.models import Backbone, build_backbone


def save_checkpoint(
    path: Path,
    model: Backbone,
    backbone: str,
    hyper: dict[str, float | int],
    extra: dict[str, object] | None = None,
) -> None:
    """Weights, constructor arguments and the final (z_U, z_I), written atomically."""
    payload = {
        "backbone": backbone,
        "n_users": model.n_users,
        "n_items": model.n_items,
        "hyper": hyper,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **(extra or {}),
    }
    atomic_write(path, lambda tmp: torch.save(payload, tmp))


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> tuple[Backbone, dict[str, object]]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found; materialize the stage that writes it first")
    payload = torch.load(path, map_location=device, weights_only=True)
    hyper = dict(payload["hyper"])
    model = build_backbone(payload["backbone"], payload["n_users"], payload["n_items"], **hyper)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload
