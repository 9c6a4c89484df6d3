"""The synthetic fold that the distributed training tests share, partitioned into two parts
(module-scoped: each test module partitions it once)."""
import pytest

from hetrec.data import kfold_split, synthetic


@pytest.fixture(scope="module")
def synthetic_graph():
    # a milder popularity law than the default, so that personalisation has something to beat
    return synthetic(num_users=100, num_items=150, num_interactions=1500, num_tags=10, exponent=0.5, seed=1)


@pytest.fixture(scope="module")
def synthetic_splits(synthetic_graph):
    return kfold_split(synthetic_graph, k=5, seed=0)


@pytest.fixture(scope="module")
def two_parts(synthetic_splits, tmp_path_factory):
    """Fold 0's training graph in 2 random partitions."""
    from hetrec.distributed import partition_fold

    out = tmp_path_factory.mktemp("dist") / "parts"
    partition_fold(synthetic_splits, 0, 2, out, method="random", seed=0)
    return out


@pytest.fixture(scope="module")
def most_pop_ndcg10(synthetic_splits) -> float:
    """MostPop's test NDCG@10 on fold 0 (training and validation items excluded)."""
    import numpy as np

    from hetrec.eval import topn_metrics

    split = synthetic_splits[0]
    popularity = np.asarray(split.train.sum(0)).ravel().astype(np.float32)
    return topn_metrics(scores=np.tile(popularity, (split.train.shape[0], 1)), exclude=[split.train, split.val],
                        test=split.test, ns=(10,))["NDCG@10"]
