"""SANSA in EASE's place above the dense bound (the ``scale`` extra: sansa, scikit-sparse against Debian's
libsuitesparse-dev). Marked ``scale``; ``.ci/run`` installs the extra and runs it."""

from __future__ import annotations

import sys

import pytest
import torch

from llmhni_pipeline.datasets.interactions import build_raw_interactions
from llmhni_pipeline.datasets.registry import parse_dataset_key
from llmhni_pipeline.recsys.baselines import DenseMatrixRefused, ease_scorer
from llmhni_pipeline.recsys.data import SplitData
from llmhni_pipeline.recsys.evaluate import evaluate_ranking
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline_tests.conftest import SCALE_SETUP  # noqa: E402


def _ml100k(lake, data_dir) -> SplitData:
    stage0 = build_raw_interactions(parse_dataset_key("ml-100k", lake), lake, data_dir)
    return SplitData.from_frame(stage0.interactions)


def test_without_the_scale_extra_ease_over_the_bound_is_refused_naming_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "sansa", None)
    monkeypatch.setenv("LLMHNI_MAX_DENSE_GB", "1e-6")
    graph = InteractionGraph(torch.arange(600) % 50, torch.arange(600), 50, 600)
    with pytest.raises(DenseMatrixRefused, match=r"over the bound .*pip install -e '\.\[scale\]'"):
        ease_scorer(graph)


@pytest.mark.scale
def test_over_the_bound_sansa_takes_eases_place_within_a_few_percent(lake, data_dir, monkeypatch):
    pytest.importorskip("sansa", reason=SCALE_SETUP)
    data = _ml100k(lake, data_dir)
    exact = ease_scorer(data.train, 100.0)
    assert exact.method == "EASE"
    monkeypatch.setenv("LLMHNI_MAX_DENSE_GB", "0.01")  # ml-100k's EASE needs 3 × 21.6 MiB: refused
    approx = ease_scorer(data.train, 100.0)
    assert approx.method == "SANSA"
    block = approx(torch.arange(0, 64))
    assert block.shape == (64, data.n_items) and block.dtype == torch.float32
    on = {name: evaluate_ranking(s, data.valid, data.train_sets)["recall@20"] for name, s in
          (("EASE", exact), ("SANSA", approx))}  # fmt: skip
    assert on["SANSA"] > 0.9 * on["EASE"], on
