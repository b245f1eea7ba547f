"""One training run end to end — build, fit, restore the best epoch, test — for benchmarks and scripts."""

from __future__ import annotations

import statistics
import time

import torch

from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.device import resolve_device
from llmhni_pipeline.recsys.evaluate import embedding_scorer, evaluate_ranking
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.joint import JointObjective, JointWeights
from llmhni_pipeline.recsys.models import build_backbone
from llmhni_pipeline.recsys.sampling import NegativeSampler
from llmhni_pipeline.recsys.train import BPRObjective, Objective, TrainSettings, fit


def train_and_test(
    data: SplitData,
    settings: TrainSettings,
    backbone: str = "lightgcn",
    dim: int = 64,
    n_layers: int = 3,
    sampler: NegativeSampler | None = None,
    joint: JointWeights | None = None,
    augmented: InteractionGraph | None = None,
    init_state: dict[str, torch.Tensor] | None = None,
) -> dict[str, float]:
    """Training with early stopping on valid, then full-ranking test metrics of the restored best epoch.

    Plain BPR on the training graph by default; with ``joint`` the LLMHNI objective on G and G′ =
    ``augmented`` (G itself when absent), whose edges are then the BPR positives. ``init_state`` warm-starts
    the backbone (e.g. from the pretrained recommender) instead of a random initialisation.
    """
    device = resolve_device(settings.device)
    torch.manual_seed(settings.seed)
    model = build_backbone(backbone, data.n_users, data.n_items, dim=dim, n_layers=n_layers)
    if init_state is not None:
        model.load_state_dict(init_state)
    positives = augmented or data.train
    objective: Objective = (
        JointObjective(model, data.train, positives, joint, device)
        if joint
        else BPRObjective(model, positives, settings.reg_weight, device)
    )
    result = fit(objective, data, settings, positives=positives, sampler=sampler)
    with torch.no_grad():
        z_u, z_i = objective.embeddings()
    t = time.perf_counter()
    test = evaluate_ranking(embedding_scorer(z_u, z_i), data.test, data.train_valid_sets, device=device)
    return {
        "seed": settings.seed,
        "sampler": sampler.name if sampler else "uniform",
        "seconds_per_epoch": statistics.mean(r["train_seconds"] for r in result.history),
        "eval_seconds": statistics.mean(r.get("eval_seconds", 0.0) for r in result.history),
        "full_test_eval_seconds": time.perf_counter() - t,
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "device": result.device,
        "train_seconds": result.train_seconds,
        "warnings": "; ".join(result.warnings),
        "valid_recall@20": result.best_valid.get("recall@20", float("nan")),
        "test_recall@20": test["recall@20"],
        "test_ndcg@10": test["ndcg@10"],
        "test_recall@10": test["recall@10"],
        "test_ndcg@20": test["ndcg@20"],
    }


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
