"""Real-data counts and every bad-input case of stage 0: each fails naming the file and the problem."""

import pickle

import numpy as np
import polars as pl
import pytest
import scipy.sparse as sp

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.datasets.interactions import build_raw_interactions, summarize
from llmhni_pipeline.datasets.registry import parse_dataset_key
from llmhni_pipeline.datasets.validation import raw_interactions_checks
from llmhni_pipeline_tests.conftest import write_incoming


def _build(key, lake, shared):
    spec = parse_dataset_key(key, lake)
    return build_raw_interactions(spec, lake, shared), spec


def _counts(result):
    return dict(result.interactions.group_by("split").len().iter_rows())


def test_amazon_book_rlmrec_counts_match_the_data_readme(lake, shared_data):
    result, spec = _build("amazon-book", lake, shared_data)
    assert _counts(result) == {"train": 120_464, "valid": 40_290, "test": 40_106}
    assert (result.n_users, result.n_items) == (11_000, 9_332)
    assert all(c.passed for c in raw_interactions_checks(result.interactions, result.n_users, result.n_items))
    assert result.interactions.schema["user_id"] == pl.Int32
    assert summarize(result, spec)["protocol"] == "rlmrec"


def test_amazon_book_llard_merges_train_and_valid(lake, shared_data):
    result, _ = _build("amazon-book-llard", lake, shared_data)
    counts = _counts(result)
    assert counts["train"] + counts["valid"] == 160_754
    assert counts["test"] == 40_106
    assert 0.09 < counts["valid"] / 160_754 < 0.11
    mapping = result.id_mappings.filter(pl.col("entity") == "item")
    assert mapping.filter(pl.col("id") == 0)["raw_id"][0] == "0373730489"


def test_noise_variant_flags_only_new_train_edges(lake, shared_data):
    clean, _ = _build("amazon-book-llard", lake, shared_data)
    noisy, _ = _build("amazon-book-llard-noise20", lake, shared_data)
    injected = noisy.interactions.filter("is_injected")
    assert injected.height == round(0.2 * _counts(clean)["train"])
    assert set(injected["split"].unique()) == {"train"}
    assert (
        noisy.interactions.filter(~pl.col("is_injected"))
        .drop("noise_ratio")
        .sort(pl.all())
        .equals(clean.interactions.drop("noise_ratio").sort(pl.all()))
    )


def test_steam_without_train_split_says_so(lake, shared_data):
    with pytest.raises(DatasetError, match="train split is missing") as err:
        _build("steam", lake, shared_data)
    assert err.value.path.name == "trn_mat.pkl"


def test_movielens_is_binarised_split_and_contiguous(lake, data_dir):
    result, spec = _build("ml-100k", lake, data_dir)
    assert result.interactions.height == 55_375  # ratings >= 4
    summary = summarize(result, spec)
    assert summary["users_without_train"] == 0
    assert all(c.passed for c in raw_interactions_checks(result.interactions, result.n_users, result.n_items))
    toy_story = result.id_mappings.filter((pl.col("entity") == "item") & (pl.col("raw_id") == "1"))
    assert toy_story["id"][0] == 0  # numeric raw ids keep numeric order


def _rlmrec_copy(tmp_path, data_dir, name="bad"):
    folder = tmp_path / "shared" / name
    folder.mkdir(parents=True)
    for f in (data_dir / "amazon").iterdir():
        if f.is_file():
            (folder / f.name).symlink_to(f)
    return folder


@pytest.mark.parametrize(
    "case, problem",
    [
        ("missing", "split file is missing"),
        ("empty", "file is empty"),
        ("not_sparse", "expected a scipy sparse matrix"),
        ("garbage", "cannot be unpickled"),
        ("overlap", "more than one split"),
    ],
)
def test_bad_rlmrec_files(tmp_path, lake, shared_data, case, problem, monkeypatch):
    folder = _rlmrec_copy(tmp_path, shared_data)
    target = folder / "tst_mat.pkl"
    target.unlink()
    if case == "empty":
        target.write_bytes(b"")
    elif case == "not_sparse":
        target.write_bytes(pickle.dumps(np.zeros((3, 3))))
    elif case == "garbage":
        target.write_bytes(b"not a pickle")
    elif case == "overlap":
        train = pickle.loads((shared_data / "amazon" / "trn_mat.pkl").read_bytes())
        target.write_bytes(pickle.dumps(sp.coo_matrix(train)))
    from llmhni_pipeline.datasets import registry

    monkeypatch.setitem(
        registry.BUILTIN_SOURCES,
        "amazon-book",
        registry.Source(
            "amazon-book",
            registry.SourceKind.RLMREC,
            "bad",
            registry.BUILTIN_SOURCES["amazon-book"].protocols,
            "test copy",
        ),
    )
    with pytest.raises(DatasetError, match=problem) as err:
        _build("amazon-book", lake, tmp_path / "shared")
    assert str(folder) in str(err.value)


