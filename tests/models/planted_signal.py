"""How well a model ranks the synthetic graph's planted clusters (shared by model tests)."""
import numpy as np
import torch


def cluster_auc(model, g, split):
    """Mean over users of P(score of an unseen same-cluster item > an unseen other one)."""
    model.eval()
    s = model.scores(torch.arange(split.num_users))
    seen = torch.from_numpy(split.train.toarray() > 0)
    same = g.nodes["item"].data["category"][None, :] == g.nodes["user"].data["cluster"][:, None]
    aucs = []
    for u in range(split.num_users):
        pos, neg = s[u][same[u] & ~seen[u]], s[u][~same[u] & ~seen[u]]
        if len(pos) and len(neg):
            aucs.append((pos[:, None] > neg[None, :]).float().mean().item())
    model.train()
    return float(np.mean(aucs))
