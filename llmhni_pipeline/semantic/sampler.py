"""LLMHNI module 1, part 2: semantic-relevance-guided hard negatives (method_spec §10), and the samplers of its
ablations. The engine's plain samplers are in ``recsys/sampling.py``."""

from __future__ import annotations

import torch

from llmhni_pipeline.recsys.data import UserItemSets
from llmhni_pipeline.recsys.graph import InteractionGraph
from llmhni_pipeline.recsys.memory import users_per_block
from llmhni_pipeline.recsys.sampling import NegativeSampler, UniformNegativeSampler


class SemanticHardNegativeSampler(NegativeSampler):
    """LLMHNI's semantic-relevance-guided hard negatives (method_spec §10).

    Every epoch (after ``warmup_epochs`` of uniform sampling) each user's pool HN_u is refreshed with the
    ``pool_size`` highest-scored items they have not interacted with (one chunked matmul). From the pool,
    ``mode="semantic"`` keeps the ``k_low`` members with the **lowest** rel_sem(u, j) = cos(s_u, s_j) (likely
    true negatives; the semantically close high scorers are probable false negatives and are skipped), and
    ``mode="dns"`` keeps the ``k_low`` highest-scored (score only, the "w/o semantic" ablation). A negative is
    drawn uniformly from the kept members; with ``hard_share`` < 1 only that share of the negatives is (each
    independently), the rest uniform over the user's non-positives. Pass raw LLM embeddings as ``user_sem``/``item_sem`` for the
    "w/o goal alignment" ablation.
    """

    def __init__(
        self,
        graph: InteractionGraph,
        user_sem: torch.Tensor | None,
        item_sem: torch.Tensor | None,
        pool_size: int = 50,
        k_low: int = 5,
        warmup_epochs: int = 5,
        mode: str = "semantic",
        chunk_users: int = 2048,
        hard_share: float = 1.0,
    ):
        if not 0.0 <= hard_share <= 1.0:
            raise ValueError(f"hard_share must be in [0, 1], not {hard_share}")
        if mode not in {"semantic", "dns"}:
            raise ValueError(f"mode must be 'semantic' or 'dns', not {mode!r}")
        if mode == "semantic" and (user_sem is None or item_sem is None):
            raise ValueError("the semantic mode needs user and item semantic vectors")
        self.name = mode
        self.needs_scores = True
        self.uniform = UniformNegativeSampler(graph)
        self.positives = UserItemSets.from_pairs(
            graph.users.numpy(), graph.items.numpy(), graph.n_users, graph.n_items
        )
        norm = torch.nn.functional.normalize
        self.user_sem = norm(user_sem.float(), dim=1) if user_sem is not None else None
        self.item_sem = norm(item_sem.float(), dim=1) if item_sem is not None else None
        # a pool larger than the fewest non-positives any user has would have to hold positives: shrink it
        room = graph.n_items - int(graph.user_degree().max()) if graph.n_edges else graph.n_items
        if room < 1:
            raise ValueError("a user has interacted with every item: there is no negative to sample")
        pool_size = min(pool_size, room)
        self.pool_size, self.k_low, self.warmup_epochs = pool_size, min(k_low, pool_size), warmup_epochs
        self.mode, self.chunk_users, self.hard_share = mode, chunk_users, hard_share
        self.candidates: torch.Tensor | None = None  # [n_users, k_low] item ids

    @torch.no_grad()
    def refresh(self, user_emb: torch.Tensor, item_emb: torch.Tensor, epoch: int) -> None:
        if epoch <= self.warmup_epochs:
            self.candidates = None
            return
        # scored where the embeddings live (the GPU when training there); the kept ids come back to the CPU,
        # where negatives are drawn with the loop's generator
        device = user_emb.device
        user_emb, item_emb = user_emb.float(), item_emb.float()
        if self.user_sem is not None and self.user_sem.device != device:
            self.user_sem, self.item_sem = self.user_sem.to(device), self.item_sem.to(device)
        n_users = user_emb.shape[0]
        out = torch.empty(n_users, self.k_low, dtype=torch.long)
        chunk = users_per_block(item_emb.shape[0], self.chunk_users, bytes_per_cell=8)  # scores, top-k's work
        for start in range(0, n_users, chunk):
            stop = min(start + chunk, n_users)
            scores = user_emb[start:stop] @ item_emb.T
            rows, cols = self.positives.block(start, stop)
            scores[rows.to(device), cols.to(device)] = -torch.inf  # the pool never holds a training positive
            pool = torch.topk(scores, self.pool_size, dim=1).indices  # sorted by score, best first
            if self.mode == "dns":
                kept = pool[:, : self.k_low]
            else:
                rel_sem = (self.user_sem[start:stop, None, :] * self.item_sem[pool]).sum(-1)
                lowest = torch.topk(rel_sem, self.k_low, dim=1, largest=False).indices
                kept = pool.gather(1, lowest)
            out[start:stop] = kept.cpu()
        self.candidates = out

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        if self.candidates is None:
            return self.uniform.sample(users, generator)
        pick = torch.randint(0, self.candidates.shape[1], users.shape, generator=generator)
        hard = self.candidates[users, pick]
        if self.hard_share >= 1.0:
            return hard
        use_hard = torch.rand(users.shape, generator=generator) < self.hard_share
        return torch.where(use_hard, hard, self.uniform.sample(users, generator))


SAMPLER_KINDS = ("uniform", "dns", "semantic", "raw")

SemanticVectors = tuple[torch.Tensor, torch.Tensor]  # (user vectors [n_users, d], item vectors [n_items, d])


def build_negative_sampler(
    kind: str,
    graph: InteractionGraph,
    projected: SemanticVectors | None = None,
    raw: SemanticVectors | None = None,
    pool_size: int = 50,
    k_low: int = 5,
    warmup_epochs: int = 5,
    hard_share: float = 1.0,
) -> NegativeSampler:
    """The sampler of one LLMHNI arm: ``semantic`` (projected LLM vectors, the method), ``raw`` (the same rule
    on raw LLM vectors: "w/o goal alignment"), ``dns`` (score-only pool: "w/o semantic sampling") or
    ``uniform``. ``hard_share``: the share of negatives drawn by the hard rule, the rest uniform."""
    if kind == "uniform" or hard_share == 0.0:  # no hard negative would ever be drawn: no pool to refresh
        return UniformNegativeSampler(graph)
    if kind == "dns":
        return SemanticHardNegativeSampler(
            graph, None, None, pool_size, k_low, warmup_epochs, mode="dns", hard_share=hard_share
        )
    if kind not in SAMPLER_KINDS:
        raise ValueError(f"negative sampler must be one of {', '.join(SAMPLER_KINDS)}, not {kind!r}")
    vectors = projected if kind == "semantic" else raw
    if vectors is None:
        what = "projected (aligned_projector)" if kind == "semantic" else "raw (llm_embeddings)"
        raise ValueError(f"the {kind!r} sampler needs {what} user and item vectors")
    sampler = SemanticHardNegativeSampler(
        graph, *vectors, pool_size, k_low, warmup_epochs, hard_share=hard_share
    )
    sampler.name = kind
    return sampler
