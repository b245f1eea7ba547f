import tempfile
from pathlib import Path

import dagster as dg
import pytest

from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.cli import main
from llmhni_pipeline.definitions import build_resources
from llmhni_pipeline.lake import table_path
from llmhni_pipeline.lake_catalog import ReadOnlyViolation, connect, query
from llmhni_pipeline_tests.conftest import write_incoming


def _shop(lake, datasets_instance) -> None:
    """A 4-user incoming dataset ``shop`` with its stage 0 materialized."""
    write_incoming(
        lake, "shop", "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(4) for i in range(10))
    )
    dg.materialize(
        [raw_interactions],
        partition_key="shop",
        instance=datasets_instance("shop"),
        resources=build_resources(str(lake)),
    )


def test_views_span_every_partition_and_the_cli_prints_counts(lake, capsys, datasets_instance):
    write_incoming(
        lake, "shop", "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(4) for i in range(10))
    )
    instance = datasets_instance("ml-100k", "shop")
    for key in ("ml-100k", "shop"):
        dg.materialize(
            [raw_interactions], partition_key=key, instance=instance, resources=build_resources(str(lake))
        )
    con = connect(lake)
    rows = dict(con.execute("select dataset, count(*) from raw_interactions group by all").fetchall())
    assert rows == {"ml-100k": 55_375, "shop": 40}
    assert con.execute("select count(distinct entity) from id_mappings").fetchone()[0] == 2
    assert (
        main(
            [
                "sql",
                "--lake",
                str(lake),
                "select dataset, split, count(*) n from raw_interactions "
                "where dataset = 'shop' group by all order by split",
            ]
        )
        == 0
    )
    out = capsys.readouterr().out
    assert "shop" in out and "train" in out


def test_the_sql_door_cannot_write_attach_install_or_read_outside_the_lake(
    lake, tmp_path, capsys, datasets_instance
):
    _shop(lake, datasets_instance)
    path = table_path(lake, "raw_interactions", "shop")
    before = path.read_bytes()
    con = connect(lake)
    outside = tmp_path / "outside.csv"
    outside.write_text("a\n1\n")
    for sql, refused in [
        (f"copy (select 1 as user_id) to '{path}' (format parquet)", "COPY statements are refused"),
        (f"attach '{tmp_path / 'x.db'}'", "ATTACH statements are refused"),
        ("install httpfs", "LOAD statements are refused"),
        ("create table t as select 1", "CREATE statements are refused"),
        ("select 1; copy (select 1) to 'x.csv'", "COPY statements are refused"),
    ]:
        with pytest.raises(ReadOnlyViolation, match=refused):
            query(con, sql)
    import duckdb

    with pytest.raises(ReadOnlyViolation, match="opens no file"):
        query(con, f"select * from read_csv('{outside}')")
    with pytest.raises(ReadOnlyViolation, match="SET statements are refused"):
        query(con, "set enable_external_access = true")
    with pytest.raises(duckdb.Error):  # and the connection itself is locked
        con.execute("set enable_external_access = true")
    assert path.read_bytes() == before and not (tmp_path / "x.db").exists()
    assert query(con, "select count(*) from raw_interactions").fetchall() == [(40,)]
    assert main(["sql", "--lake", str(lake), f"copy (select 1) to '{path}'"]) == 2
    assert "read-only" in capsys.readouterr().err and path.read_bytes() == before


def test_no_pragma_that_executes_or_writes_gets_through(lake, datasets_instance):
    """PRAGMA import_database runs a load.sql planted in the lake (its COPY overwrote a table): refused, as
    statement and as table function; describing PRAGMAs still work."""
    _shop(lake, datasets_instance)
    path = table_path(lake, "id_mappings", "shop")
    before = path.read_bytes()
    planted = lake / "raw" / "planted"
    planted.mkdir()
    (planted / "schema.sql").write_text("")
    (planted / "load.sql").write_text(f"COPY (SELECT 1 AS x) TO '{path}' (FORMAT parquet);\n")
    con = connect(lake)
    for sql in [
        f"PRAGMA import_database('{planted}')",
        f"pragma  IMPORT_DATABASE('{planted}')",
        f"select * from pragma_import_database('{planted}')",
        "pragma enable_profiling",
        f"pragma profiling_output = '{lake / 'p.json'}'",
        "pragma threads = 1",
    ]:
        with pytest.raises(ReadOnlyViolation, match="refused"):
            query(con, sql)
    assert path.read_bytes() == before and not (lake / "p.json").exists()
    assert {"raw_interactions", "id_mappings"} <= {r[0] for r in query(con, "pragma show_tables").fetchall()}
    assert "user_id" in {r[1] for r in query(con, "pragma table_info('raw_interactions')").fetchall()}
    assert query(con, "select count(*) from pragma_table_info('raw_interactions')").fetchall()[0][0] >= 3


