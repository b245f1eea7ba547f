"""Read-only DuckDB views over the lake: one view per asset table, all dataset partitions at once."""

from __future__ import annotations

import re
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


READ_ONLY_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
# PRAGMAs that only describe: every other one is refused (import_database runs a folder's load.sql, which may
# COPY over a table; others change settings or write profiles)
READ_ONLY_PRAGMAS = {
    "show_tables",
    "show_tables_expanded",
    "table_info",
    "show",
    "version",
    "database_size",
    "database_list",
    "functions",
    "collations",
    "platform",
    "user_agent",
    "storage_info",
    "metadata_info",
}
_PRAGMA_NAME = re.compile(r"\s*pragma\s+([a-z_][a-z0-9_]*)", re.IGNORECASE)
# the same pragmas as table functions (SELECT * FROM pragma_import_database(...)) are refused alike
_PRAGMA_FUNCTION = re.compile(r"\bpragma_([a-z_][a-z0-9_]*)\s*\(", re.IGNORECASE)


def _refusal(statement) -> str | None:
    """Why a statement may not run here (``None``: it may)."""
    if statement.type == duckdb.StatementType.PRAGMA:
        match = _PRAGMA_NAME.match(statement.query)
        name = match.group(1).lower() if match else "?"
        if name not in READ_ONLY_PRAGMAS:
            return f"PRAGMA {name} is refused (allowed: {', '.join(sorted(READ_ONLY_PRAGMAS))})"
        return None
    if statement.type not in READ_ONLY_STATEMENTS:
        return f"{str(statement.type).removeprefix('StatementType.')} statements are refused"
    for name in _PRAGMA_FUNCTION.findall(statement.query):
        if name.lower() not in READ_ONLY_PRAGMAS:
            return f"pragma_{name.lower()} is refused"
    return None


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
    for statement in statements:
        why = _refusal(statement)
        if why:
            raise ReadOnlyViolation(f"the lake is read-only here: {why} ({statement.query.strip()[:80]!r})")
    result = None
    for statement in statements:
        result = con.sql(statement.query)
    return result
