import dgl
import pytest
import torch
import torch.nn.functional as F
from dgl.nn import HGTConv
from hetero_graphs import RELATIONS, make_heterograph, random_features

from hetrec.nn import HGTLayer


def make_layer(g, in_size=8, out_size=8, seed=0, **kwargs):
    torch.manual_seed(seed)
    kwargs.setdefault("dropout", 0.0)
    layer = HGTLayer(in_size, out_size, g.ntypes, g.canonical_etypes, num_heads=2, **kwargs)
    with torch.no_grad():  # non-trivial priors and mixing weights, so they are exercised
        layer.relation_pri.uniform_(0.5, 1.5)
        layer.skip.uniform_(-1.0, 1.0)
    return layer.eval()


def copy_into_hgtconv(layer, conv, output_linear):
    """Give DGL's HGTConv exactly our K/Q/M/relation weights (no biases on our side)."""
    with torch.no_grad():
        for i, t in enumerate(layer.ntypes):
            for ours, theirs in (
                (layer.k_linears, conv.linear_k),
                (layer.q_linears, conv.linear_q),
                (layer.m_linears, conv.linear_v),
            ):
                ours[t].bias.zero_()
                theirs.W[i] = ours[t].weight.T
            if output_linear:
                layer.a_linears[t].bias.zero_()
                conv.linear_a.W[i] = layer.a_linears[t].weight.T
            else:
                conv.linear_a.W[i] = torch.eye(layer.out_size)
        for head in range(layer.num_heads):
            conv.relation_att[head].W.copy_(layer.relation_att[:, head])
            conv.relation_msg[head].W.copy_(layer.relation_msg[:, head])
            conv.relation_pri[head].copy_(layer.relation_pri[:, head])
        # sigmoid(100) == 1 in float32: HGTConv then returns its A-Linear output, no residual
        conv.skip.fill_(100.0)


@pytest.mark.parametrize("output_linear", [False, True])
def test_aggregation_matches_dgl_hgtconv(output_linear):
    g = make_heterograph(num_edges=40, seed=1)
    assert len(g.ntypes) >= 3 and len(g.canonical_etypes) >= 4
    layer = make_layer(g, 8, 8)
    conv = HGTConv(8, 4, 2, len(g.ntypes), len(g.canonical_etypes), dropout=0.0).eval()
    copy_into_hgtconv(layer, conv, output_linear)
    h = random_features(g, 8, seed=2)

    hg = dgl.to_homogeneous(g)
    x = torch.cat([h[t] for t in g.ntypes])
    expected = conv(hg, x, hg.ndata[dgl.NTYPE], hg.edata[dgl.ETYPE], presorted=True)

    agg = layer.aggregate(g, h)
    ours = {t: layer.a_linears[t](agg[t]) for t in g.ntypes} if output_linear else agg
    offset = 0
    for t in g.ntypes:
        n = g.num_nodes(t)
        torch.testing.assert_close(ours[t], expected[offset : offset + n], atol=1e-5, rtol=1e-5)
        offset += n


def test_block_equals_full_graph_on_destination_nodes():
    g = make_heterograph(num_edges=40, seed=3)
    layer = make_layer(g, 8, 12, use_norm=True)
    h = random_features(g, 8, seed=4)
    full = layer(g, h)

    seeds = {"user": torch.tensor([0, 3, 5]), "item": torch.tensor([1, 2, 8]),
             "tag": torch.tensor([2])}
    block = dgl.to_block(dgl.in_subgraph(g, seeds), dst_nodes=seeds)
    h_block = {t: h[t][block.srcnodes[t].data[dgl.NID]] for t in block.srctypes}
    out = layer(block, h_block)
    for t, ids in seeds.items():
        torch.testing.assert_close(out[t], full[t][ids], atol=1e-6, rtol=1e-5)


