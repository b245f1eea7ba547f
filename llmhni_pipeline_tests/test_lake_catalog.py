import dagster as dg

from llmhni_pipeline.assets.raw_interactions import raw_interactions
from llmhni_pipeline.cli import main
from llmhni_pipeline.definitions import build_resources
from llmhni_pipeline.lake_catalog import connect
from llmhni_pipeline_tests.conftest import write_incoming


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
