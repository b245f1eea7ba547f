"""The code location: every stage asset, its checks, the main job, automation and resources."""

from __future__ import annotations

import dagster as dg

from llmhni_pipeline.assets.aligned_projector import aligned_projector
from llmhni_pipeline.assets.augmented_graph import augmented_graph
from llmhni_pipeline.assets.baselines import baselines
from llmhni_pipeline.assets.candidate_pairs import candidate_pairs
from llmhni_pipeline.assets.evaluation import evaluation
from llmhni_pipeline.assets.joint_model import joint_model
from llmhni_pipeline.assets.llm_embeddings import llm_embeddings
from llmhni_pipeline.assets.llm_logical_scores import llm_logical_scores
from llmhni_pipeline.assets.pretrained_recommender import pretrained_recommender
from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.assets.report import report
from llmhni_pipeline.assets.text_profiles import text_profiles
from llmhni_pipeline.automation import (
    MAIN_JOB,
    incoming_datasets_sensor,
    judge_batches_sensor,
    stale_datasets_schedule,
)
from llmhni_pipeline.deploy.queues import EXECUTOR_ENV, executor_kind
from llmhni_pipeline.lake import default_lake_dir
from llmhni_pipeline.resources.device import DeviceResource
from llmhni_pipeline.resources.io_managers import PolarsParquetIOManager
from llmhni_pipeline.resources.lake import LakeResource
from llmhni_pipeline.resources.llm import LLMResource

ASSETS = [
    raw_interactions,
    text_profiles,
    llm_embeddings,
    aligned_projector,
    pretrained_recommender,
    candidate_pairs,
    llm_logical_scores,
    augmented_graph,
    joint_model,
    baselines,
    evaluation,
    report,
]

# the comparison methods train for minutes each: not part of the main job (its first run should stay within
# half an hour on a 2-core CPU); `llmhni materialize <key> --select baselines,evaluation` adds them
llmhni_job = dg.define_asset_job(
    MAIN_JOB,
    selection=dg.AssetSelection.all() - dg.AssetSelection.assets("baselines"),
    description="Materialize every LLMHNI stage for one dataset partition (the baselines asset is separate).",
)


def build_resources(lake_dir: str | None = None, device: str | None = None) -> dict[str, object]:
    lake = str(lake_dir or default_lake_dir())
    return {
        "io_manager": PolarsParquetIOManager(lake_dir=lake),
        "lake": LakeResource(lake_dir=lake),
        "device": DeviceResource(device=device) if device else DeviceResource(),
        "llm": LLMResource(lake_dir=lake),
    }


def build_executor() -> dg.ExecutorDefinition:
    """In-process by default (a subprocess per step would re-import torch for each stage); with
    ``LLMHNI_EXECUTOR=celery`` each step is a Celery task on a worker (the ``workers`` extra; docs/guide/workers.md)."""
    if executor_kind() == "celery":
        try:
            from llmhni_pipeline.deploy.executor import llmhni_celery_executor
        except ImportError as exc:
            raise ImportError(
                f"{EXECUTOR_ENV}=celery needs the workers extra: pip install -e '.[workers]' ({exc})"
            ) from None
        return llmhni_celery_executor
    return dg.in_process_executor


defs = dg.Definitions(
    assets=ASSETS,
    jobs=[llmhni_job],
    sensors=[incoming_datasets_sensor, judge_batches_sensor],
    schedules=[stale_datasets_schedule],
    resources=build_resources(),
    executor=build_executor(),
)
