"""Synthetic datasets for cost: amazon-book's shape, seeded, distinct pairs, an ordinary incoming folder."""

import polars as pl

from llmhni_pipeline.cli import main
from llmhni_pipeline.datasets.interactions import build_raw_interactions
from llmhni_pipeline.datasets.registry import parse_dataset_key
from llmhni_pipeline.datasets.synth import gini, synthesize, synthetic_note


def test_amazon_books_shape_at_its_size_and_a_seeded_draw():
    interactions, texts = synthesize(200_860, seed=7)
    assert interactions.height == 200_860 and interactions.n_unique() == 200_860  # distinct pairs
    users = interactions.group_by("user_id").len()["len"].to_numpy()
    items = interactions.group_by("item_id").len()["len"].to_numpy()
    assert abs(len(users) - 11_000) < 50 and abs(len(items) - 9_332) < 50  # amazon-book: 11,000 and 9,332
    assert abs(gini(users) - 0.44) < 0.02 and abs(gini(items) - 0.35) < 0.02  # its degree Gini coefficients
    assert (
        set(texts["item_id"]) == set(interactions["item_id"]) and texts["text"].str.starts_with("Book ").all()
    )
    assert synthesize(1_000, seed=7)[0].equals(synthesize(1_000, seed=7)[0])
    assert not synthesize(1_000, seed=7)[0].equals(synthesize(1_000, seed=8)[0])


def test_the_cli_writes_an_incoming_dataset_stage_0_reads(tmp_path, monkeypatch, capsys, data_dir):
    lake = tmp_path / "lake"
    monkeypatch.setenv("LLMHNI_LAKE_DIR", str(lake))
    assert main(["datasets", "synth", "synth-5k", "--interactions", "5000"]) == 0
    out = capsys.readouterr().out
    assert (
        "5,000 interactions" in out and "metrics mean nothing" in out and "llmhni materialize synth-5k" in out
    )
    folder = lake / "incoming" / "synth-5k"
    assert "metrics mean nothing" in synthetic_note(folder)
    result = build_raw_interactions(parse_dataset_key("synth-5k", lake), lake, data_dir)
    assert result.interactions.height == 5_000 and set(result.interactions["split"]) == {
        "train",
        "valid",
        "test",
    }
    assert pl.read_parquet(folder / "items.parquet").height == result.n_items
    assert (
        main(["datasets", "synth", "synth-5k", "--interactions", "2000", "--format", "csv"]) == 0
    )  # rewritten
    assert not (folder / "interactions.parquet").exists() and (folder / "interactions.csv").is_file()
    (lake / "incoming" / "mine").mkdir()
    (lake / "incoming" / "mine" / "interactions.csv").write_text("user_id,item_id\n1,2\n")
    assert main(["datasets", "synth", "mine", "--interactions", "2000"]) == 2  # never over a real dataset
    assert "exists and is not a synthetic dataset" in capsys.readouterr().err
    assert main(["datasets", "synth", "x", "--interactions", "5"]) == 2


def test_small_sets_draw_distinct_pairs_quickly():
    """100 to about 400 interactions once looped forever: 5 × 5 users and items hold 25 pairs."""
    import time

    for n in (100, 150, 398, 1_000):
        started = time.perf_counter()
        interactions, _ = synthesize(n, seed=1)
        assert interactions.height == n and interactions.n_unique() == n
        assert time.perf_counter() - started < 5


def test_bad_sizes_and_names_are_refused_before_anything_is_written(tmp_path, monkeypatch, capsys):
    lake = tmp_path / "work" / "lake"
    monkeypatch.setenv("LLMHNI_LAKE_DIR", str(lake))
    monkeypatch.chdir(tmp_path)
    for argv, message in (
        (["synth-x", "--interactions", str(5 * 10**10)], "--interactions: from 100 to 100,000,000"),
        (["synth-x", "--interactions", "99"], "--interactions: from 100"),
        (["../escape", "--interactions", "1000"], "lower-case letters"),
        ([str(tmp_path / "abs"), "--interactions", "1000"], "lower-case letters"),
        (["ml-100k", "--interactions", "1000"], "built-in dataset"),
        (["shop-noise10", "--interactions", "1000"], "partition suffix"),
        (
            ["s" * 250, "--interactions", "1000"],
            "at most 200 characters, not 250",
        ),  # dataset=<it>-noise10: 266 B
    ):
        assert main(["datasets", "synth", *argv]) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not (tmp_path / "work").exists() and not (tmp_path / "abs").exists()  # not even the lake folder
    assert sorted(p.name for p in tmp_path.iterdir()) == []
