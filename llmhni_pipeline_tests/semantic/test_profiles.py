import polars as pl
import pytest

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.datasets.interactions import build_raw_interactions
from llmhni_pipeline.datasets.registry import parse_dataset_key
from llmhni_pipeline.semantic.profiles import build_text_profiles, coverage, history_profiles


def test_templated_user_profiles_quote_only_training_items():
    items = pl.DataFrame({"id": [0, 1, 2, 3], "text": ["TRAIN-A", "TRAIN-B", "VALID-C", "TEST-D"]})
    table = pl.DataFrame(
        {"user_id": [0, 0, 0, 0], "item_id": [0, 1, 2, 3], "split": ["train", "train", "valid", "test"]}
    )
    profiles = history_profiles(table.filter(pl.col("split") == "train"), items)
    text = profiles["text"][0]
    assert "TRAIN-A" in text and "TRAIN-B" in text
    assert "VALID-C" not in text and "TEST-D" not in text


def test_templated_profiles_quote_titles_and_name_the_most_frequent_training_genres():
    items = pl.DataFrame(
        {
            "id": [0, 1, 2, 3, 4],
            "text": ["Alpha (1990). Genres: Drama.", "Beta", "Gamma", "Delta", "Held-out"],
            "title": ["Alpha", "Beta", "Gamma", "Delta", "Held-out"],
            "genres": ["Drama", "Drama Comedy", "Comedy Drama Sci-Fi", "Horror", "Horror Horror"],
        }
    )
    train = pl.DataFrame({"user_id": [0, 0, 0, 0, 1], "item_id": [0, 1, 2, 3, 3]})
    intro = pl.DataFrame({"id": [0, 1], "intro": ["A reader.", "A viewer."]})
    texts = dict(history_profiles(train, items, intro).iter_rows())
    # Drama 3, Comedy 2, then Horror and Sci-Fi 1 each (ties by name): the held-out item counts for nothing
    assert texts[0] == (
        "A reader. Liked 4 items in training, mostly Drama, Comedy and Horror, "
        "including: Alpha; Beta; Gamma; Delta."
    )
    assert texts[1] == "A viewer. Liked 1 items in training, mostly Horror, including: Delta."


def test_movielens_profiles_never_leak_valid_or_test_titles(lake, data_dir):
    spec = parse_dataset_key("ml-100k", lake)
    stage0 = build_raw_interactions(spec, lake, data_dir)
    profiles = build_text_profiles(spec, stage0.interactions, stage0.id_mappings, lake, data_dir)
    assert coverage(profiles, stage0.n_users, stage0.n_items) == {
        "users_without_text": 0,
        "items_without_text": 0,
    }
    # profiles quote titles: a title is the item text up to its " (year)."
    items = profiles.filter(pl.col("entity") == "item").select(
        pl.col("id").alias("item_id"), pl.col("text").str.replace(r" \(\d*\)\. Genres: .*$", "")
    )
    users = profiles.filter(pl.col("entity") == "user")
    # a user's held-out items that appear in no training history of theirs must not be quoted
    held_out = (
        stage0.interactions.filter(pl.col("split") != "train")
        .join(items, on="item_id")
        .join(users.select(pl.col("id").alias("user_id"), pl.col("text").alias("profile")), on="user_id")
    )
    train_texts = (
        stage0.interactions.filter(pl.col("split") == "train")
        .join(items, on="item_id")
        .group_by("user_id")
        .agg(pl.col("text"))
    )
    held_out = held_out.join(train_texts.rename({"text": "train_texts"}), on="user_id")
    leaks = [
        r
        for r in held_out.iter_rows(named=True)
        if r["text"] in r["profile"].split("including: ", 1)[1][:-1].split("; ")
        and r["text"] not in r["train_texts"]
    ]
    assert leaks == []
    assert held_out.height > 1000  # the check ran over real held-out items
    assert users["text"][0].startswith("A 24-year-old male technician.")


def test_amazon_uses_the_provided_profiles(lake, shared_data):
    spec = parse_dataset_key("amazon-book", lake)
    stage0 = build_raw_interactions(spec, lake, shared_data)
    profiles = build_text_profiles(spec, stage0.interactions, stage0.id_mappings, lake, shared_data)
    assert profiles.group_by("entity", "source").len().sort("entity").rows() == [
        ("item", "provided", 9332),
        ("user", "provided", 11000),
    ]
    item0 = profiles.filter((pl.col("entity") == "item") & (pl.col("id") == 0))["text"][0]
    assert item0.startswith("Romance novel enthusiasts")


