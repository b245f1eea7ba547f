import pytest

from llmhni_pipeline.datasets.errors import DatasetError
from llmhni_pipeline.datasets.registry import Protocol, builtin_dataset_keys, list_incoming, parse_dataset_key
from llmhni_pipeline_tests.conftest import write_incoming


def test_keys_resolve_source_protocol_and_noise(tmp_path):
    spec = parse_dataset_key("amazon-book-llard-noise10", tmp_path)
    assert (spec.source.name, spec.protocol, spec.noise_ratio) == ("amazon-book", Protocol.LLARD, 0.10)
    assert parse_dataset_key("amazon-book", tmp_path).protocol is Protocol.RLMREC
    assert parse_dataset_key("ml-100k", tmp_path).protocol is Protocol.RANDOM


@pytest.mark.parametrize(
    "key, problem",
    [
        ("no-such-set", "unknown dataset"),
        ("ml-100k-llard", "does not apply"),
        ("amazon-book-noise07", "not one of"),
        ("Bad Key!", "not a valid dataset key"),
    ],
)
def test_bad_keys_are_explained(tmp_path, key, problem):
    with pytest.raises(DatasetError, match=problem):
        parse_dataset_key(key, tmp_path)


def test_incoming_folders_become_sources(tmp_path):
    write_incoming(tmp_path, "shop", "user_id,item_id\n1,2\n")
    (tmp_path / "incoming" / "empty-folder").mkdir()
    assert list_incoming(tmp_path) == ["shop"]
    assert parse_dataset_key("shop-noise05", tmp_path).source.kind == "incoming"
    assert "amazon-book-llard" in builtin_dataset_keys()
