"""A feature of the wrong size given to a layer from an outside DGL model is one ValueError naming
the layer, the node type, and the expected and found size (not torch's bare shape mismatch)."""
import dgl
import pytest
import torch

from hetrec.nn import HGTLayer, LightHGTLayer, MMoE, NodeTypeProjection


@pytest.fixture
def graph():
    return dgl.heterograph({("author", "writes", "paper"): ([0, 1, 2], [0, 0, 1]),
                            ("paper", "written_by", "author"): ([0, 0, 1], [0, 1, 2]),
                            ("paper", "in", "venue"): ([0, 1], [0, 0]),
                            ("venue", "has", "paper"): ([0, 0], [0, 1])})


def features(g, size, wrong=None, wrong_size=5):
    return {t: torch.randn(g.num_nodes(t), wrong_size if t == wrong else size) for t in g.ntypes}


@pytest.mark.parametrize("make", [
    lambda g: LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2),
    lambda g: LightHGTLayer(8, g.ntypes, g.canonical_etypes, num_heads=2, attention="edge"),
    lambda g: HGTLayer(8, 8, g.ntypes, g.canonical_etypes, num_heads=2),
])
def test_graph_layers_name_the_type_and_sizes(graph, make):
    layer = make(graph)
    name = type(layer).__name__
    assert set(layer(graph, features(graph, 8))) >= {"author", "paper"}  # right sizes work
    with pytest.raises(ValueError, match=rf"{name}: node type 'venue': expected features of size 8 .*found shape \(1, 5\)"):
        layer(graph, features(graph, 8, wrong="venue"))
    short = features(graph, 8)
    short["author"] = short["author"][:2]
    with pytest.raises(ValueError, match=rf"{name}: node type 'author': expected a row for each of its 3 nodes, found 2"):
        layer(graph, short)
    block = dgl.to_block(graph, {t: torch.arange(graph.num_nodes(t)) for t in graph.ntypes})
    with pytest.raises(ValueError, match=rf"{name}: node type 'paper': expected features of size 8"):
        layer(block, features(graph, 8, wrong="paper", wrong_size=16))


def test_projection_names_the_type_and_sizes(graph):
    proj = NodeTypeProjection(graph.ntypes, {"author": 3, "venue": 1}, {"paper": 6}, 8)
    ok = proj(graph, feats={"paper": torch.randn(2, 6)})
    assert ok["paper"].shape == (2, 8)
    with pytest.raises(ValueError, match=r"NodeTypeProjection: node type 'paper': expected features of size 6 .*found shape \(2, 7\)"):
        proj(graph, feats={"paper": torch.randn(2, 7)})


def test_mmoe_names_the_type_and_sizes():
    mmoe = MMoE(8, 8, 2, ["a", "b"], ntypes=["user", "item"])
    assert mmoe({"user": torch.randn(4, 8)})["a"]["user"].shape == (4, 8)
    with pytest.raises(ValueError, match=r"MMoE: node type 'item': expected features of size 8 .*found shape \(3, 4\)"):
        mmoe({"item": torch.randn(3, 4)})
