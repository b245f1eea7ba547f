"""Stage 5: suspicious pairs picked by the pretrained recommender (method_spec §7).

C⁺ (``pos_low``): per user with at least ``min_degree`` training items, the ``k_pos`` lowest-scored training
positives — candidate noise. C⁻ (``neg_high``): per user, the ``k_neg`` highest-scored items outside the
user's training set and outside the ``held_out`` pairs (the validation positives: known at training time, they
never become candidates, so no judge can add one to G′ and validation stays unseen by training) — candidate hard
samples. Evidence for the item-centric judgment: the user's ``m``
highest-scored training positives, the candidate itself excluded.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import polars as pl
import torch

from llmhni_pipeline.recsys.data import UserItemSets
from llmhni_pipeline.recsys.memory import users_per_block

CANDIDATE_SCHEMA = {
    "user_id": pl.Int32,
    "item_id": pl.Int32,
    "kind": pl.String,
    "model_score": pl.Float32,
    "rank_within_user": pl.Int16,
    "evidence_items": pl.List(pl.Int32),
}


class _TopK(NamedTuple):
    values: torch.Tensor
    indices: torch.Tensor


def _on_cpu(top) -> _TopK:
    return _TopK(top.values.cpu(), top.indices.cpu())


@torch.no_grad()
def select_candidates(
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    train: UserItemSets,
    k_pos: int = 2,
    k_neg: int = 2,
    m_evidence: int = 5,
    min_degree: int = 3,
    chunk_users: int = 2048,
    device: torch.device | str = "cpu",
    pick: tuple[torch.Tensor, torch.Tensor] | None = None,
    held_out: UserItemSets | None = None,
) -> pl.DataFrame:
    """Scores every item for every user (U × I work, in user blocks on ``device``: the GPU when there is one);
    only each block's top-k picks come back to the CPU. ``pick``: other (user, item) vectors whose dot products
    choose the candidates instead (module 1's aligned vectors: the ``semantic`` selector); ``model_score`` and the
    evidence stay the recommender's. ``held_out``: pairs that are never high-scored negatives (the validation
    positives)."""
    device = torch.device(device)
    user_emb, item_emb = user_emb.to(device), item_emb.to(device)
    if pick is not None:
        pick = (pick[0].to(device), pick[1].to(device))
    degree = train.counts()
    frames = []
    # scores, the positives' mask (and with the held-out pairs), three masked copies for the top-k's: 18 bytes per
    # user × item cell
    chunk_users = users_per_block(item_emb.shape[0], chunk_users, bytes_per_cell=18)
    for start in range(0, train.n_users, chunk_users):
        stop = min(start + chunk_users, train.n_users)
        scores = user_emb[start:stop] @ item_emb.T
        is_pos = torch.zeros_like(scores, dtype=torch.bool)
        rows, cols = train.block(start, stop)
        is_pos[rows.to(device), cols.to(device)] = True
        users = torch.arange(start, stop)
        n_pos = degree[start:stop]

        # evidence: best m+1 positives (one spare so the candidate itself can be left out)
        m_take = min(m_evidence + 1, scores.shape[1])
        best_pos = _on_cpu(torch.topk(scores.masked_fill(~is_pos, -torch.inf), m_take, dim=1))
        best_idx = best_pos.indices.masked_fill(~torch.isfinite(best_pos.values), -1)

        chooser = scores if pick is None else pick[0][start:stop] @ pick[1].T
        not_neg = is_pos
        if held_out is not None:
            not_neg = is_pos.clone()
            h_rows, h_cols = held_out.block(start, stop)
            not_neg[h_rows.to(device), h_cols.to(device)] = True
        neg = _on_cpu(torch.topk(chooser.masked_fill(not_neg, -torch.inf), k_neg, dim=1))
        low = _on_cpu(torch.topk(chooser.masked_fill(~is_pos, torch.inf), k_pos, dim=1, largest=False))
        low_ok = (n_pos >= min_degree)[:, None] & torch.isfinite(low.values)
        if pick is not None:  # the recommender's scores of the chosen pairs
            neg = _TopK(
                torch.gather(scores, 1, neg.indices.to(device))
                .cpu()
                .masked_fill(~torch.isfinite(neg.values), -torch.inf),
                neg.indices,
            )
            low = _TopK(
                torch.gather(scores, 1, low.indices.to(device))
                .cpu()
                .masked_fill(~torch.isfinite(low.values), torch.inf),
                low.indices,
            )

        for kind, picked, ok in (("neg_high", neg, torch.isfinite(neg.values)), ("pos_low", low, low_ok)):
            r, c = torch.nonzero(ok, as_tuple=True)
            if not len(r):  # e.g. a block whose users all have fewer than min_degree positives
                continue
            items = picked.indices[r, c]
            evidence = best_idx[r]  # [n, m+1]
            keep = (evidence != items[:, None]) & (evidence >= 0)
            # first m kept evidence items per row, vectorised: rank kept entries and cut at m
            rank = torch.cumsum(keep.int(), dim=1)
            keep &= rank <= m_evidence
            er, ec = torch.nonzero(keep, as_tuple=True)
            evidence_lists = (
                pl.DataFrame({"row": er.numpy(), "item": evidence[er, ec].numpy().astype(np.int32)})
                .group_by("row", maintain_order=True)
                .agg(pl.col("item").alias("evidence_items"))
            )
            candidates = pl.DataFrame(
                {
                    "row": np.arange(len(items)),
                    "user_id": users[r].numpy().astype(np.int32),
                    "item_id": items.numpy().astype(np.int32),
                    "kind": kind,
                    "model_score": picked.values[r, c].numpy().astype(np.float32),
                    "rank_within_user": (c + 1).numpy().astype(np.int16),
                }
            )
            frames.append(
                candidates.join(evidence_lists, on="row", how="left")
                .with_columns(pl.col("evidence_items").fill_null([]))
                .select([pl.col(k).cast(v) for k, v in CANDIDATE_SCHEMA.items()])
            )
    if not frames:
        return pl.DataFrame(schema=CANDIDATE_SCHEMA)
    return pl.concat(frames).sort("user_id", "kind", "rank_within_user")


SELECTORS = ("recommender", "semantic", "union")


def union_candidates(first: pl.DataFrame, second: pl.DataFrame, k_pos: int, k_neg: int) -> pl.DataFrame:
    """Both selectors' candidates within one budget: per user and kind, their lists interleaved rank by rank
    (the first's rank 1, the second's rank 1, the first's rank 2, …), each pair once, the first ``k`` kept and
    ranked anew."""
    both = pl.concat(
        [
            first.with_columns(_order=pl.col("rank_within_user").cast(pl.Int32) * 2),
            second.with_columns(_order=pl.col("rank_within_user").cast(pl.Int32) * 2 + 1),
        ]
    )
    budget = pl.when(pl.col("kind") == "pos_low").then(k_pos).otherwise(k_neg)
    return (
        both.sort("user_id", "kind", "_order")
        .unique(["user_id", "kind", "item_id"], keep="first", maintain_order=True)
        .with_columns(rank_within_user=(pl.int_range(pl.len()).over("user_id", "kind") + 1).cast(pl.Int16))
        .filter(pl.col("rank_within_user") <= budget)
        .drop("_order")
        .select(list(CANDIDATE_SCHEMA))
    )


def candidates_by(
    selector: str,
    user_emb: torch.Tensor,
    item_emb: torch.Tensor,
    train: UserItemSets,
    projected: tuple[torch.Tensor, torch.Tensor] | None,
    k_pos: int = 2,
    k_neg: int = 2,
    m_evidence: int = 5,
    min_degree: int = 3,
    device: torch.device | str = "cpu",
    held_out: UserItemSets | None = None,
) -> pl.DataFrame:
    """The candidates a ``selector`` picks: ``recommender`` (the pretrained model's scores, the paper's),
    ``semantic`` (module 1's aligned cosine: the least related of a user's train positives, the most related of the
    items the user has not seen), or ``union`` (both, interleaved within the same budget). ``model_score`` and the
    evidence are the recommender's whichever picks; no ``held_out`` pair (validation) is ever a candidate."""
    if selector not in SELECTORS:
        raise ValueError(f"selector must be one of {', '.join(SELECTORS)}, not {selector!r}")
    args = (user_emb, item_emb, train, k_pos, k_neg, m_evidence, min_degree)
    if selector == "recommender":
        return select_candidates(*args, device=device, held_out=held_out)
    if projected is None:
        raise ValueError(f"the {selector} selector needs module 1's aligned vectors (aligned_projector)")
    cosine = tuple(torch.nn.functional.normalize(v.float(), dim=1) for v in projected)
    semantic = select_candidates(*args, device=device, pick=cosine, held_out=held_out)
    if selector == "semantic":
        return semantic
    return union_candidates(
        select_candidates(*args, device=device, held_out=held_out), semantic, k_pos, k_neg
    )