def reference_attention(layer, g, h):
    """Eq. 5-7 with an explicit loop over target nodes: raw scores per edge, then one
    softmax per target over its incoming edges of every relation."""
    nh, d = layer.num_heads, layer.head_size
    raw = {}
    for rel in g.canonical_etypes:
        ri = layer.canonical_etypes.index(rel)
        u, v = g.edges(etype=rel)
        k = layer.k_linears[rel[0]](h[rel[0]]).view(-1, nh, d)[u]
        q = layer.q_linears[rel[2]](h[rel[2]]).view(-1, nh, d)[v]
        kw = torch.einsum("ehd,hdf->ehf", k, layer.relation_att[ri])
        raw[rel] = (kw * q).sum(-1) * layer.relation_pri[ri] / d**0.5
    att = {rel: torch.empty_like(s) for rel, s in raw.items()}
    for t in g.ntypes:
        for node in range(g.num_nodes(t)):
            incoming = [(rel, (g.edges(etype=rel)[1] == node).nonzero().flatten())
                        for rel in g.canonical_etypes if rel[2] == t]
            if not incoming:
                continue
            scores = torch.cat([raw[rel][eids] for rel, eids in incoming])
            if scores.numel() == 0:
                continue
            weights = torch.softmax(scores, dim=0)
            start = 0
            for rel, eids in incoming:
                att[rel][eids] = weights[start : start + len(eids)]
                start += len(eids)
    return att


def test_attention_is_one_softmax_over_all_relations():
    g = make_heterograph(num_edges=25, seed=5)
    layer = make_layer(g)
    h = random_features(g, 8, seed=6)
    _, att = layer.aggregate(g, h, return_attention=True)
    with torch.no_grad():
        expected = reference_attention(layer, g, h)
    for rel in g.canonical_etypes:
        torch.testing.assert_close(att[rel], expected[rel], atol=1e-6, rtol=1e-5)

    # every target's attention sums to 1 per head over all of its incoming edges
    for t in g.ntypes:
        total = torch.zeros(g.num_nodes(t), layer.num_heads)
        for rel in g.canonical_etypes:
            if rel[2] == t:
                total.index_add_(0, g.edges(etype=rel)[1], att[rel])
        has_in = sum(g.in_degrees(etype=r) for r in g.canonical_etypes if r[2] == t) > 0 \
            if any(r[2] == t for r in g.canonical_etypes) else torch.zeros(g.num_nodes(t), dtype=torch.bool)
        torch.testing.assert_close(total[has_in], torch.ones(int(has_in.sum()), layer.num_heads))
        assert torch.all(total[~has_in] == 0)
    # users receive from three relations, so a softmax per relation would sum to more than 1
    user_rels = [r for r in g.canonical_etypes if r[2] == "user"]
    per_relation = sum(
        torch.zeros(g.num_nodes("user"), 2).index_add_(
            0, g.edges(etype=r)[1], torch.ones(g.num_edges(r), 2)).clamp(max=1)
        for r in user_rels)
    assert per_relation.max() > 1


def test_node_permutation_equivariance():
    g = make_heterograph(num_edges=30, seed=7)
    layer = make_layer(g, 8, 8)
    h = random_features(g, 8, seed=8)
    gen = torch.Generator().manual_seed(9)
    # new_id[t][old] is the position of old node `old` in the permuted graph
    new_id = {t: torch.randperm(g.num_nodes(t), generator=gen) for t in g.ntypes}
    data = {}
    for rel in g.canonical_etypes:
        u, v = g.edges(etype=rel)
        data[rel] = (new_id[rel[0]][u], new_id[rel[2]][v])
    g_perm = dgl.heterograph(data, num_nodes_dict={t: g.num_nodes(t) for t in g.ntypes})
    h_perm = {t: torch.empty_like(x) for t, x in h.items()}
    for t in g.ntypes:
        h_perm[t][new_id[t]] = h[t]
    out, out_perm = layer(g, h), layer(g_perm, h_perm)
    for t in g.ntypes:
        torch.testing.assert_close(out_perm[t][new_id[t]], out[t], atol=1e-6, rtol=1e-5)


