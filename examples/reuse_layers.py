"""Reuse hetrec's layers in your own DGL model.

A small two-task model on a heterograph built right here: users, items and genres, where
users mostly interact with items of their own taste group. It stacks two ``HGTLayer``s and
an ``MMoE`` block; task 0 predicts user–item links (dot product of task-0 embeddings,
binary cross-entropy against random negatives), task 1 classifies users into their taste
group from task-1 embeddings. A user's group is not in the graph: it has to be read off the
genres of the items the user clicked, two hops away. Only ``hetrec.nn`` is imported from
hetrec: the layers need nothing else from the package.

    python examples/reuse_layers.py [--epochs 40]
"""
import argparse

import dgl
import torch
import torch.nn.functional as F
from torch import nn

from hetrec.nn import HGTLayer, MMoE


def build_graph(num_users=300, num_items=200, num_groups=4, interactions_per_user=8, seed=0):
    """Users and items fall into `num_groups` taste groups; 85 % of a user's interactions are
    with items of the user's group. Every item has one genre (its group); relations come
    with reverses so messages flow both ways."""
    gen = torch.Generator().manual_seed(seed)
    user_group = torch.randint(0, num_groups, (num_users,), generator=gen)
    item_group = torch.randint(0, num_groups, (num_items,), generator=gen)
    users = torch.arange(num_users).repeat_interleave(interactions_per_user)
    same = torch.rand(len(users), generator=gen) < 0.85
    items = torch.empty_like(users)
    for group in range(num_groups):  # sample in-group items per group (vectorised per group)
        pool = (item_group == group).nonzero().flatten()
        pick = same & (user_group[users] == group)
        items[pick] = pool[torch.randint(0, len(pool), (int(pick.sum()),), generator=gen)]
    items[~same] = torch.randint(0, num_items, (int((~same).sum()),), generator=gen)
    item_ids = torch.arange(num_items)
    g = dgl.heterograph(
        {
            ("user", "clicks", "item"): (users, items),
            ("item", "clicked_by", "user"): (items, users),
            ("item", "has_genre", "genre"): (item_ids, item_group),
            ("genre", "genre_of", "item"): (item_group, item_ids),
        },
        num_nodes_dict={"user": num_users, "item": num_items, "genre": num_groups},
    )
    g = dgl.to_simple(g)  # drop duplicate clicks
    g.nodes["user"].data["label"] = user_group
    return g


class TwoTaskHGT(nn.Module):
    """A user's own model: ID embeddings -> 2 x HGTLayer -> MMoE -> two task heads."""

    def __init__(self, g, hidden=32, num_classes=4):
        super().__init__()
        self.embed = nn.ParameterDict(
            {t: nn.Parameter(torch.randn(g.num_nodes(t), hidden) * 0.1) for t in g.ntypes}
        )
        self.layers = nn.ModuleList(
            [HGTLayer(hidden, hidden, g.ntypes, g.canonical_etypes, num_heads=4, dropout=0.1)
             for _ in range(2)]
        )
        self.mmoe = MMoE(hidden, hidden, num_experts=3, num_tasks=2, ntypes=g.ntypes)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, g):
        h = dict(self.embed)
        for layer in self.layers:
            h = layer(g, h)
        link_emb, class_emb = self.mmoe(h)  # one dict by node type per task
        return link_emb, self.classifier(class_emb["user"])


def link_loss(g, link_emb, gen):
    users, items = g.edges(etype="clicks")
    negatives = torch.randint(0, g.num_nodes("item"), (len(users),), generator=gen)
    pos = (link_emb["user"][users] * link_emb["item"][items]).sum(-1)
    neg = (link_emb["user"][users] * link_emb["item"][negatives]).sum(-1)
    return F.binary_cross_entropy_with_logits(
        torch.cat([pos, neg]), torch.cat([torch.ones_like(pos), torch.zeros_like(neg)])
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    g = build_graph(seed=args.seed)
    labels = g.nodes["user"].data["label"]
    # the group task learns from half of the users and is evaluated on the other half
    train_users = torch.randperm(g.num_nodes("user"), generator=gen)[: g.num_nodes("user") // 2]
    test_mask = torch.ones(g.num_nodes("user"), dtype=torch.bool)
    test_mask[train_users] = False

    model = TwoTaskHGT(g)
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    print(g)
    history = []
    for epoch in range(args.epochs):
        model.train()
        link_emb, logits = model(g)
        loss_link = link_loss(g, link_emb, gen)
        loss_class = F.cross_entropy(logits[train_users], labels[train_users])
        loss = loss_link + loss_class
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(float(loss))
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            model.eval()
            with torch.no_grad():
                _, logits = model(g)
                acc = (logits[test_mask].argmax(-1) == labels[test_mask]).float().mean()
            print(f"epoch {epoch:3d}  loss {loss:.4f} (link {loss_link:.4f}, class {loss_class:.4f})"
                  f"  held-out user-group accuracy {acc:.3f}")
    first, last = sum(history[:5]) / 5, sum(history[-5:]) / 5
    print(f"mean loss over the first 5 epochs {first:.4f}, over the last 5 {last:.4f}")
    if not last < first:
        raise SystemExit("the loss did not fall")


if __name__ == "__main__":
    main()
