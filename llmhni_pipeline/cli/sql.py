"""``llmhni sql``: the lake in a read-only DuckDB."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmhni_pipeline.cli.common import CLIError
from llmhni_pipeline.lake import default_lake_dir, is_remote, lake_location


def add_parser(sub) -> None:
    p = sub.add_parser("sql", help="query the lake with DuckDB (a view per asset, all datasets)")
    p.add_argument("query", nargs="?", help="SQL to run; without it an interactive prompt opens")
    p.add_argument("--lake", help="lake folder or s3:// URL (default $LLMHNI_LAKE_DIR or ./data_lake)")
    p.add_argument(
        "--print-views", action="store_true", help="print CREATE VIEW statements for the duckdb CLI"
    )
    p.set_defaults(func=cmd_sql)


def cmd_sql(args: argparse.Namespace) -> int:
    from llmhni_pipeline.lake_catalog import (
        HTTPFS_NOTE,
        connect,
        outside_links,
        private_workdir,
        skipped_folders,
        view_statements,
    )

    lake = lake_location(args.lake) if args.lake else default_lake_dir()
    if not lake.is_dir():
        raise CLIError(f"--lake {lake}: no such folder (materialize a dataset first, or point at the lake)")
    for name in skipped_folders(lake):
        print(f"note: {lake / name} is not named like a table ([a-z_][a-z0-9_]*): no view", file=sys.stderr)
    for name in outside_links(lake):
        print(f"note: {lake / name} is a link that leads outside the lake: not read", file=sys.stderr)
    if args.print_views:
        if is_remote(lake):
            print(HTTPFS_NOTE)
        print(";\n".join(view_statements(lake)) + ";")
        return 0
    if not is_remote(lake):
        lake = lake_location(
            Path(str(lake)).absolute()
        )  # the shell runs in a private folder: no relative path
    with private_workdir() as workdir:  # DuckDB's own allow-list (temp dir, :memory:*) points into it
        return run_shell(connect(lake, workdir), lake, args.query)


def run_shell(con, lake, sql: str | None) -> int:
    """One query (exit 2 if it failed) or the interactive prompt."""
    if sql:
        return 0 if show_query(con, sql, sys.stderr) else 2
    tables = [r[0] for r in con.execute("select view_name from duckdb_views() where not internal").fetchall()]
    print(f"DuckDB on {lake} (read-only views: {', '.join(tables) or 'none yet'}). End with an empty line.")
    while True:
        try:
            line = input("llmhni> ").strip()
        except EOFError:
            break
        if not line or line in {"exit", "quit", ".quit"}:
            break
        show_query(con, line, sys.stdout)
    return 0


def show_query(con, text: str, errors) -> bool:
    """Run one line of SQL on the read-only connection and print its result, or the error; whether it ran."""
    import duckdb

    from llmhni_pipeline.lake_catalog import ReadOnlyViolation, query

    try:
        relation = query(con, text)
        if relation is not None:
            relation.show(max_width=200)  # a lazy relation runs here: its errors too
    except (duckdb.Error, ReadOnlyViolation) as exc:
        print(f"error: {exc}", file=errors)
        return False
    return True