def test_a_dataset_without_text_fails_clearly(lake, shared_data):
    spec = parse_dataset_key("yelp", lake)
    stage0 = build_raw_interactions(spec, lake, shared_data)
    with pytest.raises(DatasetError, match="no text for users or items"):
        build_text_profiles(spec, stage0.interactions, stage0.id_mappings, lake, shared_data)


@pytest.mark.parametrize(
    "items, problem",
    [
        ("item_id,text\n1,a book\n2,a film\n1,again\n", r"item_id repeats: 1 \(line 2\), 1 \(line 4\)"),
        ("item_id,text\n1,a book\n2,\n", r"1 item\(s\) have an empty text, e.g. on line\(s\) \[3\]"),
    ],
)
def test_item_texts_with_repeated_ids_or_empty_texts_are_rejected_naming_the_lines(
    lake, data_dir, items, problem
):
    from llmhni_pipeline_tests.conftest import write_incoming

    folder = write_incoming(
        lake, "shop", "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(6) for i in range(1, 11))
    )
    (folder / "items.csv").write_text(items)
    spec = parse_dataset_key("shop", lake)
    stage0 = build_raw_interactions(spec, lake, data_dir)
    with pytest.raises(DatasetError, match=problem) as err:
        build_text_profiles(spec, stage0.interactions, stage0.id_mappings, lake, data_dir)
    assert "items.csv" in str(err.value)


def test_users_left_out_of_users_csv_get_a_templated_profile(lake, data_dir):
    """users.csv with one user's text: the others are profiled from their training items, as the guide says
    (they once got an empty profile, and 240 pairs collapsed to 38 distinct prompts)."""
    from llmhni_pipeline_tests.conftest import write_incoming

    folder = write_incoming(
        lake,
        "shop",
        "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(6) for i in range(1, 11) if (u + i) % 4),
    )
    (folder / "items.csv").write_text(
        "item_id,text\n" + "".join(f"{i},book number {i}\n" for i in range(1, 11))
    )
    (folder / "users.csv").write_text("user_id,text\n3,Reads only thrillers.\n")
    spec = parse_dataset_key("shop", lake)
    stage0 = build_raw_interactions(spec, lake, data_dir)
    profiles = build_text_profiles(spec, stage0.interactions, stage0.id_mappings, lake, data_dir)
    users = profiles.filter(pl.col("entity") == "user")
    assert users.height == 6 and (users["text"].str.len_chars() > 0).all()
    assert dict(users.group_by("source").len().iter_rows()) == {"provided": 1, "template": 5}
    assert users["text"].n_unique() == 6
    raw_three = stage0.id_mappings.filter((pl.col("entity") == "user") & (pl.col("raw_id") == "3"))["id"][0]
    assert users.filter(pl.col("id") == raw_three)["text"][0] == "Reads only thrillers."


def test_ids_written_in_two_unicode_forms_are_one_and_a_text_naming_nothing_is_said(lake, data_dir):
    """``items.csv`` naming ``cafe`` + combining accent while ``interactions.csv`` has the composed ``café``: one
    item (NFC at ingestion; its text was once dropped without a word); a text whose id is in no interaction is
    named in the notes; an entity left without text is found by ``without_text``."""
    from llmhni_pipeline.semantic.profiles import without_text
    from llmhni_pipeline_tests.conftest import write_incoming

    composed, decomposed = "caf\u00e9", "cafe\u0301"
    folder = write_incoming(
        lake,
        "shop",
        "user_id,item_id\n"
        + "".join(f"{u},{i}\n" for u in range(4) for i in ("tea", composed, "jam", "pie")),
    )
    (folder / "items.csv").write_text(
        f"item_id,text\ntea,Green tea\n{decomposed},A small cafe\njam,Jam\nghost,Never bought\n"
    )
    spec = parse_dataset_key("shop", lake)
    stage0 = build_raw_interactions(spec, lake, data_dir)
    notes: list[str] = []
    profiles = build_text_profiles(spec, stage0.interactions, stage0.id_mappings, lake, data_dir, notes)
    items = profiles.filter(pl.col("entity") == "item")
    cafe = stage0.id_mappings.filter((pl.col("entity") == "item") & (pl.col("raw_id") == composed))["id"][0]
    assert items.filter(pl.col("id") == cafe)["text"].to_list() == ["A small cafe"]
    assert (
        len(notes) == 1
        and "1 text(s) name an item with no interaction" in notes[0]
        and "'ghost' (line 5)" in notes[0]
    )
    assert without_text(profiles, stage0.id_mappings, "item", 4) == ["pie"]
    assert without_text(profiles, stage0.id_mappings, "user", 4) == []