@pytest.mark.parametrize(
    "filename, text, problem",
    [
        ("interactions.csv", "", "file is empty"),
        ("interactions.csv", "user_id,item_id\n", "no rows"),
        ("interactions.csv", "user,item\n1,2\n", "missing column"),
        (
            "interactions.csv",
            "user_id,item_id\n1,2\nNaN,3\n",
            r"1 empty or NaN id\(s\), e.g. on line\(s\) \[3\]",
        ),
        ("interactions.csv", "user_id,item_id\n1,2\n ,3\n", "empty or NaN id"),
        ("interactions.csv", "user_id,item_id\n1,2\n1,2\n3,4\n", "duplicate"),
        ("interactions.csv", "user_id,item_id,split\n1,2,train\n1,2,test\n3,4,train\n", "train/test overlap"),
        ("interactions.csv", "user_id,item_id,split\n1,2,train\n3,4,holdout\n", "allowed"),
        ("notes.txt", "nothing", "no interactions.parquet or interactions.csv"),
    ],
)
def test_bad_incoming_files(lake, data_dir, filename, text, problem):
    folder = write_incoming(lake, "shop", text, filename)
    with pytest.raises(DatasetError, match=problem) as err:
        build_raw_interactions(parse_dataset_key("shop", lake), lake, data_dir)
    assert str(folder) in str(err.value)


def test_incoming_parquet_with_string_ids_and_given_split(lake, data_dir):
    folder = lake / "incoming" / "shop"
    folder.mkdir(parents=True)
    pl.DataFrame(
        {
            "user_id": ["u1", "u1", "u2", "u2"],
            "item_id": ["a", "b", "a", "c"],
            "split": ["train", "test", "train", "valid"],
        }
    ).write_parquet(folder / "interactions.parquet")
    result, _ = _build("shop", lake, data_dir)
    assert _counts(result) == {"train": 2, "valid": 1, "test": 1}
    assert (result.n_users, result.n_items) == (2, 3)


def test_incoming_parquet_float_ids_are_rejected(lake, data_dir):
    folder = lake / "incoming" / "shop"
    folder.mkdir(parents=True)
    pl.DataFrame({"user_id": [1.5, 2.5], "item_id": [1, 2]}).write_parquet(folder / "interactions.parquet")
    with pytest.raises(DatasetError, match="ids must be integers or strings"):
        _build("shop", lake, data_dir)


def test_csv_ids_keep_leading_zeros_and_lose_surrounding_spaces(lake, data_dir):
    rows = (
        "user_id,item_id,split\n07,0002005018,train\n7,2005018,train\n 07 ,2005018 ,test\n7,0002005018,test\n"
    )
    write_incoming(lake, "shop", rows)
    result, _ = _build("shop", lake, data_dir)
    raw_users = set(result.id_mappings.filter(pl.col("entity") == "user")["raw_id"])
    raw_items = set(result.id_mappings.filter(pl.col("entity") == "item")["raw_id"])
    assert raw_users == {"07", "7"} and raw_items == {"0002005018", "2005018"}


def test_two_sources_for_one_table_are_an_error(lake, data_dir):
    folder = write_incoming(lake, "shop", "user_id,item_id\n1,2\n")
    pl.DataFrame({"user_id": [1], "item_id": [2]}).write_parquet(folder / "interactions.parquet")
    with pytest.raises(DatasetError, match="both interactions.parquet and interactions.csv exist"):
        _build("shop", lake, data_dir)


@pytest.mark.parametrize(
    "text, problem",
    [
        ("user_id,item_id\n1,2\n", r"1 user\(s\) and 1 item\(s\); at least 2 of each"),
        ("user_id,item_id,split\n1,2,train\n2,3,train\n", "no test interaction after the split"),
    ],
)
def test_datasets_too_small_to_train_are_rejected_at_stage_0(lake, data_dir, text, problem):
    folder = write_incoming(lake, "shop", text)
    with pytest.raises(DatasetError, match=problem) as err:
        _build("shop", lake, data_dir)
    assert str(folder / "interactions.csv") in str(err.value)


