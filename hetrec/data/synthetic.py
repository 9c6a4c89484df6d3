"""A seeded generator of heterographs in the hetrec schema, from tiny to millions of edges.

Users and items have power-law (Zipf) activity and popularity. Items fall into
``num_clusters`` clusters and each user prefers one cluster, so there is a signal a
recommender can learn; ``affinity`` is the share of a user's interactions drawn from it.
Attributes mirror the real datasets: a categorical user attribute (``group``, like a
demographic), an item ``category`` (the cluster, like a genre), ``tag`` nodes attached to
items and users (Last.FM-like, counts on the edges), and a symmetric ``friend`` relation.
"""
from __future__ import annotations

import numpy as np

from .builder import Relation, build_graph, count_pairs
from .schema import INTERACTS, ITEM, USER


def _zipf_weights(n: int, exponent: float, rng) -> np.ndarray:
    w = 1.0 / np.arange(1, n + 1) ** exponent
    rng.shuffle(w)  # popular ids scattered, not 0..k
    return w / w.sum()


def synthetic(num_users: int = 200, num_items: int = 300, num_interactions: int = 3000, *,
              num_clusters: int = 4, affinity: float = 0.8, num_groups: int = 3,
              num_tags: int = 50, num_tag_assignments: int | None = None,
              num_friendships: int | None = None, exponent: float = 1.0, seed: int = 0):
    """Generate a heterograph with ``num_interactions`` distinct user-item interactions (fewer
    only if that exceeds ``num_users * num_items``, or if the popularity law makes the last
    distinct pairs very unlikely). Repeated draws of a pair add to its ``weight``; the result
    is the same for the same arguments. Edge data: ``weight`` (a positive count) on
    interactions, ``count`` on tag relations. ``item`` has ``category`` in node data too.
    """
    if min(num_users, num_items, num_interactions) < 1:
        raise ValueError("num_users, num_items and num_interactions must be positive")
    rng = np.random.default_rng(seed)
    num_clusters = max(1, min(num_clusters, num_items))
    p_user = _zipf_weights(num_users, exponent, rng)
    p_item = _zipf_weights(num_items, exponent, rng)
    item_cluster = rng.integers(0, num_clusters, size=num_items)
    item_cluster[:num_clusters] = np.arange(num_clusters)  # every cluster non-empty
    user_cluster = rng.integers(0, num_clusters, size=num_users)

    # items of each cluster, sorted, with cumulative popularity for inverse-CDF draws
    order = np.lexsort((np.arange(num_items), item_cluster))
    starts = np.searchsorted(item_cluster[order], np.arange(num_clusters + 1))
    cdf = np.cumsum(p_item[order])
    base = np.r_[0.0, cdf][starts]  # mass before each cluster

    def draw(n):
        users = rng.choice(num_users, size=n, p=p_user)
        in_cluster = rng.random(n) < affinity
        items = rng.choice(num_items, size=n, p=p_item)
        c = user_cluster[users[in_cluster]]
        lo, hi = base[c], base[c + 1]
        u = lo + rng.random(len(c)) * (hi - lo)
        pos = np.clip(np.searchsorted(cdf, u, side="right"), starts[c], starts[c + 1] - 1)
        items[in_cluster] = order[pos]
        return users, items

    # draw in rounds until enough distinct pairs exist (popular pairs repeat under Zipf laws);
    # repeats of a pair become its weight
    target = min(num_interactions, num_users * num_items)
    keys = np.empty(0, dtype=np.int64)
    n_distinct = 0
    for _ in range(30):
        # geometric growth: the last distinct pairs of a skewed law take many draws
        u, i = draw(max(int(1.2 * (target - n_distinct)), len(keys) // 2) + 8)
        keys = np.concatenate([keys, u.astype(np.int64) * num_items + i])
        n_distinct = len(np.unique(keys))
        if n_distinct >= target:
            break
    uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
    keep = np.sort(first)[:target]  # first occurrences, in draw order
    users, items = keys[keep] // num_items, keys[keep] % num_items
    weight = counts[np.searchsorted(uniq, keys[keep])]

    rels = {INTERACTS: Relation(users, items, {"weight": weight.astype(np.int64)})}
    num_nodes = {USER: num_users, ITEM: num_items, "category": num_clusters}
    rels[(ITEM, "has_category", "category")] = Relation(np.arange(num_items), item_cluster)
    if num_groups > 0:
        group = (user_cluster + rng.integers(0, 2, size=num_users)) % num_groups
        rels[(USER, "has_group", "group")] = Relation(np.arange(num_users), group)
        num_nodes["group"] = num_groups
    if num_tags > 0:
        n_assign = num_tag_assignments if num_tag_assignments is not None else num_interactions // 2
        # a tag assignment is a (user, item) interaction plus a tag popular in the item's cluster
        pick = rng.integers(0, len(users), size=n_assign)
        tag_cluster_span = max(1, num_tags // num_clusters)
        tags = (item_cluster[items[pick]] * tag_cluster_span
                + rng.zipf(1.5, size=n_assign) % tag_cluster_span) % num_tags
        it_i, it_t, it_c = count_pairs(items[pick], tags)
        ut_u, ut_t, ut_c = count_pairs(users[pick], tags)
        rels[(ITEM, "tagged_with", "tag")] = Relation(it_i, it_t, {"count": it_c})
        rels[(USER, "uses_tag", "tag")] = Relation(ut_u, ut_t, {"count": ut_c})
        num_nodes["tag"] = num_tags
    n_friend = num_friendships if num_friendships is not None else num_users * 2
    if n_friend > 0 and num_users > 1:
        a = rng.choice(num_users, size=n_friend, p=p_user)
        b = rng.integers(0, num_users, size=n_friend)
        a, b = a[a != b], b[a != b]
        pairs = np.unique(np.stack([np.minimum(a, b), np.maximum(a, b)], 1), axis=0)
        src = np.concatenate([pairs[:, 0], pairs[:, 1]])
        dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
        rels[(USER, "friend", USER)] = Relation(src, dst, symmetric=True)
    g = build_graph(num_nodes, rels)
    import torch

    g.nodes[ITEM].data["category"] = torch.as_tensor(item_cluster)
    g.nodes[USER].data["cluster"] = torch.as_tensor(user_cluster)
    return g
