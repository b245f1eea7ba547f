"""Losses, written as in the papers; every one reduces by the mean over the batch."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def bpr_loss(pos_scores: torch.Tensor, neg_scores: torch.Tensor) -> torch.Tensor:
    """L_BPR = mean −log σ(ŷ_ui − ŷ_uj) (log-sigmoid form: no 1e-10 fudge needed)."""
    return -F.logsigmoid(pos_scores - neg_scores).mean()


def embedding_l2(*ego: torch.Tensor) -> torch.Tensor:
    """½ Σ‖e⁽⁰⁾‖² / B over the batch's ego embeddings (users, positives, negatives)."""
    batch = ego[0].shape[0]
    return sum(e.pow(2).sum() for e in ego) / (2 * batch)


def info_nce(a: torch.Tensor, b: torch.Tensor, temperature: float) -> torch.Tensor:
    """mean_v −log( exp(cos(a_v, b_v)/τ) / Σ_w exp(cos(a_v, b_w)/τ) ), in-batch negatives."""
    # F.normalize's rows, with 1/τ folded into a's row scale: on the N×d side, not on the N×N logits
    a = a / (torch.linalg.vector_norm(a, dim=1, keepdim=True).clamp_min(1e-12) * temperature)
    b = F.normalize(b, dim=1)
    logits = a @ b.T
    return F.cross_entropy(logits, torch.arange(a.shape[0], device=a.device))


def node_info_nce(
    a: torch.Tensor,
    b: torch.Tensor,
    users: torch.Tensor,
    items: torch.Tensor,
    n_users: int,
    temperature: float,
) -> torch.Tensor:
    """InfoNCE(a_U, b_U) + InfoNCE(a_I, b_I) between two node matrices (users first, then items) over the batch's
    unique users and unique items, each set its own in-batch negatives (SELFRec's ``cal_cl_loss``)."""
    u = torch.unique(users)
    rows = torch.cat([u, torch.unique(items) + n_users])
    # one index_select per matrix (its backward is one index_add) instead of four advanced-indexing gathers
    a_rows, b_rows = a.index_select(0, rows), b.index_select(0, rows)
    n = len(u)
    return info_nce(a_rows[:n], b_rows[:n], temperature) + info_nce(a_rows[n:], b_rows[n:], temperature)
