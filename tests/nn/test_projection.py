import dgl
import pytest
import torch
from hetero_graphs import make_heterograph

from hetrec.nn import NodeTypeProjection


@pytest.fixture
def graph():
    g = make_heterograph(num_edges=20, seed=0)
    g.nodes["item"].data["feat"] = torch.randn(g.num_nodes("item"), 5)
    return g


def make_projection(g, activation=torch.tanh):
    torch.manual_seed(0)
    return NodeTypeProjection(
        g.ntypes,
        num_nodes={"user": g.num_nodes("user"), "tag": g.num_nodes("tag"), "item": g.num_nodes("item")},
        in_feats={"item": 5},
        out_size=6,
        activation=activation,
    )


def test_equation_3_on_the_full_graph(graph):
    proj = make_projection(graph)
    out = proj(graph)
    assert set(out) == set(graph.ntypes)
    # item: embedding and feature are concatenated before the per-type linear
    x = torch.cat([proj.embeddings["item"].weight, graph.nodes["item"].data["feat"]], dim=1)
    lin = proj.linears["item"]
    torch.testing.assert_close(out["item"], torch.tanh(x @ lin.weight.T + lin.bias))
    lin = proj.linears["user"]
    torch.testing.assert_close(out["user"], torch.tanh(proj.embeddings["user"].weight @ lin.weight.T + lin.bias))
    # explicit features override the graph's field
    other = torch.zeros(graph.num_nodes("item"), 5)
    assert not torch.allclose(proj(graph, {"item": other})["item"], out["item"])


def test_subgraph_and_block_use_parent_ids(graph):
    proj = make_projection(graph)
    full = proj(graph)
    keep = {"user": torch.tensor([4, 1]), "item": torch.tensor([0, 7, 3]), "tag": torch.tensor([2])}
    sub = dgl.node_subgraph(graph, keep)
    out = proj(sub)
    for t, ids in keep.items():
        # node_subgraph keeps the order the ids were given in; NID maps back to the parent
        assert torch.equal(sub.nodes[t].data[dgl.NID], ids)
        torch.testing.assert_close(out[t], full[t][sub.nodes[t].data[dgl.NID]])
    block = dgl.to_block(graph, dst_nodes={"user": torch.tensor([0, 2])})
    out = proj(block)
    for t in block.srctypes:
        torch.testing.assert_close(out[t], full[t][block.srcnodes[t].data[dgl.NID]])
    ids = {"user": torch.tensor([6, 5])}
    out = proj(dgl.node_subgraph(graph, {"user": torch.tensor([0, 1])}), node_ids=ids)
    torch.testing.assert_close(out["user"], full["user"][ids["user"]])


def test_every_type_needs_an_input(graph):
    with pytest.raises(ValueError):
        NodeTypeProjection(graph.ntypes, {"user": 3}, {"item": 5}, 4)
    with pytest.raises(ValueError):
        NodeTypeProjection(["user"], {"user": 3, "movie": 2}, None, 4)


def test_reset_parameters_is_reproducible(graph):
    """As DGL's layer tests: reset_parameters really re-draws every parameter (changed from the
    first draw), and from one seed it draws the same values again."""
    a = make_projection(graph)
    before = {n: p.detach().clone() for n, p in a.named_parameters()}
    torch.manual_seed(1)
    a.reset_parameters()
    for name, p in a.named_parameters():
        assert not torch.equal(p, before[name]), f"{name} was not re-initialised"
    after = {n: p.detach().clone() for n, p in a.named_parameters()}
    torch.manual_seed(1)
    a.reset_parameters()
    for name, p in a.named_parameters():
        torch.testing.assert_close(p, after[name], msg=name)
