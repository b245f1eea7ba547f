"""The one training recipe: any method, any backbone, from a named ``RunSpec``.

The Dagster assets (``pretrained_recommender``, ``joint_model``, ``baselines``) and the experiment harness
(``benchmarks/llmhni_experiments.py``) all call ``train``; its defaults are the project's defaults. Torch only
(no Dagster, no polars), so it runs unchanged on a GPU machine that has nothing else.

    seed once → build the backbone → warm start (optional) → the method's plan → fit → best epoch restored
"""

from __future__ import annotations

import dataclasses
import itertools
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from llmhni_pipeline.methods import MethodInputs, get_method
from llmhni_pipeline.methods.base import BuildContext, Plan
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.device import resolve_device, seed_everything
from llmhni_pipeline.recsys.evaluate import embedding_scorer, evaluate_ranking
from llmhni_pipeline.recsys.models import Backbone, build_backbone
from llmhni_pipeline.recsys.train import Objective, TrainResult, TrainSettings, fit

INITS = ("scratch", "pretrained")


@dataclass(frozen=True)
class RunSpec:
    """Everything that defines one training run. ``params`` override the method's own defaults."""

    method: str = "lightgcn"
    backbone: str = "lightgcn"  # lightgcn | ngcf | mf
    dim: int = 64
    n_layers: int = 3
    lr: float = 1e-3
    batch_size: int = 2048
    max_batches_per_epoch: int = (
        0  # 0: batch_size as given; else grown so an epoch has at most this many steps
    )
    reg_weight: float = 1e-5
    epochs: int = 300
    patience: int = 20  # evaluations without improvement before stopping
    # no early stop before this epoch: on ml-100k-noise10 a dip after epoch 2 outlasted the patience and ended
    # LightGCN at epoch 22, while its clean curve climbs until about epoch 66 (docs/notebook/2026-12-01-results.md, §7)
    min_epochs: int = 50
    eval_every: int = 1
    seed: int = 2026
    init: str = "scratch"  # scratch | pretrained (the pretrained recommender's weights)
    time_budget_s: float | None = None
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.init not in INITS:
            raise ValueError(f"init must be one of {', '.join(INITS)}, not {self.init!r}")

    def override(self, **changes: Any) -> RunSpec:
        """A copy with fields replaced; a ``params`` mapping is merged into the current one."""
        unknown = set(changes) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise ValueError(f"RunSpec has no field(s) {sorted(unknown)}")
        if "params" in changes:
            changes["params"] = {**self.params, **changes["params"]}
        return dataclasses.replace(self, **changes)

    def with_setting(self, key: str, value: Any) -> RunSpec:
        """A copy with one setting changed: ``key`` is a spec field or ``params.<name>`` (a method parameter)."""
        if key.startswith("params."):
            return self.override(params={key.removeprefix("params."): value})
        return self.override(**{key: value})

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> RunSpec:
        """The fields of ``values`` that are spec fields (e.g. a Dagster config's), by name."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in names})

    def settings(self, device: str) -> TrainSettings:
        return TrainSettings(
            epochs=self.epochs,
            batch_size=self.batch_size,
            max_batches_per_epoch=self.max_batches_per_epoch,
            lr=self.lr,
            reg_weight=self.reg_weight,
            patience=self.patience,
            min_epochs=self.min_epochs,
            eval_every=self.eval_every,
            seed=self.seed,
            device=device,
            time_budget_s=self.time_budget_s,
        )

    def hyper(self) -> dict[str, int]:
        return {"dim": self.dim, "n_layers": self.n_layers}

    def record(self) -> dict[str, Any]:
        """Flat description for run records and tables."""
        out = {k: v for k, v in dataclasses.asdict(self).items() if k != "params"}
        out["params"] = dict(self.params)
        return out


DEFAULTS = RunSpec()


@dataclass
class TrainedRun:
    spec: RunSpec
    model: Backbone
    objective: Objective
    result: TrainResult
    z_user: torch.Tensor  # ranking representations of the restored best epoch
    z_item: torch.Tensor

    def test_metrics(self, data: SplitData, device: torch.device | None = None) -> dict[str, float]:
        """Full-ranking test metrics, train ∪ valid masked."""
        dev = device or self.z_user.device
        return evaluate_ranking(
            embedding_scorer(self.z_user, self.z_item), data.test, data.train_valid_sets, device=dev
        )


def train(
    spec: RunSpec,
    inputs: MethodInputs,
    device: torch.device | str = "auto",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainedRun:
    """Train ``spec`` on ``inputs``; raises ``MethodUnavailable`` when the partition lacks what it needs."""
    dev = resolve_device(device) if isinstance(device, str) else device
    model, plan, generator = prepare(spec, inputs, dev)
    result = fit(
        plan.objective,
        inputs.data,
        spec.settings(str(dev)),
        positives=plan.positives,
        sampler=plan.sampler,
        on_epoch=on_epoch,
        generator=generator,
    )
    with torch.no_grad():
        z_user, z_item = plan.objective.embeddings()
    return TrainedRun(spec, model, plan.objective, result, z_user.detach(), z_item.detach())


def prepare(spec: RunSpec, inputs: MethodInputs, dev: torch.device) -> tuple[Backbone, Plan, torch.Generator]:
    """What ``train`` does before fitting: the method's check, the one seeding, the backbone on ``dev`` (warm
    started when ``spec.init`` says so) and the method's plan, with the run's sampling generator.
    ``benchmarks/gpu_scale.py`` times optimisation steps of the same plan."""
    method = get_method(spec.method)
    params = method.make_params(spec.params)
    method.check(inputs, spec.backbone, params)
    warm = spec.init == "pretrained"
    if warm and inputs.pretrained is None:
        raise ValueError("init 'pretrained' needs the pretrained recommender's weights")
    generator = seed_everything(spec.seed)  # the one seeding: initial weights, sampling, noise, dropout
    data = inputs.data
    model = build_backbone(spec.backbone, data.n_users, data.n_items, **spec.hyper())
    if warm:
        try:
            model.load_state_dict(inputs.pretrained)
        except RuntimeError as exc:
            raise ValueError(
                f"the pretrained recommender's weights do not fit {spec.backbone} {spec.hyper()}: re-materialize "
                f"pretrained_recommender with the same backbone and sizes, or use init 'scratch' ({exc})"
            ) from None
    model = model.to(dev)
    return model, method.build(BuildContext(model, inputs, params, spec.reg_weight, dev, warm)), generator


def setting_label(key: str) -> str:
    """A choice key as tables and logs show it: ``params.lambda_de+params.lambda_hal`` → ``lambda_de+lambda_hal``."""
    return key.replace("params.", "")


def candidate_grid(choices: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
    """Every combination of ``choices`` (key → values), in order; ``[{}]`` when there is nothing to choose."""
    grid = itertools.product(*choices.values())
    return [dict(zip(choices, values, strict=True)) for values in grid] or [{}]


def with_choice(spec: RunSpec, setting: Mapping[str, Any]) -> RunSpec:
    """``spec`` with one grid point applied; a key joining several settings by ``+`` sets each to the value."""
    for keys, value in setting.items():
        for key in keys.split("+"):
            spec = spec.with_setting(key, value)
    return spec


def train_choosing(
    spec: RunSpec,
    inputs: MethodInputs,
    choices: Mapping[str, Sequence[Any]],
    device: torch.device | str = "auto",
    logger: Callable[[str], Callable[[dict[str, float]], None] | None] | None = None,
) -> tuple[TrainedRun, list[dict[str, Any]]]:
    """``train`` at every combination of ``choices`` and keep the run with the best validation R@20; the first
    candidate wins ties. A key is a setting as ``RunSpec.with_setting`` takes it, or several joined by ``+``
    that take the same value (``params.lambda_de+params.lambda_hal``). ``logger(label)`` gives each
    candidate's per-epoch callback. Returns the chosen run and one row per candidate (its settings, best
    epoch, validation R@20, chosen). The test split is not touched."""
    grid = candidate_grid(choices)
    best, rows = None, []
    for n, setting in enumerate(grid, 1):
        candidate = with_choice(spec, setting)
        shown = ", ".join(f"{setting_label(k)} {v}" for k, v in setting.items())
        label = f"candidate {n}/{len(grid)} ({shown}): "
        run = train(candidate, inputs, device, logger(label if len(grid) > 1 else "") if logger else None)
        score = run.result.best_valid.get("recall@20", float("nan"))
        rows.append({**setting, "best_epoch": run.result.best_epoch, "valid_recall@20": score})
        if best is None or score > best[1]:
            best = (run, score, len(rows) - 1)
    for i, row in enumerate(rows):
        row["chosen"] = i == best[2]
    return best[0], rows


def train_and_test(
    spec: RunSpec, inputs: MethodInputs, device: torch.device | str = "auto"
) -> dict[str, Any]:
    """``train``, then the test split once: one run record (what the harness writes a JSON line of)."""
    run = train(spec, inputs, device)
    t = time.perf_counter()
    test = run.test_metrics(inputs.data)
    history = run.result.history
    return {
        **run.spec.record(),
        "seconds_per_epoch": statistics.mean(r["train_seconds"] for r in history),
        "eval_seconds": statistics.mean(r.get("eval_seconds", 0.0) for r in history),
        "full_test_eval_seconds": time.perf_counter() - t,
        "epochs_run": run.result.epochs_run,
        "best_epoch": run.result.best_epoch,
        "device": run.result.device,
        "train_seconds": run.result.train_seconds,
        "warnings": "; ".join(run.result.warnings),
        "valid_recall@20": run.result.best_valid.get("recall@20", float("nan")),
        "valid_ndcg@10": run.result.best_valid.get("ndcg@10", float("nan")),
        **{f"test_{k}": v for k, v in test.items() if k != "users"},
    }


def mean_std(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"