def _files_under(root) -> dict[str, bytes]:
    return {str(p): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


WRITES = [  # statements that write through DuckDB if it can open a file at all; run on the raw connection
    "EXPLAIN ANALYZE COPY (select 'item' entity, 0::int id, 'pwned' raw_id) TO '{target}' (FORMAT parquet)",
    "EXPLAIN COPY (select 1 AS x) TO '{target}' (FORMAT parquet)",
    "COPY (select 1 AS x) TO '{target}' (FORMAT parquet)",
    "PREPARE p AS COPY (select 1 AS x) TO '{target}' (FORMAT parquet)",
    "EXPLAIN ANALYZE EXPORT DATABASE '{folder}'",
    "ATTACH '{folder}/x.db' AS x",
    "EXPLAIN ANALYZE CREATE TABLE t AS SELECT * FROM read_csv('{target}')",
    "select * from read_parquet('{target}')",
    "select * from glob('{folder}/*')",
    "INSTALL httpfs",
    "SET enable_external_access = true",
    "RESET enable_external_access",
    "SET allowed_directories = ['/']",
]


def test_the_connection_itself_cannot_open_a_file_whatever_the_statement(lake, tmp_path, datasets_instance):
    """The read-only guarantee is DuckDB's (no file access, configuration locked), not a keyword list: each
    writing statement is run on the raw connection, past ``query``'s refusals, and every file stays as it was."""
    import duckdb

    _shop(lake, datasets_instance)
    target = table_path(lake, "id_mappings", "shop")
    before = _files_under(tmp_path)
    con = connect(lake)
    for template in WRITES:
        sql = template.format(target=target, folder=target.parent)
        with pytest.raises(duckdb.Error):
            con.sql(sql).fetchall()
    with pytest.raises(duckdb.Error):  # nor through a statement prepared before: PREPARE had no file either
        con.sql("EXECUTE p").fetchall()
    assert _files_under(tmp_path) == before
    assert con.sql("select count(*) from raw_interactions").fetchall() == [(40,)]


def test_the_cli_refuses_explain_analyze_copy_and_the_table_survives(lake, capsys, datasets_instance):
    _shop(lake, datasets_instance)
    path = table_path(lake, "raw_interactions", "shop")
    before = path.read_bytes()
    for sql in (
        f"EXPLAIN ANALYZE COPY (select 1 AS user_id) TO '{path}' (FORMAT parquet)",
        f"select 1; EXPLAIN ANALYZE COPY (select 1 AS user_id) TO '{path}' (FORMAT parquet)",
        f"PREPARE p AS COPY (select 1) TO '{path}'; EXECUTE p",
    ):
        assert main(["sql", "--lake", str(lake), sql]) == 2
        assert "error" in capsys.readouterr().err
    assert path.read_bytes() == before


HOSTILE = "w AS SELECT 1; COPY (SELECT 42 AS x) TO 'pwned.csv'; --"


def test_hostile_folder_names_are_never_sql(lake, tmp_path, monkeypatch, capsys, datasets_instance):
    """A table folder named like SQL is left out (and said so); a partition folder's name is data; the lake's
    own path is quoted in --print-views. Nothing is written anywhere."""
    import duckdb
    import polars as pl

    _shop(lake, datasets_instance)
    monkeypatch.chdir(tmp_path)
    evil_table = lake / HOSTILE / "dataset=shop"
    evil_table.mkdir(parents=True)
    pl.DataFrame({"x": [1]}).write_parquet(evil_table / "part-0.parquet")
    evil_partition = lake / "raw_interactions" / "dataset=x'); COPY (SELECT 1) TO 'p2.csv'; --"
    evil_partition.mkdir()
    pl.read_parquet(table_path(lake, "raw_interactions", "shop")).head(3).write_parquet(
        evil_partition / "part-0.parquet"
    )
    before = _files_under(tmp_path)
    con = connect(lake)
    views = {r[0] for r in con.sql("select view_name from duckdb_views() where not internal").fetchall()}
    assert HOSTILE not in views and "raw_interactions" in views
    keys = dict(con.sql("select dataset, count(*) from raw_interactions group by all").fetchall())
    assert keys == {"shop": 40, evil_partition.name.removeprefix("dataset="): 3}
    assert main(["sql", "--lake", str(lake), "select 1"]) == 0
    assert "not named like a table" in capsys.readouterr().err
    assert main(["sql", "--lake", str(lake), "--print-views"]) == 0
    printed = capsys.readouterr().out
    assert HOSTILE not in printed
    assert _files_under(tmp_path) == before and not list(tmp_path.rglob("p*.csv"))
    # the printed views, run in a DuckDB of the user's own (with file access), read the lake and write nothing
    mine = duckdb.connect()
    mine.execute(printed)
    assert mine.sql("select count(*) from raw_interactions").fetchall() == [(43,)]
    assert _files_under(tmp_path) == before


def test_print_views_quotes_a_lake_path_with_a_quote(tmp_path, datasets_instance, ml100k_raw, capsys):
    import duckdb

    lake = tmp_path / "o'brien's lake"
    (lake / "raw").mkdir(parents=True)
    _shop(lake, datasets_instance)
    assert main(["sql", "--lake", str(lake), "--print-views"]) == 0
    mine = duckdb.connect()
    mine.execute(capsys.readouterr().out)
    assert mine.sql("select count(*) from raw_interactions").fetchall() == [(40,)]


@pytest.mark.parametrize(
    "sql",
    [
        "EXPLAIN ANALYZE COPY (select 'pwned' AS a) TO ':memory:.wal'",
        "COPY (select 'pwned' AS a) TO ':memory:x'",
        "COPY (select 'pwned' AS a) TO '.tmp/written.csv'",
        "select * from read_csv('.tmp/secret.csv')",
        "EXPLAIN ANALYZE COPY (select 'pwned' AS a) TO '.tmp/written.csv'",
    ],
)
def test_the_sql_shell_opens_no_file_in_its_working_directory(
    lake, tmp_path, monkeypatch, datasets_instance, sql
):
    """DuckDB allow-lists its temp directory (``<cwd>/.tmp/``) and ``<cwd>/:memory:*`` even with external
    access off: the shell's connection has no temp directory, so neither route opens a file."""
    _shop(lake, datasets_instance)
    cwd = tmp_path / "cwd"
    (cwd / ".tmp").mkdir(parents=True)
    (cwd / ".tmp" / "secret.csv").write_text("a,b\n1,2\n")
    monkeypatch.chdir(cwd)
    before = _files_under(cwd)
    private = set(Path(tempfile.gettempdir()).glob("llmhni-sql-*"))
    assert main(["sql", "--lake", str(lake), sql]) == 2
    assert _files_under(cwd) == before
    assert set(Path(tempfile.gettempdir()).glob("llmhni-sql-*")) == private  # its private folder is gone
    # and on the raw connection in the shell's private folder, past the refusals: nothing outside it opens
    import duckdb

    from llmhni_pipeline.lake_catalog import private_workdir

    with private_workdir() as workdir:
        con = connect(lake, workdir)
        for route in (
            "select * from read_csv('{cwd}/.tmp/secret.csv')",
            "COPY (select 1) TO '{cwd}/.tmp/w.csv'",
        ):
            with pytest.raises(duckdb.Error):
                con.sql(route.format(cwd=cwd)).fetchall()
    assert _files_under(cwd) == before


def test_a_link_in_the_lake_that_leads_outside_it_is_not_read(lake, tmp_path, capsys, datasets_instance):
    import polars as pl

    _shop(lake, datasets_instance)
    outside = tmp_path / "elsewhere"
    (outside / "dataset=x").mkdir(parents=True)
    pl.DataFrame({"secret": [42]}).write_parquet(outside / "dataset=x" / "part-0.parquet")
    (lake / "evil").symlink_to(outside, target_is_directory=True)
    (table_path(lake, "raw_interactions", "shop").parent.parent / "dataset=leak").symlink_to(
        outside / "dataset=x", target_is_directory=True
    )
    capsys.readouterr()
    assert main(["sql", "--lake", str(lake), "select count(*) AS n from raw_interactions"]) == 0
    captured = capsys.readouterr()
    assert "evil is a link that leads outside the lake: not read" in captured.err
    assert "dataset=leak is a link that leads outside the lake" in captured.err
    assert main(["sql", "--lake", str(lake), "select * from evil"]) == 2
    assert "secret" not in capsys.readouterr().out