def test_gradients_reach_every_parameter():
    # every type must receive messages here, or its Q-Linear is legitimately unused
    g = make_heterograph(num_edges=30, seed=10, relations=RELATIONS + [("user", "uses", "tag")])
    layer = make_layer(g, 6, 8, use_norm=True).train()
    h = random_features(g, 6, seed=11)
    for x in h.values():
        x.requires_grad_(True)
    out = layer(g, h)
    gen = torch.Generator().manual_seed(12)
    loss = sum((y * torch.randn(y.shape, generator=gen)).sum() for y in out.values())
    loss.backward()
    for name, p in layer.named_parameters():
        assert p.grad is not None, name
        assert p.grad.abs().sum() > 0, name
    for t, x in h.items():
        assert x.grad.abs().sum() > 0, t


def test_float64_gradcheck():
    g = make_heterograph(num_edges=6, seed=13, num_nodes={"user": 3, "item": 3, "tag": 2})
    layer = make_layer(g, 4, 4, use_norm=True).double()
    h = random_features(g, 4, seed=14, dtype=torch.float64)
    types = list(h)

    def fn(*xs):
        out = layer(g, dict(zip(types, xs)))
        return tuple(out[t] for t in g.ntypes)

    inputs = tuple(h[t].requires_grad_(True) for t in types)
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6)


def test_node_without_messages_keeps_residual_representation():
    g = make_heterograph(num_edges=20, seed=15)
    assert not any(rel[2] == "tag" for rel in g.canonical_etypes)
    layer = make_layer(g, 8, 8)
    h = random_features(g, 8, seed=16)
    out = layer(g, h)
    alpha = torch.sigmoid(layer.skip[layer.ntypes.index("tag")])
    bias = layer.a_linears["tag"].bias
    expected = alpha * F.gelu(bias).expand_as(h["tag"]) + (1 - alpha) * h["tag"]
    torch.testing.assert_close(out["tag"], expected)
    # the residual carries each tag's own input: tags stay distinguishable
    assert torch.cdist(out["tag"], out["tag"]).fill_diagonal_(1).min() > 0


def test_relation_without_edges_and_size_checks():
    g = make_heterograph(num_edges=20, seed=17)
    sub = dgl.edge_subgraph(g, {("user", "friend", "user"): [],
                                **{r: torch.arange(g.num_edges(r)) for r in g.canonical_etypes
                                   if r[1] != "friend"}}, relabel_nodes=False)
    assert sub.num_edges(("user", "friend", "user")) == 0
    layer = make_layer(g, 8, 8)
    h = random_features(g, 8, seed=18)
    out = layer(sub, h)
    assert all(torch.isfinite(x).all() for x in out.values())
    with pytest.raises(ValueError):
        HGTLayer(8, 10, g.ntypes, g.canonical_etypes, num_heads=4)
    with pytest.raises(KeyError):
        layer(g, {t: x for t, x in h.items() if t != "item"})


def test_unidirectional_bipartite_graph():
    # a non-block graph whose src and dst node types differ (DGL's "uni-bipartite" case)
    g = dgl.heterograph({("user", "buys", "item"): ([0, 1, 1, 2], [1, 2, 0, 2])})
    layer = make_layer(g, 8, 8)
    h = random_features(g, 8, seed=19)
    out = layer(g, h)
    assert set(out) == {"item"} and out["item"].shape == (3, 8)
    # item 2 receives from users 1 and 2: the result depends on both
    h2 = {t: x.clone() for t, x in h.items()}
    h2["user"][2] += 1.0
    changed = (layer(g, h2)["item"] - out["item"]).abs().sum(-1) > 1e-6
    assert changed.tolist() == [False, False, True]
