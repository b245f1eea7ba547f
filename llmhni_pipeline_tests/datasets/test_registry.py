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


def test_incoming_folders_that_cannot_be_datasets_are_reported_with_the_reason(tmp_path, capsys, monkeypatch):
    from llmhni_pipeline.cli import main
    from llmhni_pipeline.datasets.registry import list_incoming, rejected_incoming

    root = tmp_path / "incoming"
    for name in ("shop", "shop-llard", "mall-noise10", "My Shop", "UPPER", "ml-100k", "empty"):
        (root / name).mkdir(parents=True)
        if name != "empty":
            (root / name / "interactions.csv").write_text("user_id,item_id\n1,2\n")
    assert list_incoming(tmp_path) == ["shop"]
    rejected = rejected_incoming(tmp_path)
    assert set(rejected) == {"shop-llard", "mall-noise10", "My Shop", "UPPER", "ml-100k", "empty"}
    assert "partition suffix" in rejected["shop-llard"] and "lower-case" in rejected["My Shop"]
    assert "built-in" in rejected["ml-100k"] and "no interactions" in rejected["empty"]
    monkeypatch.setenv("LLMHNI_LAKE_DIR", str(tmp_path))
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert "incoming: shop" in out and "not a dataset: incoming/My Shop: " in out


def test_hidden_and_noisy_suffixes_combine_in_one_order(tmp_path):
    spec = parse_dataset_key("amazon-book-llard-hide10-noise20", tmp_path)
    assert (spec.protocol, spec.hide_ratio, spec.noise_ratio) == (Protocol.LLARD, 0.10, 0.20)
    assert spec.planted_truth and not spec.is_clean
    hidden = parse_dataset_key("ml-100k-hide05", tmp_path)
    assert (hidden.hide_ratio, hidden.noise_ratio, hidden.planted_truth) == (0.05, 0.0, True)
    assert parse_dataset_key("ml-100k", tmp_path).is_clean
    with pytest.raises(DatasetError, match="hidden share 0.07 is not one of"):
        parse_dataset_key("ml-100k-hide07", tmp_path)
    with pytest.raises(DatasetError, match="before -noiseNN: ml-100k-hide10-noise05"):
        parse_dataset_key("ml-100k-noise05-hide10", tmp_path)
