"""LightHGTLayer against independent references: a dense D^-1/2 A D^-1/2 product (LightGCN at
initialisation) and a slow per-target loop over the equations of its docstring."""
import math

import dgl
import pytest
import torch
from hetero_graphs import RELATIONS, make_heterograph, random_features

from hetrec.nn import LightHGTLayer


def dense_propagation(g, h):
    """Reference: one homogeneous graph, symmetric normalisation over all relations."""
    hg = dgl.to_homogeneous(g)
    n = hg.num_nodes()
    a = torch.zeros(n, n, dtype=torch.float64)
    s, d = hg.edges()
    a.index_put_((d, s), torch.ones(len(s), dtype=torch.float64), accumulate=True)
    deg_in = a.sum(1).clamp(min=1)
    deg_out = a.sum(0).clamp(min=1)
    an = deg_in.pow(-0.5)[:, None] * a * deg_out.pow(-0.5)[None, :]
    x = torch.cat([h[t].double() for t in g.ntypes])
    y = an @ x
    out, off = {}, 0
    for t in g.ntypes:
        out[t] = y[off:off + g.num_nodes(t)]
        off += g.num_nodes(t)
    return out


def loop_reference(layer, g, h):
    """Slow reference: for every target, every head, the softmax of Eq. 7' written out."""
    nh, d = layer.num_heads, layer.head_size

    def degree(t, v, rel, out):
        rels = [rel] if layer.norm == "relation" else [
            r for r in g.canonical_etypes if (r[0] if out else r[2]) == t]
        f = g.out_degrees if out else g.in_degrees
        return max(sum(int(f(v, etype=r)) for r in rels), 1)

    res = {t: torch.zeros(g.num_nodes(t), layer.size) for t in g.ntypes}
    for t in g.ntypes:
        for v in range(g.num_nodes(t)):
            edges = []
            for r in g.canonical_etypes:
                if r[2] == t:
                    src, _ = g.in_edges(v, etype=r)
                    edges += [(r, int(s)) for s in src]
            if not edges:
                continue
            for i in range(nh):
                logits, cs, vals = [], [], []
                for r, s in edges:
                    ri = layer._rel_index[r]
                    k = layer.k_linears[r[0]](h[r[0]][s]).view(nh, d)[i]
                    q = layer.q_linears[t](h[t][v]).view(nh, d)[i]
                    beta = k @ layer.relation_att[ri, i] @ q * layer.relation_pri[ri, i] / math.sqrt(d)
                    c = 1 / math.sqrt(degree(r[0], s, r, True) * degree(t, v, r, False))
                    logits.append(beta + math.log(c))
                    cs.append(c)
                    vals.append(h[r[0]][s].view(nh, d)[i])
                w = torch.softmax(torch.stack(logits), 0) * sum(cs)
                res[t][v].view(nh, d)[i] = sum(wi * x for wi, x in zip(w, vals))
    return res


SYMMETRIC = RELATIONS + [("item", "tagged", "tag")]


