"""Read-only DuckDB views over the lake: one view per asset table, all dataset partitions at once.

The guarantee that a query cannot write is DuckDB's own, not a list of statement keywords: the connection is
opened with ``enable_external_access`` off and its configuration locked, with no directory allowed, so no
statement (``COPY … TO``, ``EXPLAIN ANALYZE COPY``, ``PREPARE``/``EXECUTE``, ``ATTACH``, ``EXPORT DATABASE``,
``INSTALL``, a pragma, anything nested) can open a file, read or write. The tables reach DuckDB as Arrow datasets
that pyarrow reads (registered with the connection, so DuckDB's scans, filters and projections apply), never as
paths DuckDB could open. No folder name of the lake is ever pasted into SQL: the views are registered by name
through the Python API, and only folders named like an asset (``[a-z_][a-z0-9_]*``) become views.

An object-store lake is read through the same s3fs filesystem the pipeline writes with. ``llmhni sql
--print-views`` prints, for a DuckDB client of your own, ``CREATE VIEW`` statements with every name and path
quoted as SQL requires.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from llmhni_pipeline.lake import LakePath, is_remote, lake_location

_NOT_TABLES = {"raw", "incoming"}
TABLE_NAME = re.compile(r"[a-z_][a-z0-9_]*")  # what a view may be called: an asset's name
PARTITION_COLUMN = "dataset"


def _table_files(folder: LakePath) -> list[LakePath] | None:
    """The Parquet files of one table folder (hive partitions ``dataset=<key>/*.parquet``, or an unpartitioned
    ``part-0.parquet``); ``None`` when it holds none."""
    files = sorted((f for f in folder.glob("dataset=*/*.parquet") if f.is_file()), key=str)
    if files:
        return files
    if (folder / "part-0.parquet").is_file():
        return sorted((f for f in folder.glob("*.parquet") if f.is_file()), key=str)
    return None


def _table_folders(lake_dir: LakePath) -> list[LakePath]:
    if not lake_dir.is_dir():
        return []
    return sorted(
        (
            p
            for p in lake_dir.iterdir()
            if p.is_dir() and p.name not in _NOT_TABLES and not p.name.startswith((".", "_"))
        ),
        key=str,
    )


def outside_links(lake_dir: LakePath) -> list[str]:
    """Table folders, partitions and files of a local lake that are symbolic links leading outside it: never
    read (a link planted in the lake must not open a file elsewhere), and named by ``llmhni sql``."""
    if is_remote(lake_dir) or not lake_dir.is_dir():
        return []
    root = lake_dir.resolve()
    out = []
    for folder in _table_folders(lake_dir):
        for path in [folder, *folder.rglob("*")]:
            if path.is_symlink() and not path.resolve().is_relative_to(root):
                out.append(str(path.relative_to(lake_dir)))
    return out


def lake_tables(lake_dir: LakePath) -> dict[str, list[LakePath]]:
    """Table name → its Parquet files, for every asset-named folder that holds at least one; a file reached
    through a link that leads outside the lake is left out (``outside_links``)."""
    root = None if is_remote(lake_dir) else lake_dir.resolve()
    tables = {}
    for folder in _table_folders(lake_dir):
        if not TABLE_NAME.fullmatch(folder.name):
            continue
        files = _table_files(folder) or []
        if root is not None:
            files = [f for f in files if f.resolve().is_relative_to(root)]
        if files:
            tables[folder.name] = files
    return tables


def skipped_folders(lake_dir: LakePath) -> list[str]:
    """Folders of the lake that hold Parquet files but are not named like a table: left out of the views."""
    return [
        folder.name
        for folder in _table_folders(lake_dir)
        if not TABLE_NAME.fullmatch(folder.name) and _table_files(folder)
    ]


def sql_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


HTTPFS_NOTE = (
    "-- the lake is on an object store: in a DuckDB with httpfs, first run\n"
    "-- INSTALL httpfs; LOAD httpfs; CREATE SECRET (TYPE s3, PROVIDER credential_chain)\n"
    "-- (plus ENDPOINT '<host:port>', URL_STYLE 'path' for an S3-compatible server); credentials stay in your environment"
)


def _glob(lake_dir: LakePath, name: str, files: list[LakePath]) -> str:
    folder = lake_dir / name
    partitioned = any(f.parent != folder for f in files)
    return str(folder / f"{PARTITION_COLUMN}=*" / "*.parquet" if partitioned else folder / "*.parquet")


def view_statements(lake_dir: LakePath) -> list[str]:
    """``CREATE VIEW`` statements for a DuckDB client of the user's own (``llmhni sql --print-views``), every
    name and path quoted."""
    return [
        f"CREATE OR REPLACE VIEW {sql_identifier(name)} AS SELECT * FROM read_parquet("
        f"{sql_literal(_glob(lake_dir, name, files))}, hive_partitioning = true, union_by_name = true)"
        for name, files in lake_tables(lake_dir).items()
    ]


def _unified_schema(schemas: list, partitioned: bool):
    """One schema over every partition's (DuckDB's ``union_by_name``): each column once, types widened where
    they can be, text where two partitions disagree beyond that; the hive partition column last."""
    import pyarrow as pa

    fields: dict[str, list] = {}
    for schema in schemas:
        for f in schema:
            fields.setdefault(f.name, []).append(f.type)
    merged = []
    for name, types in fields.items():
        if name == PARTITION_COLUMN and partitioned:
            continue
        try:
            kind = (
                pa.unify_schemas([pa.schema([(name, t)]) for t in types], promote_options="permissive")
                .field(name)
                .type
            )
        except (pa.ArrowTypeError, pa.ArrowInvalid, pa.ArrowNotImplementedError):
            kind = pa.string()
        merged.append(pa.field(name, kind))
    if partitioned:
        merged.append(pa.field(PARTITION_COLUMN, pa.string()))
    return pa.schema(merged)


def arrow_dataset(lake_dir: LakePath, name: str, files: list[LakePath]):
    """One table's files as a pyarrow dataset (the partition key a ``dataset`` column), read through the lake's
    own filesystem."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    folder = lake_dir / name
    partitioned = any(f.parent != folder for f in files)
    if is_remote(lake_dir):
        filesystem, paths, base = lake_dir.fs, [f.path for f in files], folder.path
    else:
        filesystem, paths, base = None, [str(f) for f in files], str(folder)
    schemas = [pq.read_schema(p, filesystem=filesystem) for p in paths]
    return ds.dataset(
        paths,
        schema=_unified_schema(schemas, partitioned),
        format="parquet",
        filesystem=filesystem,
        partitioning=ds.partitioning(pa.schema([(PARTITION_COLUMN, pa.string())]), flavor="hive")
        if partitioned
        else None,
        partition_base_dir=base,
    )


READ_ONLY_STATEMENTS = {duckdb.StatementType.SELECT, duckdb.StatementType.EXPLAIN}
# PRAGMAs that only describe: every other one is refused before it runs, for a clear message (the connection
# could not act on them anyway: it has no file access and its configuration is locked)
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


_EXPLAINED = re.compile(r"^\s*explain\s+(analyze\s+)?(\([^)]*\)\s*)?", re.IGNORECASE)


def _refusal(statement) -> str | None:
    """Why a statement is refused with a clear message before it runs (``None``: it is left to DuckDB)."""
    if statement.type == duckdb.StatementType.PRAGMA:
        match = _PRAGMA_NAME.match(statement.query)
        name = match.group(1).lower() if match else "?"
        if name not in READ_ONLY_PRAGMAS:
            return f"PRAGMA {name} is refused (allowed: {', '.join(sorted(READ_ONLY_PRAGMAS))})"
        return None
    if statement.type not in READ_ONLY_STATEMENTS:
        return f"{str(statement.type).removeprefix('StatementType.')} statements are refused"
    if statement.type == duckdb.StatementType.EXPLAIN and (inner := _EXPLAINED.sub("", statement.query, 1)):
        try:  # what EXPLAIN [ANALYZE] would run: refused alike (EXPLAIN ANALYZE runs it)
            explained = duckdb.connect(":memory:", config=dict(LOCKED)).extract_statements(inner)
        except duckdb.Error:
            explained = []
        for nested in explained:
            if (why := _refusal(nested)) is not None:
                return f"EXPLAIN of a statement that is refused: {why}"
    for name in _PRAGMA_FUNCTION.findall(statement.query):
        if name.lower() not in READ_ONLY_PRAGMAS:
            return f"pragma_{name.lower()} is refused"
    return None


class ReadOnlyViolation(ValueError):
    """A statement that could write or reach outside the lake was refused."""


# fixed when the connection is opened, so not one statement ever runs on a connection that could open a file
LOCKED = {
    "enable_external_access": False,  # no file, directory, URL or extension: COPY, ATTACH, EXPORT, read_* fail
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "python_enable_replacements": False,  # a table name never resolves to a variable of this process
    # with external access off DuckDB still allows its temp directory (``<cwd>/.tmp/`` by default) and
    # ``<cwd>/:memory:*``: a COPY could write, or a read_csv read, there. None by default here; the shell runs in a
    # private empty working directory with its temp directory inside it (``private_workdir``)
    "temp_directory": "",
    "lock_configuration": True,  # and none of the above can be SET or RESET back
}


@contextmanager
def private_workdir() -> Iterator[Path]:
    """A fresh, empty, owner-only working directory for the shell's lifetime, removed afterwards: what DuckDB
    still allow-lists (its temp directory and ``<cwd>/:memory:*``) is then a folder nobody else's file is in.
    Give ``connect`` absolute paths: relative ones would be read from here."""
    before = os.getcwd()
    folder = Path(tempfile.mkdtemp(prefix="llmhni-sql-"))  # mode 0700
    os.chdir(folder)
    try:
        yield folder
    finally:
        os.chdir(before)
        shutil.rmtree(folder, ignore_errors=True)


def connect(lake_dir: LakePath, workdir: Path | None = None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB without file access (``LOCKED``), with a view per table of the lake; ``workdir``: the
    ``private_workdir`` it runs in (its temp directory goes inside it, so large queries may spill)."""
    lake_dir = lake_location(lake_dir)
    config = dict(LOCKED)
    if workdir is not None:
        config["temp_directory"] = str(workdir / ".tmp")
    con = duckdb.connect(":memory:", config=config)
    for name, files in lake_tables(lake_dir).items():
        con.register(name, arrow_dataset(lake_dir, name, files))
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
        try:
            result = con.sql(statement.query)
        except duckdb.PermissionException as exc:
            raise ReadOnlyViolation(
                f"the lake is read-only here: this shell's DuckDB opens no file ({exc})"
            ) from None
    return result
