"""Serving a trained model: the top-N items for one user, named by the dataset's raw ids."""
from __future__ import annotations

import torch

from ..data import INTERACTS, ITEM, USER, DataError


def recommend(model, dataset, user_raw_id: int, k: int = 10) -> list:
    """Top-``k`` items for a user given by raw id: ``[(rank, raw_item_id, name, score)]``.

    Items the user already interacted with (anywhere in the dataset) are not recommended.
    """
    g = dataset.graph
    raw = g.nodes[USER].data["raw_id"]
    in_range = -(2**63) <= int(user_raw_id) < 2**63
    hit = (raw == int(user_raw_id)).nonzero().flatten() if in_range else raw[:0]
    if len(hit) == 0:
        raise DataError(f"unknown user {user_raw_id}: no user with that raw id in the dataset "
                        f"({g.num_nodes(USER):,} users, raw ids {int(raw.min())}..{int(raw.max())})")
    u = int(hit[0])
    with torch.no_grad():
        scores = model.scores(torch.tensor([u], device="cpu"))[0].clone()
    seen = g.successors(u, etype=INTERACTS)
    scores[seen] = -float("inf")
    k = min(k, int(torch.isfinite(scores).sum()))
    top = torch.topk(scores, k).indices.tolist()
    item_raw = g.nodes[ITEM].data["raw_id"]
    return [(r + 1, int(item_raw[i]), dataset.item_name(i), float(scores[i])) for r, i in enumerate(top)]


__all__ = ["recommend"]
