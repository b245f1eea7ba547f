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

    with pytest.raises(duckdb.PermissionException):
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
