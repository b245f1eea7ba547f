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


READ_ONLY_STATEMENTS = {
    duckdb.StatementType.SELECT,
    duckdb.StatementType.EXPLAIN,
    duckdb.StatementType.PRAGMA,
}


class ReadOnlyViolation(ValueError):
    """A statement that could write or reach outside the lake was refused."""


def connect(lake_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per table, then locked: no file outside the lake is reachable, no
    extension is installed or loaded, and the configuration cannot be changed back. Run queries through
    ``query``, which also refuses statements that write (COPY, ATTACH, CREATE, INSERT, ...)."""
    lake_dir = Path(lake_dir).resolve()
    con = duckdb.connect(":memory:")
    for statement in view_statements(lake_dir):
        con.execute(statement)
    con.execute("SET allowed_directories = [?]", [str(lake_dir)])
    for setting in ("enable_external_access", "autoinstall_known_extensions", "autoload_known_extensions"):
        con.execute(f"SET {setting} = false")
    con.execute("SET lock_configuration = true")
    return con


def query(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run read-only ``sql`` (one or more statements); the relation of the last one."""
    statements = con.extract_statements(sql)
    refused = [s for s in statements if s.type not in READ_ONLY_STATEMENTS]
    if refused:
        kind = str(refused[0].type).removeprefix("StatementType.")
        raise ReadOnlyViolation(
            f"the lake is read-only here: {kind} statements are refused ({refused[0].query.strip()[:80]!r})"
        )
    result = None
    for statement in statements:
        result = con.sql(statement.query)
    return result