@pytest.mark.parametrize(
    "text, problem",
    [
        (
            "user_id,item_id\n1,2\n" + "u" * 600 + ",3\n",
            r"1 id\(s\) longer than 512 characters \(the longest 600\), e\.g\. on line\(s\) \[3\].*LLMHNI_MAX_ID_CHARS",
        ),
        ('user_id,item_id\n1,2\n"u\n1",3\n', r"control character .*: 'u\\n1'\), e\.g\. on line\(s\) \[3\]"),
        ("user_id,item_id\n1,2\n2,a\tb\n", r"'item_id' has 1 id\(s\) with a control character"),
        # C1 controls (NEL is a line break, CSI starts a terminal escape), named with ascii()
        ("user_id,item_id\n1,2\ncarol\u0085x,3\n", r"'user_id' has 1 id.*'carol\\x85x'.*line\(s\) \[3\]"),
        ("user_id,item_id\n1,2\ndave\u009b31m,3\n", r"'dave\\x9b31m'"),
        # invisible characters that make two ids look alike, or reorder what a terminal shows
        ("user_id,item_id\n1,2\neve\u202egnp,3\n", r"direction override.*'eve\\u202egnp'"),
        ("user_id,item_id\n1,2\n1\u200b,3\n", r"zero-width.*'1\\u200b'"),
        ("user_id,item_id\n1,2\n2,3\ufeff\n", r"'item_id' has 1 id.*'3\\ufeff'"),
    ],
)
def test_ids_are_bounded_and_free_of_control_characters(lake, data_dir, text, problem):
    folder = write_incoming(lake, "shop", text)
    with pytest.raises(DatasetError, match=problem) as err:
        _build("shop", lake, data_dir)
    assert str(folder / "interactions.csv") in str(err.value)


def test_the_id_bound_is_configurable_and_exact(lake, data_dir, monkeypatch):
    rows = "user_id,item_id,split\n" + "".join(
        f"{'u' * 20}{u},{i},{s}\n" for u in range(2) for i, s in ((1, "train"), (2, "test"))
    )
    write_incoming(lake, "shop", rows)
    monkeypatch.setenv("LLMHNI_MAX_ID_CHARS", "21")  # the ids are exactly 21 characters: accepted
    result, _ = _build("shop", lake, data_dir)
    assert result.n_users == 2
    monkeypatch.setenv("LLMHNI_MAX_ID_CHARS", "20")
    with pytest.raises(DatasetError, match="longer than 20 characters"):
        _build("shop", lake, data_dir)
    monkeypatch.setenv("LLMHNI_MAX_ID_CHARS", "lots")
    with pytest.raises(DatasetError, match="LLMHNI_MAX_ID_CHARS: must be a positive whole number"):
        _build("shop", lake, data_dir)


@pytest.mark.parametrize(
    "extra, where, problem",
    [
        (
            ("interactions.csv", "user_id,item_id,rating\n1,2,5\n3,4,1\n"),
            "interactions.csv",
            r"\['rating'\] are not read",
        ),
        (
            ("ratings.csv", "user_id,item_id,rating\n1,2,5\n"),
            "ratings.csv",
            "a file the pipeline does not read",
        ),
        (("items.csv", "item_id,text,price\n2,a book,9\n"), "items.csv", r"\['price'\] are not read"),
    ],
)
def test_extra_columns_and_extra_files_are_errors_naming_them(lake, data_dir, extra, where, problem):
    """The promises page says so; they were silently ignored."""
    from llmhni_pipeline.semantic.profiles import build_text_profiles

    folder = write_incoming(
        lake, "shop", "user_id,item_id\n" + "".join(f"{u},{i}\n" for u in range(4) for i in range(5))
    )
    (folder / extra[0]).write_text(extra[1])
    (folder / ".DS_Store").write_bytes(b"\0")  # hidden files are no dataset's content: left alone
    spec = parse_dataset_key("shop", lake)
    with pytest.raises(DatasetError, match=problem) as err:
        stage0 = build_raw_interactions(spec, lake, data_dir)
        build_text_profiles(spec, stage0.interactions, stage0.id_mappings, lake, data_dir)
    assert str(folder / where) in str(err.value)
