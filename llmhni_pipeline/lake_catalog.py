"""Read-only DuckDB views over the lake: one view per asset table, all dataset partitions at once."""

from __future__ import annotations

from pathlib import Path

import duckdb

_NOT_TABLES = {"raw", "incoming"}


def lake_tables(lake_dir: Path) -> dict[str, str]:
    """Table name → Parquet glob for every asset folder that holds at least one partition file."""
    tables = {}
    if not lake_dir.is_dir():
        return tables
    for folder in sorted(p for p in lake_dir.iterdir() if p.is_dir()):
        if folder.name in _NOT_TABLES or folder.name.startswith((".", "_")):
            continue
        if any(folder.glob("dataset=*/*.parquet")):
            tables[folder.name] = str(folder / "dataset=*" / "*.parquet")
        elif (folder / "part-0.parquet").is_file():
            tables[folder.name] = str(folder / "*.parquet")
    return tables


def view_statements(lake_dir: Path) -> list[str]:
    return [
        f"CREATE OR REPLACE VIEW {name} AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true, "
        f"union_by_name = true)"
        for name, glob in lake_tables(lake_dir).items()
    ]


def connect(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per table; it only reads Parquet, so it never locks a materialization."""
    con = duckdb.connect(":memory:")
    for statement in view_statements(lake_dir):
        con.execute(statement)
    return con
