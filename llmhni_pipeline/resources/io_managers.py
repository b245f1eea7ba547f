"""Polars ↔ hive-style Parquet IO manager (dagster-polars is broken with polars 2, see dagster_notes.md)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import polars as pl

from llmhni_pipeline.lake import atomic_write, default_lake_dir, table_path


def table_schema(frame: pl.DataFrame) -> dg.TableSchema:
    return dg.TableSchema(columns=[dg.TableColumn(name, str(dtype)) for name, dtype in frame.schema.items()])


class PolarsParquetIOManager(dg.ConfigurableIOManager):
    """Writes ``<lake>/<asset>/dataset=<partition>/part-0.parquet`` atomically; reads it back for downstream.

    The write goes through a temporary file and a rename, so a failed or killed run never leaves a half
    written table over a good one.
    """

    lake_dir: str = str(default_lake_dir())

    def _path(self, asset_key: dg.AssetKey, partition: str | None) -> Path:
        return table_path(Path(self.lake_dir), asset_key.path[-1], partition)

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
        atomic_write(path, lambda tmp: obj.write_parquet(tmp, compression="zstd"))
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
        return pl.read_parquet(path)