@pytest.mark.parametrize("attention", [True, False, "relation"])
def test_initial_layer_is_lightgcn_propagation(attention):
    g = make_heterograph(relations=SYMMETRIC, seed=3)
    h = random_features(g, 8)
    out = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, attention=attention)(g, h)
    ref = dense_propagation(g, h)
    for t in g.ntypes:
        torch.testing.assert_close(out[t].double(), ref[t], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("norm", ["node", "relation"])
def test_learned_attention_matches_loop_reference(norm):
    g = make_heterograph(num_edges=12, relations=SYMMETRIC, seed=1)
    h = random_features(g, 8, seed=2)
    layer = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, norm=norm, attention="edge")
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in layer.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
    out = layer(g, h)
    ref = loop_reference(layer, g, h)
    for t in g.ntypes:
        torch.testing.assert_close(out[t], ref[t], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("norm", ["node", "relation"])
def test_relation_attention_matches_loop_reference(norm):
    """attention="relation": the logit of every edge is b[r, head]; same loop reference."""
    g = make_heterograph(num_edges=12, relations=SYMMETRIC, seed=8)
    h = random_features(g, 8, seed=9)
    layer = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, norm=norm, attention="relation")
    with torch.no_grad():
        layer.relation_logit.normal_(generator=torch.Generator().manual_seed(1))
    def beta(r, i):
        return layer.relation_logit[layer._rel_index[r], i]

    out, att = layer(g, h, return_attention=True)
    nh, d = 2, 4
    for t in g.ntypes:
        for v in range(g.num_nodes(t)):
            edges = [(r, int(s)) for r in g.canonical_etypes if r[2] == t for s in g.in_edges(v, etype=r)[0]]
            if not edges:
                assert out[t][v].abs().max() == 0
                continue
            for i in range(nh):
                def deg(nt, n, rel, outgoing):
                    rels = [rel] if norm == "relation" else [q for q in g.canonical_etypes
                                                             if (q[0] if outgoing else q[2]) == nt]
                    f = g.out_degrees if outgoing else g.in_degrees
                    return max(sum(int(f(n, etype=q)) for q in rels), 1)
                cs = torch.tensor([1 / math.sqrt(deg(r[0], s, r, True) * deg(t, v, r, False)) for r, s in edges])
                logits = torch.stack([beta(r, i) for r, _ in edges]) + cs.log()
                w = torch.softmax(logits, 0) * cs.sum()
                expect = sum(wi * h[r[0]][s].view(nh, d)[i] for wi, (r, s) in zip(w, edges))
                torch.testing.assert_close(out[t][v].view(nh, d)[i], expect, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("mode", ["edge", "relation"])
def test_attention_redistributes_lightgcn_mass(mode):
    """Per target and head, the weights sum to C(t) = sum of c(e) whatever the queries."""
    g = make_heterograph(relations=SYMMETRIC, seed=4)
    h = random_features(g, 8, seed=5)
    fixed = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, attention=False)
    learned = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, attention=mode)
    with torch.no_grad():
        for p in ([lin.weight for lin in learned.q_linears.values()] if mode == "edge"
                  else [learned.relation_logit]):
            p.normal_()
    _, c = fixed(g, h, return_attention=True)
    _, a = learned(g, h, return_attention=True)
    for t in g.ntypes:
        into = [r for r in g.canonical_etypes if r[2] == t]
        if not into:
            continue
        n = g.num_nodes(t)
        mass_c = sum(torch.zeros(n, 2).index_add_(0, g.edges(etype=r)[1], c[r]) for r in into)
        mass_a = sum(torch.zeros(n, 2).index_add_(0, g.edges(etype=r)[1], a[r]) for r in into)
        torch.testing.assert_close(mass_a, mass_c, atol=1e-5, rtol=1e-5)
    assert any(not torch.allclose(a[r], c[r]) for r in a)  # but not edge by edge


def test_block_equals_graph():
    g = make_heterograph(relations=SYMMETRIC, seed=6)
    h = random_features(g, 8, seed=1)
    layer = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, attention="edge")
    with torch.no_grad():
        for lin in layer.q_linears.values():
            lin.weight.normal_()
    block = dgl.to_block(g, {t: torch.arange(g.num_nodes(t)) for t in g.ntypes})
    # every node is a destination, so block degrees equal graph degrees
    hb = {t: h[t][block.srcnodes[t].data[dgl.NID]] for t in block.srctypes}
    out_g, out_b = layer(g, h), layer(block, hb)
    for t in g.ntypes:
        torch.testing.assert_close(out_b[t], out_g[t][block.dstnodes[t].data[dgl.NID]], atol=1e-5, rtol=1e-5)


def test_gradients_reach_queries_from_zero_start():
    g = make_heterograph(relations=SYMMETRIC, seed=7)
    h = {t: x.requires_grad_() for t, x in random_features(g, 8).items()}
    layer = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, attention="edge")
    out = layer(g, h)
    (out["user"].pow(2).sum() + out["item"].pow(2).sum()).backward()
    assert any(lin.weight.grad.abs().sum() > 0 for lin in layer.q_linears.values())
    assert h["tag"].grad.abs().sum() > 0  # messages flow from attribute nodes


def test_errors_and_zero_in_degree():
    g = make_heterograph(seed=0)  # 'tag' receives no message
    h = random_features(g, 8)
    layer = LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2)
    out = layer(g, h)
    assert torch.equal(out["tag"], torch.zeros(g.num_nodes("tag"), 8))
    other = LightHGTLayer(8, g.ntypes, g.canonical_etypes[:2], num_heads=2)
    with pytest.raises(KeyError, match="not among the canonical_etypes"):
        other(g, h)
    with pytest.raises(ValueError, match="divisible"):
        LightHGTLayer(10, g.ntypes, g.canonical_etypes, num_heads=4)
    with pytest.raises(ValueError, match="attention must be"):
        LightHGTLayer(8, g.ntypes, g.canonical_etypes, attention="node")
    with pytest.raises(ValueError, match="norm must be"):
        LightHGTLayer(8, g.ntypes, g.canonical_etypes, norm="sym")


def test_relation_attention_is_the_default():
    """The cheaper per-relation attention, which led per-edge attention in MTHGT's measurements."""
    g = make_heterograph(seed=0)
    assert LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2).attention == "relation"
    assert LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, attention=True).attention == "edge"
