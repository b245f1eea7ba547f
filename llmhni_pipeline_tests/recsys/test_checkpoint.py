import torch

from llmhni_pipeline.recsys.checkpoint import load_checkpoint, save_checkpoint
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.models import build_backbone


def test_round_trip_gives_identical_embeddings(tmp_path):
    graph = InteractionGraph(torch.tensor([0, 1, 2, 2]), torch.tensor([0, 1, 1, 3]), 3, 4)
    model = build_backbone("ngcf", 3, 4, dim=8, n_layers=2).eval()
    save_checkpoint(tmp_path / "m.pt", model, "ngcf", {"dim": 8, "n_layers": 2})
    loaded, payload = load_checkpoint(tmp_path / "m.pt")
    adj = graph.norm_adj()
    assert payload["backbone"] == "ngcf"
    assert torch.equal(model.encode(adj), loaded.encode(adj))
