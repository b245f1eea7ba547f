import torch

from llmhni_pipeline.semantic.projector import (
    Projector,
    ProjectorSettings,
    pseudo_labels,
    separation_auc,
    train_projector,
)


def test_pseudo_labels_keep_the_similar_half_and_every_users_best_edge():
    t_user = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    t_item = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, -1.0], [-1.0, 0.0]])
    users = torch.tensor([0, 0, 1, 1, 2, 2])
    items = torch.tensor([0, 3, 1, 2, 2, 3])  # cosines: 1, -1, 1, -.71, 0, -.71
    chosen, threshold = pseudo_labels(t_user, t_item, users, items, quantile=0.5)
    assert set(chosen.tolist()) == {0, 2, 4}  # 4 is below the median but user 2's best edge
    assert -0.71 < threshold < 0.01


def test_projector_shape_matches_the_spec():
    p = Projector(1536, 64)
    assert [m.out_features for m in p.net if isinstance(m, torch.nn.Linear)] == [800, 64]


def test_alignment_training_separates_interactions_better_than_raw_text():
    """Texts carry the signal only in a rotated, noisy subspace: the projector should find it."""
    g = torch.Generator().manual_seed(0)
    n_users, n_items, d_llm = 200, 150, 48
    topic_u = torch.randint(0, 5, (n_users,), generator=g)
    topic_i = torch.randint(0, 5, (n_items,), generator=g)
    centers = torch.randn(5, 8, generator=g)
    mix = torch.randn(8, d_llm, generator=g)
    t_user = (centers[topic_u] @ mix) * 0.3 + torch.randn(n_users, d_llm, generator=g) * 3.0
    t_item = (centers[topic_i] @ mix) * 0.3 + torch.randn(n_items, d_llm, generator=g) * 3.0
    pairs = [(u, i) for u in range(n_users) for i in range(n_items) if topic_u[u] == topic_i[i]]
    users = torch.tensor([p[0] for p in pairs])
    items = torch.tensor([p[1] for p in pairs])
    perm = torch.randperm(len(users), generator=g)
    train, test = perm[: len(perm) // 2], perm[len(perm) // 2 :]
    model, result = train_projector(
        t_user,
        t_item,
        users[train],
        items[train],
        ProjectorSettings(d=16, epochs=30, batch_size=512, lr=3e-3, patience=5),
    )
    with torch.no_grad():
        s_u, s_i = model(t_user), model(t_item)
    raw = separation_auc(t_user, t_item, users[test], items[test], n_items)
    projected = separation_auc(s_u, s_i, users[test], items[test], n_items)
    assert projected > raw + 0.05, (raw, projected)
    assert result.history[result.best_epoch - 1]["holdout_loss"] == min(
        h["holdout_loss"] for h in result.history
    )


def test_least_related_pruning_drops_the_lowest_cosines_and_keeps_edges_without_vectors():
    from llmhni_pipeline.recsys.graph import InteractionGraph
    from llmhni_pipeline.semantic.projector import least_related_pruned

    users_vec = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]])  # user 2 has no profile
    items_vec = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 0.0]])
    g = InteractionGraph(torch.tensor([0, 0, 0, 1, 1, 2]), torch.tensor([0, 2, 3, 1, 3, 3]), 3, 4)
    # cosines: 1, 0.71, -1, 1, 0, (none)
    pruned = least_related_pruned(g, users_vec, items_vec, 0.2)
    assert sorted(zip(pruned.users.tolist(), pruned.items.tolist(), strict=True)) == [
        (0, 0),
        (0, 2),
        (1, 1),
        (1, 3),
        (2, 3),
    ]
    pruned = least_related_pruned(g, users_vec, items_vec, 0.4)
    assert (2, 3) in zip(pruned.users.tolist(), pruned.items.tolist(), strict=True) and pruned.n_edges == 4
    assert least_related_pruned(g, users_vec, items_vec, 0.0) is g
