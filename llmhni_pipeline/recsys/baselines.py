"""Reference models without a training loop: MostPop and EASE (Steck, WWW 2019), with SANSA (Spišák et al.,
RecSys 2023: a sparse approximate inverse of the Gram matrix) in EASE's place where the dense inverse is over the
memory bound and the ``scale`` extra is installed."""

from __future__ import annotations

import numpy as np
import torch

from llmhni_pipeline.recsys.data import SplitData, UserItemSets
from llmhni_pipeline.recsys.evaluate import Scorer, evaluate_per_user
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.memory import MAX_DENSE_GB_ENV, max_dense_bytes


def most_popular_scorer(train: InteractionGraph, device: torch.device | str = "cpu") -> Scorer:
    """Every user gets the items ranked by training popularity."""
    popularity = train.item_degree().float().to(device)
    return lambda users: popularity.expand(len(users), -1).clone()


EASE_DENSE_COPIES = 3  # XᵀX and its inverse in float64, and B (float64, then a float32 copy) at the peak


class DenseMatrixRefused(MemoryError):
    """A dense matrix over the configured memory bound was refused before anything was allocated."""


def check_dense(rows: int, cols: int, what: str, bytes_per_entry: int = 8, copies: int = 1) -> None:
    """Refuse, before allocating, dense work of ``copies`` × ``rows`` × ``cols`` entries over the bound."""
    need = rows * cols * bytes_per_entry * copies
    bound = max_dense_bytes()
    if need > bound:
        raise DenseMatrixRefused(
            f"{what} needs {copies} dense {rows:,} × {cols:,} matrices of {8 * bytes_per_entry}-bit numbers "
            f"({need / 2**30:.1f} GiB), over the bound of {bound / 2**30:.1f} GiB; raise {MAX_DENSE_GB_ENV} if this "
            "machine has the memory, or leave EASE out (evaluation: include_ease false; augmented_graph keeps G)"
        )


# SANSA's weights per item, chosen on validation (benchmarks/ease_vs_sansa.py, docs/benchmarks.md): amazon-book's
# R@20 is flat from 9 to 187 per item (0.1700-0.1704, exact EASE 0.1762); ml-100k's rises to 30 (0.3185; 10:
# 0.3027, 100: 0.3218, exact EASE 0.3451)
SANSA_WEIGHTS_PER_ITEM = 30


def ease_weights(train: InteractionGraph, l2: float = 100.0) -> torch.Tensor:
    """B = I − P·diag(1/diag(P)) with P = (XᵀX + λI)⁻¹, so diag(B) = 0 (closed form, float64 solve).

    Dense in items × items: refused before allocating when that is over ``max_dense_bytes`` (80 GB per copy at
    100,000 items), with ``DenseMatrixRefused`` naming the size and the setting."""
    check_dense(train.n_items, train.n_items, f"EASE on {train.n_items:,} items", copies=EASE_DENSE_COPIES)
    x = torch.sparse_coo_tensor(
        torch.stack([train.users, train.items]),
        torch.ones(train.n_edges, dtype=torch.float64),
        (train.n_users, train.n_items),
    ).coalesce()
    gram = (x.T @ x).to_dense()
    gram.diagonal().add_(l2)
    p = torch.linalg.inv(gram)
    b = -p / p.diagonal()
    b.diagonal().zero_()
    return b.float()


def ease_scorer(train: InteractionGraph, l2: float = 100.0, device: torch.device | str = "cpu") -> Scorer:
    """ŷ_u = x_u B for a batch of users (rows of X built densely per batch, never for all users).

    Where the dense B is over the memory bound, SANSA's sparse B is used instead if the ``scale`` extra is
    installed (``score.method`` says which: ``"EASE"`` or ``"SANSA"``); otherwise ``DenseMatrixRefused``."""
    try:
        b = ease_weights(train, l2).to(device)
    except DenseMatrixRefused as refused:
        return sansa_scorer(train, l2, refused=refused)
    sets = UserItemSets.from_pairs(train.users.numpy(), train.items.numpy(), train.n_users, train.n_items)

    def score(users: torch.Tensor) -> torch.Tensor:
        start, stop = int(users[0]), int(users[-1]) + 1
        if stop - start != len(users):
            raise ValueError("ease_scorer expects a contiguous range of user ids")
        rows, cols = sets.block(start, stop)
        x = torch.zeros(len(users), train.n_items, device=device)
        x[rows.to(device), cols.to(device)] = 1.0
        return x @ b

    score.method = "EASE"
    return score


