"""Save and load a trained backbone with what is needed to rebuild it (no pickled code objects), and the named
store through which trained models travel between the assets: ``ModelStore``."""

from __future__ import annotations

from collections.abc import Callable

import torch

from llmhni_pipeline.lake import (
    LINEAGE_KEY,
    LakePath,
    StaleTableError,
    artifact_dir,
    atomic_write,
    current_lineage,
)
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.models import Backbone, build_backbone


def save_checkpoint(
    path: LakePath,
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


def read_payload(path: LakePath, device: torch.device | str) -> dict[str, object]:
    """A saved payload, from a file or an object-store object (tensors only, no pickled code)."""
    with path.open("rb") as handle:
        return torch.load(handle, map_location=device, weights_only=True)


def load_checkpoint(
    path: LakePath, device: torch.device | str = "cpu", payload: dict[str, object] | None = None
) -> tuple[Backbone, dict[str, object]]:
    """The model saved at ``path`` (``payload``: its contents, when already read)."""
    if payload is None:
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: checkpoint not found; materialize the stage that writes it first"
            )
        payload = read_payload(path, device)
    hyper = dict(payload["hyper"])
    model = build_backbone(payload["backbone"], payload["n_users"], payload["n_items"], **hyper)
    model.load_state_dict(payload["state_dict"])
    return model.to(device).eval(), payload


class ModelStore:
    """Trained models of the asset graph, named by the asset that trained them and the dataset partition:
    ``<lake>/<asset>/dataset=<key>/model.pt``, beside that asset's table. Producers ``save`` under their own asset
    name, consumers ``load`` by the upstream asset's name; the harness's ``pack`` reads the same store.

    Like every table, a model records the fingerprint of the stage-0 table it was trained from; loading a model
    trained on another version of the dataset raises ``StaleTableError`` naming the asset to re-materialize
    (a model saved before lineage was recorded loads as before)."""

    FILE = "model.pt"

    def __init__(self, lake_dir: LakePath, before_write: Callable[[], None] | None = None):
        self.lake_dir = lake_dir
        self.before_write = before_write  # e.g. refuse to publish for a run that has already ended

    def path(self, asset: str, dataset: str) -> LakePath:
        return artifact_dir(self.lake_dir, asset, dataset) / self.FILE

    def exists(self, asset: str, dataset: str) -> bool:
        return self.path(asset, dataset).is_file()

    def save(
        self,
        asset: str,
        dataset: str,
        model: Backbone,
        backbone: str,
        hyper: dict[str, float | int],
        extra: dict[str, object] | None = None,
    ) -> LakePath:
        path = self.path(asset, dataset)
        lineage = current_lineage(self.lake_dir, dataset)
        if self.before_write is not None:
            self.before_write()
        save_checkpoint(path, model, backbone, hyper, {**(extra or {}), LINEAGE_KEY: lineage})
        return path

    def load(self, asset: str, dataset: str, device: torch.device | str = "cpu") -> tuple[Backbone, dict]:
        path = self.path(asset, dataset)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no trained model; materialize {asset} for {dataset} first")
        payload = read_payload(path, "cpu")
        trained_on, current = payload.get(LINEAGE_KEY), current_lineage(self.lake_dir, dataset)
        if trained_on and current and trained_on != current:
            raise StaleTableError(
                f"{path}: the {asset} model was trained on another version of raw_interactions for "
                f"{dataset!r} (fingerprint {trained_on} ≠ current {current}); re-materialize {asset} (and the "
                "stages between it and raw_interactions) first, or it would score a dataset it never saw"
            )
        return load_checkpoint(path, device, payload)

    def payload(self, asset: str, dataset: str) -> dict[str, object]:
        return self.load(asset, dataset)[1]

    def embeddings(
        self, asset: str, dataset: str, graph: InteractionGraph, device: torch.device | str = "cpu"
    ) -> tuple[torch.Tensor, torch.Tensor, dict[str, object]]:
        """(z_U, z_I, payload): the stored final representations, else the model's on ``graph``."""
        model, payload = self.load(asset, dataset, device)
        if "z_user" in payload:
            return payload["z_user"].to(device), payload["z_item"].to(device), payload
        with torch.no_grad():
            z_u, z_i = model.embed(graph.norm_adj(device))
        return z_u, z_i, payload
