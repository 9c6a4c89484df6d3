"""Small random heterographs shared by the tests/nn tests."""
import dgl
import torch

# three node types, five relations; 'tag' only sends messages, so its nodes never receive one
RELATIONS = [
    ("user", "interacts", "item"),
    ("item", "interacted_by", "user"),
    ("user", "friend", "user"),
    ("tag", "tags", "item"),
    ("tag", "tags_user", "user"),
]
NUM_NODES = {"user": 7, "item": 9, "tag": 4}


def make_heterograph(num_edges=30, seed=0, relations=RELATIONS, num_nodes=NUM_NODES):
    gen = torch.Generator().manual_seed(seed)
    data = {}
    for src, rel, dst in relations:
        u = torch.randint(0, num_nodes[src], (num_edges,), generator=gen)
        v = torch.randint(0, num_nodes[dst], (num_edges,), generator=gen)
        data[(src, rel, dst)] = (u, v)
    return dgl.heterograph(data, num_nodes_dict=dict(num_nodes))


def random_features(g, size, seed=0, dtype=torch.float32):
    gen = torch.Generator().manual_seed(seed)
    return {
        t: torch.randn(g.num_nodes(t), size, generator=gen, dtype=dtype) for t in g.ntypes
    }
