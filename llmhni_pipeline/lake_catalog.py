"""Read-only DuckDB views over the lake: one view per asset table, all dataset partitions at once.

An object-store lake is read through the same s3fs filesystem the pipeline writes with, registered with the
connection (DuckDB's fsspec support), because DuckDB's own ``httpfs`` extension is downloaded at first use from
extensions.duckdb.org, which an offline host cannot reach; ``llmhni sql --print-views`` says how to read the
same views from a DuckDB that has ``httpfs``."""

from __future__ import annotations

import re

import duckdb

from llmhni_pipeline.lake import LakePath, is_remote, lake_location

_NOT_TABLES = {"raw", "incoming"}


def lake_tables(lake_dir: LakePath) -> dict[str, str]:
    """Table name → Parquet glob for every asset folder that holds at least one partition file."""
    tables = {}
    if not lake_dir.is_dir():
        return tables
    for folder in sorted((p for p in lake_dir.iterdir() if p.is_dir()), key=str):
        if folder.name in _NOT_TABLES or folder.name.startswith((".", "_")):
            continue
        if any(folder.glob("dataset=*/*.parquet")):
            tables[folder.name] = str(folder / "dataset=*" / "*.parquet")
        elif (folder / "part-0.parquet").is_file():
            tables[folder.name] = str(folder / "*.parquet")
    return tables


HTTPFS_NOTE = (
    "-- the lake is on an object store: in a DuckDB with httpfs, first run\n"
    "-- INSTALL httpfs; LOAD httpfs; CREATE SECRET (TYPE s3, PROVIDER credential_chain)\n"
    "-- (plus ENDPOINT '<host:port>', URL_STYLE 'path' for an S3-compatible server); credentials stay in your environment"
)


def view_statements(lake_dir: LakePath) -> list[str]:
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


def connect(lake_dir: LakePath) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with a view per table, then locked: no file outside the lake is reachable, no
    extension is installed or loaded, and the configuration cannot be changed back. Run queries through
    ``query``, which also refuses statements that write (COPY, ATTACH, CREATE, INSERT, ...)."""
    lake_dir = lake_location(lake_dir)
    con = duckdb.connect(":memory:")
    if is_remote(lake_dir):
        con.register_filesystem(lake_dir.fs)  # the views' s3:// globs are read through s3fs
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