def sansa_scorer(
    train: InteractionGraph,
    l2: float = 100.0,
    weights_per_item: float = SANSA_WEIGHTS_PER_ITEM,
    refused: DenseMatrixRefused | None = None,
    factorizer: str = "icf",
) -> Scorer:
    """SANSA: EASE's B as a sparse approximate inverse (incomplete Cholesky of XᵀX + λI, then a sparse inverse
    of its factor), with about ``weights_per_item`` weights per item; memory grows with the nonzeros of XᵀX,
    not with items². ``factorizer="cholmod"`` factorizes exactly (then sparsifies): slower, for comparisons.
    Scores are on the CPU (scipy.sparse), one user batch at a time."""
    try:
        import scipy.sparse as sp
        from sansa import (
            SANSA,
            CHOLMODGramianFactorizerConfig,
            ICFGramianFactorizerConfig,
            SANSAConfig,
            UMRUnitLowerTriangleInverterConfig,
        )
    except ImportError:
        reason = f"{refused}; " if refused else ""
        raise DenseMatrixRefused(
            f"{reason}SANSA, EASE's sparse approximation, would fit: pip install -e '.[scale]' (it builds "
            "scikit-sparse against Debian's libsuitesparse-dev)"
        ) from None
    x = sp.csr_matrix(
        (np.ones(train.n_edges, dtype=np.float32), (train.users.numpy(), train.items.numpy())),
        shape=(train.n_users, train.n_items),
    )
    model = SANSA(
        SANSAConfig(
            l2=l2,
            weight_matrix_density=min(1.0, weights_per_item / max(train.n_items, 1)),
            gramian_factorizer_config=(
                CHOLMODGramianFactorizerConfig() if factorizer == "cholmod" else ICFGramianFactorizerConfig()
            ),
            lower_triangle_inverter_config=UMRUnitLowerTriangleInverterConfig(scans=1, finetune_steps=5),
        )
    )
    model.fit(x)

    def score(users: torch.Tensor) -> torch.Tensor:
        start, stop = int(users[0]), int(users[-1]) + 1
        if stop - start != len(users):
            raise ValueError("sansa_scorer expects a contiguous range of user ids")
        return torch.from_numpy(model.forward(x[start:stop]).toarray().astype(np.float32)).to(users.device)

    score.method = "SANSA"
    return score


def ease_valid_per_user(
    data: SplitData, graph: InteractionGraph, l2: float = 100.0, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """EASE fit on ``graph``, scored on the **validation** split with G's training items masked: recall@20 and
    ndcg@20 of every validation user (aligned across graphs, so G and G′ can be compared user by user)."""
    per_user = evaluate_per_user(
        ease_scorer(graph, l2, device), data.valid, data.train_sets, ks=(20,), device=device
    )
    return {k: per_user[k] for k in ("recall@20", "ndcg@20")}


def means_of(per_user: dict[str, torch.Tensor]) -> dict[str, float]:
    """Per-user metrics as the rounded means the tables and metadata show."""
    return {k: round(float(v.mean()), 5) for k, v in per_user.items()}


def ease_valid_metrics(
    data: SplitData, graph: InteractionGraph, l2: float = 100.0, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """:func:`ease_valid_per_user` averaged: EASE on ``graph``, validation recall@20 and ndcg@20."""
    return means_of(ease_valid_per_user(data, graph, l2, device))


def graph_check(on_g: dict[str, float], on_g_prime: dict[str, float]) -> dict[str, float]:
    """:func:`ease_valid_metrics` of G and of G′ as the check's metadata keys, with the recall gain."""
    out = {}
    for name, metrics in (("G", on_g), ("G_prime", on_g_prime)):
        out[f"ease_valid_recall@20_{name}"] = metrics["recall@20"]
        out[f"ease_valid_ndcg@20_{name}"] = metrics["ndcg@20"]
    out["ease_valid_recall@20_gain"] = round(on_g_prime["recall@20"] - on_g["recall@20"], 5)
    return out


def ease_graph_check(
    data: SplitData, augmented: InteractionGraph, l2: float = 100.0, device: torch.device | str = "cpu"
) -> dict[str, float]:
    """The quick loop for judging G′ (issue 11): EASE fit on G and on G′, both scored on the **validation**
    split with G's training items masked. If G′ does not beat G here, no GNN trained on it is likely to."""
    return graph_check(
        ease_valid_metrics(data, data.train, l2, device), ease_valid_metrics(data, augmented, l2, device)
    )
