"""benchmarks/pinsage_parts.py: the parts of pinsage-ui's representation add up to its scores, and
the whole representation scores as the trainer's own evaluation."""
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench(load_benchmark):
    return load_benchmark("pinsage_parts", "pinsage_parts")


def test_the_parts_of_a_trained_model_add_up_and_the_whole_scores_as_the_trainer(bench):
    from hetrec.data import kfold_split, synthetic
    from hetrec.models import create_model
    from hetrec.train import TrainConfig, Trainer
    from hetrec.train.trainer import evaluate

    g = synthetic(num_users=60, num_items=80, num_interactions=1500, seed=3)
    split = kfold_split(g, k=5, seed=0)[0]
    model = create_model("pinsage-ui", embedding_size=8, num_layers=2, batch_size=256)
    Trainer(TrainConfig(epochs=3, lr=1e-2, seed=0, progress=False)).fit(model, split, evaluate_test=False)
    model.eval()
    with torch.no_grad():
        user, item = model.embeddings()
    blocks = bench.parts(user, item, 8, 2)
    assert set(blocks) == {"all layers", "layer 0 (ID embeddings)", "layers 1..K", "layer 1", "layer 2"}
    full = (user @ item.T).numpy()
    score = {name: (u @ i.T).numpy() for name, (u, i) in blocks.items()}
    ids, graph = score["layer 0 (ID embeddings)"], score["layers 1..K"]
    np.testing.assert_allclose(ids + score["layer 1"] + score["layer 2"], full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(graph + ids, full, rtol=1e-5, atol=1e-6)
    # the normalised ReLU layers give non-negative terms of at most 1 each
    assert graph.min() >= -1e-6 and graph.max() <= 2 + 1e-5

    got = bench.score_parts(model, split)
    want = evaluate(model, [split.train, split.val], split.test, (10,))
    assert got["all layers"]["test"]["NDCG@10"] == pytest.approx(want["NDCG@10"])
    assert got["all layers"]["val"]["NDCG@10"] == pytest.approx(evaluate(model, split.train, split.val, (10,))["NDCG@10"])
    assert got["layer 0 (ID embeddings)"]["test"]["NDCG@10"] != got["all layers"]["test"]["NDCG@10"]


def test_a_model_that_does_not_concatenate_is_refused(bench):
    from hetrec.data import kfold_split, synthetic
    from hetrec.models import create_model

    split = kfold_split(synthetic(num_users=30, num_items=40, num_interactions=400, seed=1), k=5, seed=0)[0]
    model = create_model("pinsage-ui", embedding_size=4, combine="last")
    model.setup(split)
    with pytest.raises(ValueError, match="combine='concat'"):
        bench.score_parts(model, split)
