"""Where the lake and the shared datasets are, as a configurable resource."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from llmhni_pipeline.datasets.registry import DatasetSpec, parse_dataset_key
from llmhni_pipeline.lake import (
    LakePath,
    artifact_dir,
    default_lake_dir,
    default_shared_data_dir,
    lake_location,
)
from llmhni_pipeline.recsys.checkpoint import ModelStore
from llmhni_pipeline.run_hygiene import require_live_run


class LakeResource(dg.ConfigurableResource):
    """The Parquet lake (``$LLMHNI_LAKE_DIR``: a folder or ``s3://bucket/prefix``) and the RLMRec data folder
    (``$LLMHNI_SHARED_DATA_DIR``)."""

    lake_dir: str = str(default_lake_dir())  # the lake: a folder or s3://bucket/prefix
    shared_data_dir: str = str(default_shared_data_dir())  # the RLMRec-format datasets (fetched or on disk)

    @property
    def lake_path(self) -> LakePath:
        return lake_location(self.lake_dir)

    @property
    def shared_path(self) -> Path:
        return Path(self.shared_data_dir)

    def spec(self, dataset_key: str) -> DatasetSpec:
        return parse_dataset_key(dataset_key, self.lake_path)

    def artifacts(self, table: str, dataset_key: str) -> LakePath:
        path = artifact_dir(self.lake_path, table, dataset_key)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def models(self, context: dg.AssetExecutionContext | None = None) -> ModelStore:
        """The named store of trained models (``pretrained_recommender``, ``joint_model``). With the step's
        ``context``, a save is refused once the run has ended (``run_hygiene.require_live_run``)."""
        if context is None:
            return ModelStore(self.lake_path)
        return ModelStore(self.lake_path, lambda: require_live_run(context.instance, context.run_id))
