"""Stage 3: ``aligned_projector`` — f_θ trained with InfoNCE on interactions the texts agree on.

The table holds the projected vectors s_u = f_θ(t_u), s_i = f_θ(t_i); ``projector.pt`` sits beside it.
"""

import dataclasses

import dagster as dg
import polars as pl
import torch

from llmhni_pipeline.lake import atomic_write
from llmhni_pipeline.partitions import dataset_partitions
from llmhni_pipeline.plots import png_markdown, training_curves_png
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.resources.lake import LakeResource
from llmhni_pipeline.run_hygiene import require_live_run
from llmhni_pipeline.semantic.projector import (
    PSEUDO_QUANTILE,
    ProjectorSettings,
    pseudo_labels,
    separation_auc,
    train_projector,
)
from llmhni_pipeline.semantic.vectors import entity_matrix, vectors_table

CHECKPOINT = "projector.pt"


_DEFAULTS = ProjectorSettings()


class ProjectorConfig(dg.Config):
    """The projector's settings (each default is ``ProjectorSettings``') and the pseudo-label quantile."""

    d: int = _DEFAULTS.d  # width of the aligned space (the recommender's embedding width)
    pseudo_quantile: float = (
        PSEUDO_QUANTILE  # train edges whose text cosine is at least this quantile are pseudo-labels
    )
    temperature: float = _DEFAULTS.temperature  # τ of the InfoNCE alignment loss
    lr: float = _DEFAULTS.lr  # Adam learning rate
    batch_size: int = _DEFAULTS.batch_size  # pseudo-label pairs per step (in-batch negatives)
    epochs: int = _DEFAULTS.epochs  # at most this many passes over the pseudo-labels
    patience: int = _DEFAULTS.patience  # epochs without a better held-out loss before stopping
    holdout: float = _DEFAULTS.holdout  # share of pseudo-labels held out for early stopping
    seed: int = _DEFAULTS.seed  # initial weights, batches and the hold-out split

    def settings(self) -> ProjectorSettings:
        """The core settings from this config's fields, by name."""
        names = {f.name for f in dataclasses.fields(ProjectorSettings)}
        return ProjectorSettings(**{k: v for k, v in self.model_dump().items() if k in names})


@dg.asset(partitions_def=dataset_partitions, group_name="llm", kinds={"pytorch", "parquet"}, code_version="1")
def aligned_projector(
    context: dg.AssetExecutionContext,
    config: ProjectorConfig,
    raw_interactions: pl.DataFrame,
    llm_embeddings: pl.DataFrame,
    lake: LakeResource,
) -> dg.Output[pl.DataFrame]:
    data = SplitData.from_frame(raw_interactions)
    n_users, n_items, train = data.n_users, data.n_items, data.train
    t_user, has_user = entity_matrix(llm_embeddings, "user", n_users)
    t_item, has_item = entity_matrix(llm_embeddings, "item", n_items)
    usable = has_user[train.users] & has_item[train.items]
    users, items = train.users[usable], train.items[usable]
    chosen, threshold = pseudo_labels(t_user, t_item, users, items, config.pseudo_quantile)
    context.log.info(
        f"{len(chosen)} pseudo-labelled pairs of {len(users)} train edges (cosine ≥ {threshold:.3f})"
    )
    settings = config.settings()
    model, result = train_projector(
        t_user,
        t_item,
        users[chosen],
        items[chosen],
        settings,
        report=lambda h: context.log.info(
            f"epoch {h['epoch']}: train {h['train_loss']:.4f}, held-out {h['holdout_loss']:.4f}"
        ),
    )
    with torch.no_grad():
        s_user, s_item = model(t_user), model(t_item)
    valid = raw_interactions.filter(pl.col("split") == "valid")
    eval_users = torch.from_numpy(valid["user_id"].to_numpy().astype("int64"))
    eval_items = torch.from_numpy(valid["item_id"].to_numpy().astype("int64"))
    auc_raw = separation_auc(t_user, t_item, eval_users, eval_items, n_items, config.seed)
    auc_projected = separation_auc(s_user, s_item, eval_users, eval_items, n_items, config.seed)
    path = lake.artifacts("aligned_projector", context.partition_key) / CHECKPOINT
    require_live_run(context.instance, context.run_id)  # a step that outlived its run writes nothing
    atomic_write(
        path,
        lambda tmp: torch.save({"state_dict": model.state_dict(), "d_llm": model.d_llm, "d": model.d}, tmp),
    )
    history = pl.DataFrame(result.history)
    png = training_curves_png(
        history["epoch"].to_list(),
        {
            "train InfoNCE": history["train_loss"].to_list(),
            "held-out InfoNCE": history["holdout_loss"].to_list(),
        },
        "projector alignment",
    )
    return dg.Output(
        vectors_table(s_user, s_item),
        metadata={
            "pseudo_pairs": len(chosen),
            "pseudo_threshold": round(threshold, 4),
            "best_epoch": result.best_epoch,
            "valid_auc_raw_cosine": round(auc_raw, 4),
            "valid_auc_projected_cosine": round(auc_projected, 4),
            "auc_gain": round(auc_projected - auc_raw, 4),
            "d_llm": model.d_llm,
            "d": model.d,
            "training_curve": dg.MetadataValue.md(png_markdown(png, "projector alignment")),
            "checkpoint": dg.MetadataValue.path(str(path)),
        },
    )
