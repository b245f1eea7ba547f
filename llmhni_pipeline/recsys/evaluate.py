"""Full-ranking evaluation (method_spec §12): all items ranked, known items masked, batched on the device.

Recall@K = |top-K ∩ T_u| / |T_u|;  Precision@K = |top-K ∩ T_u| / K;  HitRate@K = 1[top-K ∩ T_u ≠ ∅];
NDCG@K = Σ_{r≤K} 1[item_r ∈ T_u] / log2(r+1)  ÷  Σ_{r≤min(K,|T_u|)} 1 / log2(r+1).
Users with an empty T_u are skipped; metrics are averaged over the rest. Ties are broken by the lower item id.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from llmhni_pipeline.recsys.data import UserItemSets
from llmhni_pipeline.recsys.memory import users_per_block

KS = (5, 10, 20, 50)
# bytes per user × item cell of a block: float32 scores, the boolean truth, top-k's work (8.1 measured at 10⁷
# interactions on an H200, docs/benchmarks.md)
EVAL_BYTES_PER_CELL = 10
METRICS = ("recall", "ndcg", "precision", "hit")
Scorer = Callable[[torch.Tensor], torch.Tensor]  # user ids [b] -> scores [b, n_items] on the device


def embedding_scorer(user_emb: torch.Tensor, item_emb: torch.Tensor) -> Scorer:
    """ŷ_ui = ⟨z_u, z_i⟩."""
    return lambda users: user_emb[users] @ item_emb.T


def top_k_items(scores: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the k best items per row; equal scores rank the lower item id first.

    ``topk`` is fast but orders ties arbitrarily, so rows with a tie inside (or at the edge of) the top k are
    re-ranked by a stable sort; with continuous scores that is almost never needed.
    """
    n = scores.shape[1]
    k = min(k, n)
    probe = min(k + 1, n)
    values, idx = torch.topk(scores, probe, dim=1)
    tied = (
        (values[:, 1:] == values[:, :-1]).any(dim=1)
        if probe > 1
        else torch.zeros(len(scores), dtype=torch.bool)
    )
    if tied.any():
        rows = torch.nonzero(tied).flatten()
        idx[rows] = torch.sort(scores[rows], dim=1, descending=True, stable=True).indices[:, :probe]
    return idx[:, :k]


@torch.no_grad()
def evaluate_per_user(
    scorer: Scorer,
    truth: UserItemSets,
    mask: UserItemSets | None,
    ks: tuple[int, ...] = KS,
    batch_users: int = 4096,
    device: torch.device | str = "cpu",
) -> dict[str, torch.Tensor]:
    """Each metric for every user with at least one ground-truth item (in user-id order, float64, on ``device``:
    batches are not copied back one by one),
    plus ``users``: their ids. Two scorers evaluated on the same truth and mask give aligned vectors, so their
    per-user differences can be tested. Users go in blocks of ``batch_users``, fewer over a catalogue whose block
    would pass ``$LLMHNI_BLOCK_GB`` (``recsys/memory.py``); the metrics do not depend on the block size."""
    device = torch.device(device)
    batch_users = users_per_block(truth.n_items, batch_users, EVAL_BYTES_PER_CELL)
    k_max = max(ks)
    discounts = 1.0 / torch.log2(torch.arange(2, k_max + 2, device=device, dtype=torch.float64))
    ideal = torch.cumsum(discounts, 0)
    parts: dict[str, list[torch.Tensor]] = {f"{m}@{k}": [] for m in METRICS for k in ks}
    parts["users"] = []
    counts_all = truth.counts()
    for start in range(0, truth.n_users, batch_users):
        stop = min(start + batch_users, truth.n_users)
        n_truth = counts_all[start:stop].to(device)
        if int(n_truth.sum()) == 0:
            continue
        scores = scorer(torch.arange(start, stop, device=device)).float()
        if mask is not None:
            rows, cols = mask.block(start, stop)
            scores[rows.to(device), cols.to(device)] = -torch.inf
        top = top_k_items(scores, k_max)
        is_truth = torch.zeros_like(scores, dtype=torch.bool)
        rows, cols = truth.block(start, stop)
        is_truth[rows.to(device), cols.to(device)] = True
        hits = is_truth.gather(1, top).double()
        if hits.shape[1] < k_max:  # fewer items than k: the missing ranks are misses
            hits = torch.nn.functional.pad(hits, (0, k_max - hits.shape[1]))
        keep = n_truth > 0
        hits, n_truth = hits[keep], n_truth[keep].double()
        parts["users"].append(torch.arange(start, stop, device=device)[keep])
        cum_hits = hits.cumsum(1)
        dcg = (hits * discounts).cumsum(1)
        for k in ks:
            found = cum_hits[:, k - 1]
            parts[f"recall@{k}"].append(found / n_truth)
            parts[f"precision@{k}"].append(found / k)
            parts[f"hit@{k}"].append((found > 0).double())
            idcg = ideal[(n_truth.clamp(max=k) - 1).long()]
            parts[f"ndcg@{k}"].append(dcg[:, k - 1] / idcg)
    if not parts["users"]:
        raise ValueError("no user has a ground-truth item in this split: nothing to evaluate")
    return {name: torch.cat(values) for name, values in parts.items()}


def evaluate_ranking(
    scorer: Scorer,
    truth: UserItemSets,
    mask: UserItemSets | None,
    ks: tuple[int, ...] = KS,
    batch_users: int = 4096,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """Mean metrics over users with at least one ground-truth item; also returns ``users`` evaluated."""
    per_user = evaluate_per_user(scorer, truth, mask, ks, batch_users, device)
    users = per_user.pop("users")
    result = {name: float(values.mean()) for name, values in per_user.items()}
    result["users"] = len(users)
    return result
