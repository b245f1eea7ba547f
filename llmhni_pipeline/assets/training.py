"""What the training stages share: run config (defaults from ``recipe.RunSpec``), progress logging, curve plot and
metadata."""

import time

import dagster as dg
import polars as pl

from llmhni_pipeline.plots import png_markdown, training_curves_png
from llmhni_pipeline.recipe import DEFAULTS, RunSpec
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.train import TrainResult


class BackboneTrainingConfig(dg.Config):
    """Backbone and optimisation settings; each default is ``RunSpec``'s (method_spec §6.1)."""

    backbone: str = DEFAULTS.backbone  # lightgcn | ngcf | mf
    dim: int = DEFAULTS.dim  # embedding width
    n_layers: int = DEFAULTS.n_layers  # graph propagation layers
    lr: float = DEFAULTS.lr  # Adam learning rate
    batch_size: int = DEFAULTS.batch_size  # (user, positive, negative) triples per step
    # 0: off; N: the batch grows with the graph so an epoch is at most N full-graph propagations (large graphs)
    max_batches_per_epoch: int = DEFAULTS.max_batches_per_epoch
    reg_weight: float = DEFAULTS.reg_weight  # L2 on the batch's ego embeddings
    epochs: int = (
        DEFAULTS.epochs
    )  # at most this many epochs (early stopping on validation usually ends sooner)
    patience: int = DEFAULTS.patience  # evaluations without a better validation recall@20 before stopping
    min_epochs: int = DEFAULTS.min_epochs  # no early stop before this epoch
    eval_every: int = DEFAULTS.eval_every  # epochs between validation evaluations
    seed: int = DEFAULTS.seed  # the one seed: initial weights, sampling, dropout

    def spec(self, **fields: object) -> RunSpec:
        """The recipe's spec from this config's fields, by name, plus ``fields``."""
        return RunSpec.from_mapping({**self.model_dump(), **fields})


def warn_cold_entities(context: dg.AssetExecutionContext, data: SplitData) -> dict[str, int]:
    """Users/items without a training edge get only their random initial embedding: say so, loudly."""
    cold = {
        "cold_users": int((data.train.user_degree() == 0).sum()),
        "cold_items": int((data.train.item_degree() == 0).sum()),
    }
    for name, count in cold.items():
        if count:
            context.log.warning(
                f"{count} {name.split('_')[1]} have no training edge; they are ranked from their "
                "untrained initial embedding"
            )
    return cold


def epoch_logger(
    context: dg.AssetExecutionContext, total_epochs: int, every_seconds: float = 15.0, label: str = ""
):
    """Progress at a readable rate: the first epoch, then at most one line per ``every_seconds`` (the best so far
    in each), with the time left if training ran to ``total_epochs`` (early stopping usually ends it sooner). One
    logger per training run; ``label`` names the run (e.g. a candidate of a validated choice). A line at every
    new best once filled the main job's console with a hundred of them."""
    state = {"last": -float("inf"), "best": -float("inf"), "start": time.perf_counter()}

    def log(record: dict[str, float]) -> None:
        now, epoch = time.perf_counter(), int(record["epoch"])
        score = record.get("valid_recall@20", float("nan"))
        state["best"] = max(state["best"], score) if score == score else state["best"]
        if epoch > 1 and now - state["last"] < every_seconds:
            return
        state["last"] = now
        per_epoch = (now - state["start"]) / epoch
        valid = f", valid recall@20 {score:.4f} (best {state['best']:.4f})" if score == score else ""
        context.log.info(
            f"{label}epoch {epoch}/{total_epochs}: loss {record['loss']:.4f}{valid}; {per_epoch:.1f}s/epoch, "
            f"at most {per_epoch * (total_epochs - epoch):.0f}s left"
        )

    return log


def training_metadata(result: TrainResult, title: str) -> dict[str, object]:
    history = pl.DataFrame(result.history)
    series = {"train loss": history["loss"].to_list()}
    if "valid_recall@20" in history.columns:
        series["valid recall@20"] = history["valid_recall@20"].to_list()
    png = training_curves_png(history["epoch"].to_list(), series, title)
    return {
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "best_valid_recall@20": round(result.best_valid.get("recall@20", float("nan")), 5),
        "best_valid_ndcg@10": round(result.best_valid.get("ndcg@10", float("nan")), 5),
        "stopped_early": result.stopped_early,
        "train_seconds": round(result.train_seconds, 1),
        "device": result.device,
        "training_curve": dg.MetadataValue.md(png_markdown(png, title)),
        "warnings": "; ".join(result.warnings) or "-",
    }
