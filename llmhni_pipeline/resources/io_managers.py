"""Polars ↔ hive-style Parquet IO manager (dagster-polars is broken with polars 2, see dagster_notes.md)."""

from __future__ import annotations

import hashlib

import dagster as dg
import polars as pl

from llmhni_pipeline.lake import (
    LINEAGE_KEY,
    STAGE0,
    LakePath,
    atomic_write,
    default_lake_dir,
    lake_location,
    read_table,
    recorded_lineage,
    table_path,
)
from llmhni_pipeline.run_hygiene import require_live_run


def frame_fingerprint(frame: pl.DataFrame) -> str:
    """Content fingerprint of a stage-0 table (row order does not matter)."""
    text = frame.sort(frame.columns).write_csv()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def table_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()])


class PolarsParquetIOManager(dg.ConfigurableIOManager):
    """Writes ``<lake>/<asset>/dataset=<partition>/part-0.parquet`` atomically; reads it back for downstream.

    The write goes through a temporary file and a rename, so a failed or killed run never leaves a half
    written table over a good one. Every table records the fingerprint of the stage-0 table it derives from;
    reading a table built from another stage-0 version than the current one raises ``StaleTableError``.
    """

    lake_dir: str = str(default_lake_dir())  # the lake tables are written to and read from

    def _path(self, asset_key: dg.AssetKey, partition: str | None) -> LakePath:
        return table_path(lake_location(self.lake_dir), asset_key.path[-1], partition)

    def handle_output(self, context: dg.OutputContext, obj: pl.DataFrame) -> None:
        if obj is None:  # assets that write their own files return nothing through the IO manager
            return
        if not isinstance(obj, pl.DataFrame):
            raise TypeError(
                f"{context.asset_key.to_user_string()} returned {type(obj).__name__}, "
                "expected a polars DataFrame"
            )
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = self._path(context.asset_key, partition)
        if context.asset_key.path[-1] == STAGE0:
            lineage = frame_fingerprint(obj)
        else:  # derived tables (id_mappings too) carry the fingerprint of the stage-0 table now in the lake
            lineage = recorded_lineage(self._path(dg.AssetKey(STAGE0), partition))
        kv = {LINEAGE_KEY: lineage} if lineage else None
        step = context.step_context if context.has_asset_key else None
        require_live_run(getattr(step, "instance", None), context.run_id)  # a step that outlived its run
        atomic_write(path, lambda tmp: obj.write_parquet(tmp, compression="zstd", metadata=kv))
        context.add_output_metadata(
            {
                "rows": dg.MetadataValue.int(obj.height),
                "path": dg.MetadataValue.path(str(path)),
                "dagster/column_schema": table_schema(obj),
            }
        )

    def load_input(self, context: dg.InputContext) -> pl.DataFrame:
        partition = context.asset_partition_key if context.has_asset_partitions else None
        path = self._path(context.asset_key, partition)
        if not path.is_file():
            raise FileNotFoundError(
                f"{path}: upstream table {context.asset_key.to_user_string()} has not been "
                f"materialized for partition {partition!r}"
            )
        return read_table(lake_location(self.lake_dir), context.asset_key.path[-1], partition)
